"""A fleet's loggers read by worker processes at start-up (gateway/fleet_logs.py) give the same members as the
same files read in-process (the reference: `read_logs` in meter_sim/log_journal.py), a journal's broken and
cut-short lines included, and a file that cannot be read stops start-up the same way."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway import fleet_logs
from gateway.config import Settings, load_settings
from gateway.fleet_logs import read_fleet_logs
from gateway.service import FLEET_LOG_ENTRIES_IN_MEMORY, fleet_sources
from gateway.sources.simulated import SimulatedSource, logs_path
from meter_sim.log_journal import journal_path
from meter_sim.persistence import PersistenceError
from meter_sim.warp import warp_to

T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def settings_in(folder: Path) -> Settings:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(folder / "data"),
                                    "fleet": {"count": 3, "id_prefix": "f", "seed": 5}}))
    return load_settings(path)


def logs_paths(settings: Settings) -> list[Path]:
    assert settings.fleet is not None
    return [logs_path(settings.data_dir, m) for m in settings.fleet.member_ids()]


def aged_fleet(settings: Settings) -> float:
    """Each member four days old with its loggers saved whole, then two hours more saved as a journal line; the
    second member's journal ends in a line cut short, the third's has a line that cannot be read. Returns the
    time to start again at."""
    sources = fleet_sources(settings)
    assert len(sources) == 3

    async def save(source: SimulatedSource) -> None:
        await source._save()

    for source in sources:
        assert isinstance(source, SimulatedSource)
        warp_to(source.meter, source.meter.t + 4 * 86_400)
        asyncio.run(save(source))
        source.meter.advance_to(source.meter.t + 7_200)
        asyncio.run(save(source))
    second, third = (journal_path(path) for path in logs_paths(settings)[1:])
    assert second.stat().st_size > 0 and third.stat().st_size > 0  # the two hours went as lines
    with open(second, "ab") as fh:
        fh.write(b'{"g":1,"fie')
    with open(third, "ab") as fh:
        fh.write(b"not json\n")
    return max(s.meter.t for s in sources) + 60.0  # type: ignore[attr-defined]


def test_a_fleet_read_by_worker_processes_is_the_fleet_read_in_process(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    here = settings_in(tmp_path / "here")
    later = aged_fleet(here)
    there = settings_in(tmp_path / "there")
    shutil.copytree(here.data_dir, there.data_dir)
    monkeypatch.setattr(time, "time", lambda: later)  # both fleets start at the same moment

    # Small logs are read in-process: no worker is started for them.
    assert list(read_fleet_logs(logs_paths(here), FLEET_LOG_ENTRIES_IN_MEMORY)) == [None] * 3
    caplog.set_level(logging.WARNING)
    in_process = fleet_sources(here)
    said_here = [r.getMessage() for r in caplog.records]
    caplog.clear()
    monkeypatch.setattr(fleet_logs, "WORKERS_FROM_BYTES", 0)
    read = list(read_fleet_logs(logs_paths(there), FLEET_LOG_ENTRIES_IN_MEMORY))
    assert all(r is not None and r.document is not None for r in read)
    caplog.clear()
    by_workers = fleet_sources(there)
    said_there = [r.getMessage() for r in caplog.records]

    # The broken line was said, in this process, either way.
    assert any("line 2 unreadable" in m for m in said_here)
    assert [m.replace(str(there.data_dir), "D") for m in said_there] == \
        [m.replace(str(here.data_dir), "D") for m in said_here]
    for a, b in zip(in_process, by_workers, strict=True):
        assert isinstance(a, SimulatedSource) and isinstance(b, SimulatedSource)
        assert as_json(a.meter.to_state()) == as_json(b.meter.to_state())
        assert as_json(a.meter.logs_state()) == as_json(b.meter.logs_state())
        assert a.meter.load_profile.log.in_memory == b.meter.load_profile.log.in_memory
        assert a.log_journal._rewrite == b.log_journal._rewrite
    assert in_process[0].meter.load_profile.log.in_memory == 1  # type: ignore[attr-defined]
    assert len(in_process[0].meter.load_profile.log) > 300  # type: ignore[attr-defined]  # the rest on disk
    assert not in_process[0].log_journal._rewrite and in_process[2].log_journal._rewrite  # type: ignore[attr-defined]
    # The line cut short was cut from the file either way.
    for a, b in zip(logs_paths(here), logs_paths(there), strict=True):
        assert journal_path(a).read_bytes() == journal_path(b).read_bytes()
    assert not journal_path(logs_paths(there)[1]).read_bytes().endswith(b'"fie')


def test_loggers_that_cannot_be_read_stop_start_up_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = settings_in(tmp_path / "here")
    aged_fleet(here)
    document = logs_paths(here)[1]
    document.write_text("{not json")
    document.with_suffix(document.suffix + ".bak").unlink(missing_ok=True)
    with pytest.raises(PersistenceError, match=r"f2\.logs\.json") as in_process:
        fleet_sources(here)
    monkeypatch.setattr(fleet_logs, "WORKERS_FROM_BYTES", 0)
    with pytest.raises(PersistenceError, match=r"f2\.logs\.json") as by_workers:
        fleet_sources(here)
    assert str(by_workers.value) == str(in_process.value)


def test_without_worker_processes_the_loggers_are_read_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Where no process pool can be made (no /dev/shm for its locks), the members' loggers are read in-process, with
    a warning that says why."""
    import concurrent.futures

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError("[Errno 38] Function not implemented")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", refused)
    paths = [logs_path(tmp_path, f"m{n}") for n in range(3)]
    caplog.set_level(logging.WARNING)
    assert list(read_fleet_logs(paths, 1, workers=2)) == [None] * 3
    assert "no worker processes: [Errno 38]" in caplog.text
