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
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
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


class LogJournal:
    def __init__(self, store: MeterStore) -> None:
        self.store = store
        self.path = store.path.with_suffix(".journal")
        self._generation = 0
        self._marks: dict[tuple[str, ...], tuple[RingLog[Any], tuple[int, int]]] | None = None  # at the last take
        self._fields: dict[tuple[str, ...], Any] = {}
        self._journal_bytes = 0
        self._rewrite = False  # `load` met a line it could not read or of another generation

    # --- loading ------------------------------------------------------------------------------------------------
    def load(self) -> dict[str, Any] | None:
        """The document with the journal's lines of its generation applied (None: never saved). Then `loaded`."""
        document = self.store.load()
        if document is None:
            return None
        generation = document.pop(GENERATION, 0)
        self._generation = generation if isinstance(generation, int) else 0
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return document
        complete = raw.rfind(b"\n") + 1
        if complete < len(raw):  # the last line was cut short by a crash: dropped, so the next line starts clean
            with open(self.path, "r+b") as fh:
                fh.truncate(complete)
                os.fsync(fh.fileno())
        for number, text in enumerate(raw[:complete].split(b"\n")[:-1], start=1):
            try:
                line = json.loads(text)
                if line.get("g") != self._generation:  # from before the document was last written whole (or after
                    self._rewrite = True  # the backup it was read from): start a clean journal with the next save
                    continue
                apply(document, line)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                log.warning("%s: line %d unreadable (%s); the lines after it are skipped", self.path, number, exc)
                self._rewrite = True  # the next save writes the document whole: lines after this one would be lost
                break
        return document

    def loaded(self, meter: Meter, document: dict[str, Any] | None) -> None:
        """The meter was restored from `document` (`load`'s): later saves go on appending to the journal, unless
        the meter's loggers are not what the document says (another capacity, a logger it lacks, other fields:
        a document of an older version), when the first save writes the document whole. Without this, every meter
        of a fleet would write its loggers whole once after each start (~0.2 s each, a year old)."""
        if document is None or self._rewrite:
            return
        rings, fields = meter.log_rings(), meter.logs_fields()
        try:
            same = all(_at(document, list(place))["capacity"] == ring.capacity for place, ring in rings.items())
            same = same and all(_value(document, place) == value for place, value in fields.items())
        except (KeyError, TypeError):
            same = False
        if not same:
            return
        self._marks = {place: (ring, ring.mark()) for place, ring in rings.items()}
        self._fields = fields
        try:
            self._journal_bytes = self.path.stat().st_size
        except FileNotFoundError:
            self._journal_bytes = 0

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
        self._marks = {place: (ring, ring.mark()) for place, ring in rings.items()}
        self._fields = fields
        if whole:
            self._generation += 1
            self._journal_bytes = 0
            document = meter.logs_state()
            document[GENERATION] = self._generation
            return LogsSave(document, None)
        if not added and not changed:
            return LogsSave(None, None)
        line = json.dumps({"g": self._generation, "fields": {"/".join(k): v for k, v in changed.items()},
                           "add": added}, separators=(",", ":")).encode() + b"\n"
        self._journal_bytes += len(line)
        return LogsSave(None, line)

    def forget(self) -> None:
        """A save failed: the next one writes the document whole (what failed may not be on disk)."""
        self._marks = None

    def save(self, save: LogsSave) -> None:
        """Write a save (in a worker thread: it fsyncs). The document first, durable, then the journal emptied; a
        line appended and fsynced."""
        if save.document is not None:
            self.store.save(save.document)
            with open(self.path, "wb") as fh:  # its lines are of an older generation now: dropping them is safe
                os.fsync(fh.fileno())
        if save.line is not None:
            with open(self.path, "ab") as fh:
                fh.write(save.line)
                fh.flush()
                os.fsync(fh.fileno())


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
