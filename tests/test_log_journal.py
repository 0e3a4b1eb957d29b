"""A meter's loggers saved as a document and a journal of what was appended (meter_sim/log_journal.py): after each
save, reading them back gives exactly `Meter.logs_state()`, across restarts, reconfigurations, cleared loggers,
rings that wrap, a crash at the worst moment and a line cut short; and a save of an old meter writes a line of a
few hundred bytes, not its 3 MB."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.log_journal import GENERATION, LogJournal
from meter_sim.meter import Meter
from meter_sim.persistence import MeterStore
from meter_sim.warp import warp_to

T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def journal(folder: Path) -> LogJournal:
    return LogJournal(MeterStore(folder / "m.logs.json"))


def save(j: LogJournal, meter: Meter) -> tuple[bool, int]:
    """Take and write a save: (the document written whole?, the line's bytes)."""
    taken = j.take(meter)
    j.save(taken)
    return taken.document is not None, len(taken.line or b"")


def read_back(folder: Path) -> dict[str, Any] | None:
    return journal(folder).load()


def test_saves_read_back_as_the_meter_s_loggers(tmp_path: Path) -> None:
    """Hours of a meter's life with saves at random moments, events logged (one logger wrapping round), a logger
    cleared and the load profile's period changed: each read-back equals logs_state, and the document is written
    whole only when appends cannot say what changed."""
    rng = random.Random(7)
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    j = journal(tmp_path)
    wholes = []
    t = T0
    for step in range(60):
        t += rng.choice([1, 60, 900, 3600])
        meter.advance_to(t)
        if step % 7 == 3:
            for _ in range(rng.randint(1, 40)):  # the tariff logger holds few: it wraps
                meter.logs.log("tariff", meter.t, "switch", to=rng.randint(1, 4))
        if step == 20:
            meter.logs["disconnect"].clear()
        if step == 40:
            meter.load_profile.set_period(300)
        if rng.random() < 0.6:
            whole, _ = save(j, meter)
            wholes.append((step, whole))
            assert read_back(tmp_path) == as_json(meter.logs_state()), step
    whole_at = [step for step, whole in wholes if whole]
    assert whole_at[0] == wholes[0][0]  # the first save: no document yet
    assert len(whole_at) <= 3, whole_at  # then only after the clear and the new period
    assert any(step >= 40 for step in whole_at) and any(20 <= step < 40 for step in whole_at)


def test_a_restarted_meter_goes_on_appending(tmp_path: Path) -> None:
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    meter.advance_to(T0 + 6 * 3600)
    j = journal(tmp_path)
    save(j, meter)
    meter.advance_to(T0 + 8 * 3600)
    assert save(j, meter)[0] is False
    # A new process: the meter restored from document + journal, its journal told so.
    j2 = journal(tmp_path)
    logs = j2.load()
    again = Meter("m", MeterSimSettings(), SteppedClock(meter.t), meter.to_state(), logs=logs)
    j2.loaded(again, logs)
    assert as_json(again.logs_state()) == as_json(meter.logs_state())
    again.advance_to(meter.t + 3 * 3600)
    whole, size = save(j2, again)
    assert not whole and 0 < size < 20_000  # three hours of entries; the document is ~100 kB
    assert read_back(tmp_path) == as_json(again.logs_state())


def saved_with_an_older_capacity(folder: Path, seconds: int) -> Meter:
    """A meter run `seconds` and saved, its document then edited to a capacity an older version had."""
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    meter.advance_to(T0 + seconds)
    save(journal(folder), meter)
    doc = read_back(folder)
    assert doc is not None
    doc["events"]["tariff"]["capacity"] += 1
    doc[GENERATION] = 1
    MeterStore(folder / "m.logs.json").save(doc)
    return meter


def test_an_old_document_is_written_whole_once(tmp_path: Path) -> None:
    """A document whose loggers are not what the meter has (here: a capacity an older version had) is not
    appended to: the first save writes it whole."""
    meter = saved_with_an_older_capacity(tmp_path, 3600)
    j2 = journal(tmp_path)
    logs = j2.load()
    again = Meter("m", MeterSimSettings(), SteppedClock(meter.t), meter.to_state(), logs=logs)
    j2.loaded(again, logs)
    again.advance_to(meter.t + 3600)
    assert save(j2, again)[0] is True
    assert read_back(tmp_path) == as_json(again.logs_state())


def test_a_document_of_other_loggers_is_not_left_on_disk(tmp_path: Path) -> None:
    """Loaded with `keep` (a fleet member leaves its older entries on disk), a document whose loggers are not the
    meter's is refused by `loaded`: the meter is built again from it whole, and no entry is lost."""
    meter = saved_with_an_older_capacity(tmp_path, 6 * 3600)
    j2 = journal(tmp_path)
    logs = j2.load(keep=2)
    assert logs is not None and len(logs["load_profile"]["log"]["entries"]) == 2
    trimmed = Meter("m", MeterSimSettings(), SteppedClock(meter.t), meter.to_state(), logs=logs)
    assert j2.loaded(trimmed, logs) is False
    logs = j2.load()
    again = Meter("m", MeterSimSettings(), SteppedClock(meter.t), meter.to_state(), logs=logs)
    assert j2.loaded(again, logs) is True
    assert len(again.load_profile) == len(meter.load_profile) == 24
    assert save(j2, again)[0] is True
    assert read_back(tmp_path) == as_json(again.logs_state())


def test_a_document_without_a_journal_leaves_its_older_entries_on_disk_too(tmp_path: Path) -> None:
    """`load(keep)` of a document alone (its journal never written, or removed: files copied from another meter)
    gives the newest entries, and the meter built from them reads the rest back."""
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    meter.advance_to(T0 + 6 * 3600)
    j = journal(tmp_path)
    save(j, meter)
    (tmp_path / "m.logs.journal").unlink()
    j2 = journal(tmp_path)
    logs = j2.load(keep=2)
    assert logs is not None and len(logs["load_profile"]["log"]["entries"]) == 2
    again = Meter("m", MeterSimSettings(), SteppedClock(meter.t), meter.to_state(), logs=logs)
    assert j2.loaded(again, logs) is True
    assert again.load_profile.log.in_memory == 2 and len(again.load_profile) == 24
    assert as_json(again.logs_state()) == as_json(meter.logs_state())


@pytest.mark.parametrize("keep", [None, 2])
def test_a_meter_restored_after_a_gap_goes_on_appending(tmp_path: Path, keep: int | None) -> None:
    """A meter restored later than it was saved (the gateway was down) marks a power failure in its load profile's
    status, a volatile field: its loggers are still the document's. `loaded` takes them (with `keep`, a fleet member
    then holds only its newest entries; it was built whole, so a restarted year-old fleet needed 12 GB), and the next
    save carries the status in a line."""
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    meter.advance_to(T0 + 6 * 3600 + 300)
    save(journal(tmp_path), meter)
    j2 = journal(tmp_path)
    logs = j2.load(keep)
    again = Meter("m", MeterSimSettings(), SteppedClock(meter.t + 600), meter.to_state(), logs=logs)
    assert again.logs_fields()[("lp_status",)] != meter.logs_fields()[("lp_status",)]  # the gap: a power failure
    assert j2.loaded(again, logs) is True
    assert len(again.load_profile) == len(meter.load_profile) == 24
    if keep is not None:
        assert again.load_profile.log.in_memory == keep
    whole, size = save(j2, again)
    assert not whole and size > 0
    assert read_back(tmp_path) == as_json(again.logs_state())


def test_a_crash_between_the_document_and_the_journal_adds_nothing_twice(tmp_path: Path) -> None:
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    j = journal(tmp_path)
    meter.advance_to(T0 + 3600)
    save(j, meter)
    meter.advance_to(T0 + 2 * 3600)
    save(j, meter)  # a line: four load-profile entries
    journal_before = j.path.read_bytes()
    assert journal_before
    meter.logs["disconnect"].clear()  # the next save is whole ...
    meter.advance_to(T0 + 3 * 3600)
    assert save(j, meter)[0] is True
    j.path.write_bytes(journal_before)  # ... and the process died before the journal was emptied
    assert read_back(tmp_path) == as_json(meter.logs_state())


def test_a_line_cut_short_is_skipped_and_a_broken_one_ends_the_replay(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    j = journal(tmp_path)
    meter.advance_to(T0 + 3600)
    save(j, meter)
    meter.advance_to(T0 + 2 * 3600)
    save(j, meter)
    complete = as_json(meter.logs_state())
    meter.advance_to(T0 + 3 * 3600)
    taken = j.take(meter)
    assert taken.line is not None
    with open(j.path, "ab") as fh:
        fh.write(taken.line[: len(taken.line) // 2])  # the power failed mid-write
    j2 = journal(tmp_path)
    logs = j2.load()
    assert logs == complete
    assert "unreadable" not in caplog.text
    again = Meter("m", MeterSimSettings(), SteppedClock(meter.t), meter.to_state(), logs=logs)
    j2.loaded(again, logs)
    again.advance_to(meter.t + 3600)
    assert save(j2, again)[0] is False  # appended after the cut line, which load dropped
    assert read_back(tmp_path) == as_json(again.logs_state())
    # A line that cannot be read ends the replay, and the next save writes the document whole.
    j.path.write_bytes(b"{broken\n" + j.path.read_bytes())
    j3 = journal(tmp_path)
    logs = j3.load()
    assert logs is not None and logs != as_json(again.logs_state())
    assert "line 1 unreadable" in caplog.text
    j3.loaded(again, logs)
    assert save(j3, again)[0] is True
    assert read_back(tmp_path) == as_json(again.logs_state())


def test_the_journal_knows_every_field_of_the_document() -> None:
    """Every part of logs_state is a ring's `capacity`/`entries` or a field of `logs_fields`: a field added to the
    document without being added there fails here (the journal would not carry its changes)."""
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    state = meter.logs_state()
    rings = meter.log_rings()
    places: set[tuple[str, ...]] = set()

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if path in rings:
            assert set(node) == {"capacity", "entries"}, path
            return
        if isinstance(node, dict) and path[:1] != () and path not in meter.logs_fields():
            for key, value in node.items():
                walk(value, (*path, key))
            return
        if isinstance(node, dict) and not path:
            for key, value in node.items():
                walk(value, (key,))
            return
        places.add(path)

    walk(state, ())
    assert places == set(meter.logs_fields())


def test_a_year_old_meter_saves_a_period_in_a_line(tmp_path: Path) -> None:
    """The case the journal is for: ~35,000 entries (3 MB) on disk, and a period end's save is a short line."""
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    warp_to(meter, T0 + 365 * 86_400)
    j = journal(tmp_path)
    assert save(j, meter)[0] is True
    assert (tmp_path / "m.logs.json").stat().st_size > 2_000_000
    meter.advance_to(meter.t + 900)
    whole, size = save(j, meter)
    assert not whole and 0 < size < 2_000
    assert read_back(tmp_path) == as_json(meter.logs_state())


def test_the_gateway_s_simulated_meter_saves_its_loggers_through_the_journal(tmp_path: Path) -> None:
    """SimulatedSource writes the document once, then lines; a restart restores every logger from them."""
    import asyncio

    from gateway.config import load_settings
    from gateway.sources.simulated import SimulatedSource

    cfg = load_settings(None, data_dir=tmp_path, meters=[{"id": "m1", "start": "2026-03-01T00:00:00Z",
                                                          "speed": 1.0}])

    async def run() -> None:
        source = SimulatedSource(cfg.meters[0], tmp_path, tick=None)
        meter = source.meter
        meter.advance_to(meter.t + 3 * 3600)
        await source._save()
        document = (tmp_path / "m1.logs.json").read_bytes()
        meter.advance_to(meter.t + 3 * 3600)
        meter.logs.log("tariff", meter.t, "switch", to=2)
        await source._save()
        assert (tmp_path / "m1.logs.json").read_bytes() == document  # not written again ...
        assert (tmp_path / "m1.logs.journal").stat().st_size > 0  # ... the new entries went to the journal
        expected = as_json(meter.logs_state())
        again = SimulatedSource(cfg.meters[0], tmp_path, tick=None)
        assert as_json(again.meter.logs_state()) == expected
        again.meter.advance_to(again.meter.t + 900)
        await again._save()
        assert (tmp_path / "m1.logs.json").read_bytes() == document  # a restart goes on appending
        assert LogJournal(MeterStore(tmp_path / "m1.logs.json")).load() == as_json(again.meter.logs_state())

    asyncio.run(run())


def test_a_fleet_member_restarted_after_a_gap_leaves_its_older_entries_on_disk(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway down for ten minutes, a real-time fleet member starts again from its newest entries only (it was
    built whole: the status word of the gap made its journal refuse the document), and reads the rest back."""
    import asyncio
    import time

    from gateway.config import load_settings
    from gateway.sources.simulated import SimulatedSource

    cfg = load_settings(None, data_dir=tmp_path, meters=[{"id": "m1", "speed": 1.0}])

    async def run() -> None:
        source = SimulatedSource(cfg.meters[0], tmp_path, tick=None, log_entries_in_memory=1)
        source.meter.advance_to(source.meter.t + 3 * 3600)
        await source._save()
        expected = as_json(source.meter.logs_state())
        later = source.meter.t + 600
        monkeypatch.setattr(time, "time", lambda: later)
        again = SimulatedSource(cfg.meters[0], tmp_path, tick=None, log_entries_in_memory=1)
        assert again.meter.t >= later
        ring = again.meter.load_profile.log
        assert ring.in_memory == 1 and len(ring) == len(source.meter.load_profile.log) == 12
        assert as_json(again.meter.logs_state())["load_profile"]["log"] == expected["load_profile"]["log"]

    asyncio.run(run())


def test_packed_loggers_save_what_their_entries_encode_to() -> None:
    """The load profile and analysis logger write their saved form straight from their packed rows: the same JSON,
    key for key, as encoding each entry with the logger's codec (an analysis entry with a value that is not a
    float, kept unpacked, included)."""
    meter = Meter("m", MeterSimSettings(), SteppedClock(T0))
    warp_to(meter, T0 + 2 * 86_400)
    entry = meter.analysis.last()
    assert entry is not None
    meter.analysis.log.append(type(entry)(entry.t + 900, {**entry.values, "p_plus": None}))
    for ring in (meter.load_profile.log, meter.analysis.log):
        assert type(ring._buf).__name__ == "PackedRows"
        assert json.dumps(ring.to_state()["entries"]) == json.dumps([ring.encode(e) for e in ring.entries()])
    assert len(meter.analysis.log._buf._odd) == 1  # type: ignore[attr-defined]


def test_a_fleet_member_s_loggers_spill_to_disk_and_read_back_the_same(tmp_path: Path) -> None:
    """A member keeping 8 entries a logger in memory (`log_entries_in_memory`) against the same meter keeping them
    all, over days of saves, a reconfiguration that resizes the load profile, a save forced whole (after a failed
    one) and a restart: the same loggers in every way they are read (saved state, entries, queries, newest), the
    memory bounded after each save, and what is on disk the same."""
    import asyncio

    from gateway.config import load_settings
    from gateway.sources.simulated import SimulatedSource

    cfg = load_settings(None, data_dir=tmp_path, meters=[{"id": "m1", "start": "2026-03-01T00:00:00Z",
                                                          "speed": 1.0, "seed": 7}])
    (tmp_path / "spilled").mkdir()
    (tmp_path / "whole").mkdir()

    def same(spilled: SimulatedSource, whole: SimulatedSource) -> None:
        a, b = spilled.meter, whole.meter
        assert as_json(a.logs_state()) == as_json(b.logs_state())
        assert a.load_profile.entries() == b.load_profile.entries()
        assert a.analysis.entries() == b.analysis.entries()
        for start, offset in ((None, 0), (T0 + 86_400, 0), (T0 + 86_400, 50), (a.t - 7200, 0)):
            assert a.load_profile.query(start, None, offset, 20) == b.load_profile.query(start, None, offset, 20)
        assert a.load_profile.last() == b.load_profile.last()

    def on_disk(folder: Path) -> Any:
        return LogJournal(MeterStore(folder / "m1.logs.json")).load()

    async def run() -> None:
        spilled = SimulatedSource(cfg.meters[0], tmp_path / "spilled", tick=None, log_entries_in_memory=8)
        whole = SimulatedSource(cfg.meters[0], tmp_path / "whole", tick=None)
        for hours in (5, 7, 30, 2, 49):
            for source in (spilled, whole):
                source.meter.advance_to(source.meter.t + hours * 3600)
                await source._save()
            assert spilled.meter.load_profile.log.in_memory < 2 * 8
            assert len(spilled.meter.load_profile) == len(whole.meter.load_profile) > 8
            same(spilled, whole)
        assert on_disk(tmp_path / "spilled") == on_disk(tmp_path / "whole")
        spilled.log_journal.forget()  # as after a failed save: the next one writes the document whole
        for source in (spilled, whole):
            source.meter.load_profile.set_period(1800)  # a resize: the entries on disk come back into memory
            source.meter.advance_to(source.meter.t + 5 * 3600)
            await source._save()
        same(spilled, whole)
        assert on_disk(tmp_path / "spilled") == on_disk(tmp_path / "whole")
        again = SimulatedSource(cfg.meters[0], tmp_path / "spilled", tick=None, log_entries_in_memory=8)
        assert again.meter.load_profile.log.in_memory <= 8  # spilled from the start
        whole = SimulatedSource(cfg.meters[0], tmp_path / "whole", tick=None)  # restarted too
        same(again, whole)
        for source in (again, whole):
            source.meter.advance_to(source.meter.t + 26 * 3600)
            await source._save()
        same(again, whole)
        assert on_disk(tmp_path / "spilled") == on_disk(tmp_path / "whole")

    asyncio.run(run())
