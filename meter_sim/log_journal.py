"""A meter's loggers on disk: a full document, then one JSON line per save with only what changed since.

Why: the loggers of a meter that has run for a year hold ~35,000 entries (3 MB of JSON). Written whole at every
load-profile period end, as `MeterStore` writes the registers, a save cost ~170 ms of the event loop to snapshot
and ~50 ms more holding the interpreter to encode, every 15 minutes per meter: a fleet of such meters could not
run at all, and a Raspberry Pi's SD card would take 3 MB per meter per quarter hour. Between period ends nearly
everything a save says is entries appended to the loggers' rings; the journal carries just those.

On disk, beside the document (`<id>.logs.json`, written by `MeterStore`: atomic, fsynced, a backup kept):
`<id>.logs.journal`, lines of `{"g": generation, "fields": {...}, "add": {ring: [entries]}}`, each fsynced. The
document says its generation (`journal_generation`); a line of another generation is from before the document
was last written whole and is skipped, so a crash between writing a document and emptying the journal never
adds an entry twice. A line cut short by a crash is the last line: `load` drops it. A line that cannot be read
ends the replay (with a warning), and the next save writes the document whole.

The document is written whole (and the journal emptied) when a save cannot be said as appends — a logger
cleared, resized or replaced (reconfiguration), more appended than a ring holds, a field of the document other
than those in `Meter.logs_fields` changed — and when the journal has grown past `JOURNAL_MAX_BYTES`.
`tests/test_log_journal.py` holds document + journal to `Meter.logs_state()` save after save.

What is on disk is what the meter's rings may `spill` (`LogJournal.spill`): after a save, a fleet member keeps only
its loggers' newest entries in memory and reads the older ones back from here (`archived`) when something asks
for all of them — a `get {"log"}`, the document written whole. The journal tracks which of its saves is durable
(the rings' marks of that save, its generation, the journal's length then), and `archived` reads exactly that,
under a lock the writing thread holds: never a line being written, never a document of a save not yet known.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meter_sim.persistence import MeterStore

if TYPE_CHECKING:
    from meter_sim.loggers import RingLog
    from meter_sim.meter import Meter

log = logging.getLogger(__name__)

JOURNAL_MAX_BYTES = 1_000_000  # then the document is written whole: ~a year of a load profile's entries
GENERATION = "journal_generation"


@dataclass(frozen=True, slots=True)
class LogsSave:
    """What one save writes, taken on the event loop (`LogJournal.take`) and written in a worker thread."""

    document: dict[str, Any] | None  # the whole document, or None: only `line`
    line: bytes | None  # a journal line, encoded
    generation: int  # the document's generation, that of the line
    marks: dict[tuple[str, ...], tuple[RingLog[Any], tuple[int, int]]]  # the rings' marks at the take


@dataclass(frozen=True, slots=True)
class _OnDisk:
    """What the durable files say: the generation of the document, the length of the journal's lines of it, and
    the rings' marks at the take they were written from."""

    generation: int
    journal_bytes: int
    marks: dict[tuple[str, ...], tuple[RingLog[Any], tuple[int, int]]]


class LogJournal:
    def __init__(self, store: MeterStore) -> None:
        self.store = store
        self.path = journal_path(store.path)
        self._generation = 0
        self._marks: dict[tuple[str, ...], tuple[RingLog[Any], tuple[int, int]]] | None = None  # at the last take
        self._fields: dict[tuple[str, ...], Any] = {}
        self._journal_bytes = 0
        self._rewrite = False  # `load` met a line it could not read or of another generation
        self._lock = threading.Lock()  # held while the files are written (a worker thread) or read back (`archived`)
        self._on_disk: _OnDisk | None = None  # None: what is on disk is not known to match a state of the rings
        self._left_on_disk: dict[tuple[str, ...], int] = {}  # by `load(keep)`: older entries not in the document
        self._read_back: tuple[_OnDisk, dict[str, Any]] | None = None  # while `take` writes the document whole

    # --- loading ------------------------------------------------------------------------------------------------
    def load(self, keep: int | None = None, read: ReadLogs | None = None) -> dict[str, Any] | None:
        """The document with the journal's lines of its generation applied (None: never saved). Then `loaded`.
        `keep`: each ring gives only its newest `keep` entries; the rest stay on disk, for the meter's rings to
        read back (`loaded` says whether they can: if not, `load` again whole). `read`: what `read_logs` found for
        this journal with the same `keep`, read already (by another process: gateway/fleet_logs.py)."""
        if self._rewrite:
            keep = None  # nothing may stay on disk only: the next save writes the document whole
        if read is None:
            read = read_logs(self.store.path, keep)
        elif read.keep != keep or read.path != self.store.path:
            raise ValueError(f"{read.path} read with keep={read.keep}, not {self.store.path} with keep={keep}")
        for warning in read.warnings:
            log.warning("%s", warning)
        self._left_on_disk = read.left_on_disk
        if read.document is None:
            return None
        self._generation = read.generation
        if read.rewrite:
            self._rewrite = True  # the next save writes the document whole: lines after a broken one would be lost
        return read.document

    def loaded(self, meter: Meter, document: dict[str, Any] | None) -> bool:
        """The meter was restored from `document` (`load`'s): later saves go on appending to the journal, unless
        the meter's loggers are not what the document says (another capacity, a logger it lacks, other fields:
        a document of an older version), when the first save writes the document whole. Without this, every meter
        of a fleet would write its loggers whole once after each start (~0.2 s each, a year old).

        False when the document was loaded with `keep` and the meter's loggers are not what it says: the older
        entries cannot be left on disk, so build the meter again from a whole `load`."""
        left, self._left_on_disk = self._left_on_disk, {}
        if document is None or self._rewrite:
            return True
        rings, fields = meter.log_rings(), meter.logs_fields()
        try:
            same = all(_at(document, list(place))["capacity"] == ring.capacity for place, ring in rings.items())
            on_disk = {place: _value(document, place) for place in fields}
            # A volatile field may differ and the loggers still be the document's: a meter restored after a gap
            # marks a power failure in its load profile's status. Refused, every member of a restarted fleet was
            # built whole (a year old: 1.2 MB each, 12 GB for 10,000).
            same = same and all(on_disk[place] == value for place, value in fields.items() if place not in VOLATILE)
            same = same and all(place in rings for place in left)
        except (KeyError, TypeError):
            same = False
        if not same:
            return not any(left.values())
        for place, count in left.items():
            rings[place].spilled_before(count, partial(self.archived, place))
        self._marks = {place: (ring, ring.mark()) for place, ring in rings.items()}
        self._fields = on_disk  # what is on disk: a volatile field that differs goes in the next line
        try:
            self._journal_bytes = self.path.stat().st_size
        except FileNotFoundError:
            self._journal_bytes = 0
        self._on_disk = _OnDisk(self._generation, self._journal_bytes, self._marks)
        return True

    # --- saving -------------------------------------------------------------------------------------------------
    def take(self, meter: Meter) -> LogsSave:
        """What to write now (cheap on the event loop unless the document is due whole)."""
        rings = meter.log_rings()
        fields = meter.logs_fields()
        marks = self._marks
        added: dict[str, list[dict[str, Any]]] = {}
        whole = marks is None or marks.keys() != rings.keys() or self._journal_bytes > JOURNAL_MAX_BYTES
        changed = {}
        if not whole:
            assert marks is not None
            for place, value in fields.items():
                if value != self._fields.get(place):
                    if place not in VOLATILE:
                        whole = True
                        break
                    changed[place] = value
        if not whole:
            assert marks is not None
            for place, ring in rings.items():
                was, mark = marks[place]
                new = ring.since(mark) if was is ring else None
                if new is None:
                    whole = True
                    break
                if new:
                    added["/".join(place)] = [ring.encode(entry) for entry in new]
        self._marks = marks = {place: (ring, ring.mark()) for place, ring in rings.items()}
        self._fields = fields
        if whole:
            # A spilled ring reads its older entries from what is on disk: the files are read once for all rings.
            self._read_back = (self._on_disk, {}) if self._on_disk is not None else None
            try:
                document = meter.logs_state()
            finally:
                self._read_back = None
            self._generation += 1
            self._journal_bytes = 0
            document[GENERATION] = self._generation
            return LogsSave(document, None, self._generation, marks)
        if not added and not changed:
            return LogsSave(None, None, self._generation, marks)
        line = json.dumps({"g": self._generation, "fields": {"/".join(k): v for k, v in changed.items()},
                           "add": added}, separators=(",", ":")).encode() + b"\n"
        self._journal_bytes += len(line)
        return LogsSave(None, line, self._generation, marks)

    def forget(self) -> None:
        """A save failed: the next one writes the document whole (what failed may not be on disk)."""
        self._marks = None

    def save(self, save: LogsSave) -> None:
        """Write a save (in a worker thread: it fsyncs). The document first, durable, then the journal emptied; a
        line appended and fsynced. Each step, once durable, is what `archived` reads."""
        with self._lock:
            on_disk = self._on_disk
            if save.document is not None:
                self.store.save(save.document)
                # The document alone: should emptying the journal fail, the save fails and the next is whole again.
                self._on_disk = on_disk = _OnDisk(save.generation, 0, save.marks)
                with open(self.path, "wb") as fh:  # its lines are of an older generation now: dropping them is safe
                    os.fsync(fh.fileno())
            if save.line is not None:
                with open(self.path, "ab") as fh:
                    fh.write(save.line)
                    fh.flush()
                    os.fsync(fh.fileno())
                if on_disk is not None and on_disk.generation == save.generation:
                    self._on_disk = _OnDisk(save.generation, on_disk.journal_bytes + len(save.line), save.marks)
                else:  # what the journal adds to is not known to be a state of the rings: nothing more spills
                    self._on_disk = None
            elif save.document is None and on_disk is not None:
                self._on_disk = _OnDisk(on_disk.generation, on_disk.journal_bytes, save.marks)  # nothing was new

    # --- spilling -----------------------------------------------------------------------------------------------
    def spill(self, meter: Meter, keep: int) -> int:
        """Let the meter's rings drop from memory the entries that are on disk, each keeping its newest `keep`
        (`RingLog.spill`); on the event loop, between saves. Returns how many entries went."""
        on_disk = self._on_disk
        if on_disk is None:
            return 0
        going = 0
        for place, ring in meter.log_rings().items():
            saved = on_disk.marks.get(place)
            if saved is not None and saved[0] is ring:
                going += ring.spill(saved[1], keep, partial(self.archived, place))
        return going

    def archived(self, place: tuple[str, ...]) -> tuple[list[dict[str, Any]], tuple[int, int]]:
        """A ring's entries as the durable files hold them, with the ring's mark when they were taken (a
        spilled ring's `Archive`). Read on the event loop, under the lock: a year-old meter's take ~30 ms."""
        with self._lock:
            on_disk = self._on_disk
            if on_disk is None or place not in on_disk.marks:
                raise RuntimeError(f"{self.path}: what is on disk is not known, and a spilled logger needs it")
            read_back = self._read_back
            if read_back is not None and read_back[0] is on_disk and read_back[1]:
                return _at(read_back[1], list(place))["entries"], on_disk.marks[place][1]
            document = self.store.load()
            if document is None or document.pop(GENERATION, 0) != on_disk.generation:
                raise RuntimeError(f"{self.store.path}: not the document of generation {on_disk.generation}")
            try:
                with open(self.path, "rb") as fh:
                    raw = fh.read(on_disk.journal_bytes)
            except FileNotFoundError:
                raw = b""
            if len(raw) != on_disk.journal_bytes or not _replay(self.path, document, raw, on_disk.generation):
                raise RuntimeError(f"{self.path}: not the {on_disk.journal_bytes} bytes of lines written")
            if read_back is not None and read_back[0] is on_disk:
                read_back[1].update(document)
            entries = _at(document, list(place))["entries"]
            return entries, on_disk.marks[place][1]


def journal_path(document: Path) -> Path:
    """The journal beside a loggers' document."""
    return document.with_suffix(".journal")


@dataclass(frozen=True, slots=True)
class ReadLogs:
    """What `read_logs` found on disk for one meter's loggers: plain data, so that another process can read it."""

    path: Path  # the document's
    keep: int | None
    document: dict[str, Any] | None  # None: never saved
    generation: int
    rewrite: bool  # a journal line could not be read or was of another generation: the next save writes it whole
    left_on_disk: dict[tuple[str, ...], int]  # the entries `keep` left out, by ring
    warnings: tuple[str, ...] = ()  # for the log of the process that uses what was read


def read_logs(path: Path, keep: int | None) -> ReadLogs:
    """The loggers' document at `path` with its journal's lines applied, each ring cut to its newest `keep` entries
    (None: all). A journal line cut short by a crash is truncated away on disk, so the next line starts clean.
    A function of the files alone, so that a fleet's members can be read in other processes (gateway/fleet_logs.py)."""
    document = MeterStore(path).load()
    if document is None:
        return ReadLogs(path, keep, None, 0, False, {})
    generation = document.pop(GENERATION, 0)
    generation = generation if isinstance(generation, int) else 0
    journal = journal_path(path)
    try:
        raw = journal.read_bytes()
    except FileNotFoundError:
        raw = b""
    complete = raw.rfind(b"\n") + 1
    if complete < len(raw):  # the last line was cut short by a crash: dropped, so the next line starts clean
        with open(journal, "r+b") as fh:
            fh.truncate(complete)
            os.fsync(fh.fileno())
    said: list[str] = []
    rewrite = not _replay(journal, document, raw[:complete], generation, said)
    left = _keep_newest(document, keep, ()) if keep is not None and not rewrite else {}
    return ReadLogs(path, keep, document, generation, rewrite, left, tuple(said))


def _replay(path: Path, document: dict[str, Any], raw: bytes, generation: int, said: list[str] | None = None) -> bool:
    """The journal's lines (`raw`, whole lines) of `generation` onto the document; False if a line was of another
    generation (from before the document was last written whole, or after the backup it was read from) or
    could not be read (and the lines after it skipped: a warning, logged or put in `said`)."""
    clean = True
    for number, text in enumerate(raw.split(b"\n")[:-1], start=1):
        try:
            line = json.loads(text)
            if line.get("g") != generation:
                clean = False
                continue
            apply(document, line)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            warning = f"{path}: line {number} unreadable ({exc}); the lines after it are skipped"
            if said is None:
                log.warning("%s", warning)
            else:
                said.append(warning)
            return False
    return clean


# Fields that change without a logger being reconfigured: carried in the journal's lines.
VOLATILE = frozenset({("load_profile", "pending"), ("lp_status",)})


def apply(document: dict[str, Any], line: dict[str, Any]) -> None:
    """One journal line onto the document: its fields set, its entries appended to their rings (the oldest dropped
    beyond a ring's capacity, as the ring itself does)."""
    for place, value in line["fields"].items():
        *parents, leaf = place.split("/")
        _at(document, parents)[leaf] = value
    for place, entries in line["add"].items():
        ring = _at(document, place.split("/"))
        kept = ring["entries"] + entries
        ring["entries"] = kept[max(0, len(kept) - int(ring["capacity"])):]


def _keep_newest(node: dict[str, Any], keep: int, place: tuple[str, ...]) -> dict[tuple[str, ...], int]:
    """Each ring's state under `node` (`{"capacity", "entries"}`) cut to its newest `keep` entries: how many each
    left out, by place."""
    if "capacity" in node and isinstance(node.get("entries"), list):
        entries = node["entries"]
        node["entries"] = entries[max(0, len(entries) - keep):]
        return {place: len(entries) - len(node["entries"])}
    left: dict[tuple[str, ...], int] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            left.update(_keep_newest(value, keep, (*place, key)))
    return left


def _value(document: dict[str, Any], place: tuple[str, ...]) -> Any:
    *parents, leaf = place
    return _at(document, list(parents))[leaf]


def _at(document: dict[str, Any], path: list[str]) -> dict[str, Any]:
    node = document
    for key in path:
        node = node[key]
    if not isinstance(node, dict):
        raise TypeError(f"{'/'.join(path)} is not an object")
    return node
