"""The meter's data loggers as fixed-capacity ring buffers (facts digest §3, §4, §7.8, §13).

Every logger is circular: when full, the oldest entry is overwritten, as the meter's EEPROM pools do.
Entries carry `t`, the end of the period or the instant of the event, as int Unix seconds (UTC) on the
meter's time line. The sources say the meter stamps in *standard* time; that is a rendering concern
(UTC + standard offset) handled elsewhere, so nothing here depends on the time zone or DST.

`record`/`append` are O(1) (a list with a head index), since the load profile is written once per
period for years of simulated time. Queries scan linearly: entries are in write order, which is not
necessarily time order after the clock was set backwards, so a bisection would be wrong.

Loggers (names, OBIS codes and capacities: the logger table, omnipower/loggers.py):
  LoadProfile      load_profile, §4.1, depth table from the data sheet
  AnalysisLogger   analysis, §4.4, fixed value pool (inferred)
  BillingLog       billing (§4.2) and debiting_logger_2 (§4.3)
  EventLogs        the event loggers of §4.5 and our tariff and prepayment logs
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from copy import deepcopy
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, cast, overload

from omnipower.loggers import BILLING, DEBITING_LOGGER_2, EVENT_LOGGERS

QUERY_LIMIT_MAX = 1000


# --- entry codecs ---------------------------------------------------------------------------------


class Timed(Protocol):
    """Anything with an integer time stamp; the ring's time queries need only that."""

    @property
    def t(self) -> int: ...


T = TypeVar("T", bound=Timed)
E = TypeVar("E")


def asdict_entry(entry: object) -> dict[str, Any]:
    """A dataclass entry as a plain dict (nested dicts are copied, so the state never aliases the log)."""
    if not is_dataclass(entry) or isinstance(entry, type):
        raise TypeError(f"log entries must be dataclass instances, got {type(entry).__name__}")
    return asdict(entry)


def fromdict_entry(cls: type[E], data: Mapping[str, Any]) -> E:
    """Rebuild a dataclass entry from `asdict_entry` output; unknown or missing fields are errors."""
    names, known = _init_fields(cls)
    unknown = data.keys() - known
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)} in logger state")
    missing = [n for n in names if n not in data]
    if missing:
        raise ValueError(f"{cls.__name__}: missing field(s) {missing} in logger state")
    return cls(**{n: _copied(data[n]) for n in names})


_INIT_FIELDS: dict[type, tuple[list[str], frozenset[str]]] = {}


def _init_fields(cls: type) -> tuple[list[str], frozenset[str]]:
    """A dataclass's init fields, in order and as a set (looked up once per class: restoring builds thousands)."""
    known = _INIT_FIELDS.get(cls)
    if known is None:
        if not is_dataclass(cls):
            raise TypeError(f"{cls!r} is not a dataclass")
        names = [f.name for f in fields(cls) if f.init]
        known = _INIT_FIELDS[cls] = (names, frozenset(names))
    return known


def _copied(value: Any) -> Any:
    """`deepcopy` for what a logger's state holds (dicts, lists and tuples of plain values), several times faster:
    restoring a year of load profile spent most of its time in `deepcopy`'s bookkeeping."""
    kind = type(value)
    if kind is dict:
        return {k: _copied(v) for k, v in value.items()}
    if kind is list:
        return [_copied(v) for v in value]
    if kind is tuple:
        return tuple(_copied(v) for v in value)
    if kind in (int, float, str, bool) or value is None:
        return value
    return deepcopy(value)  # anything else, as before


@dataclass(frozen=True, slots=True)
class Codec(Generic[E]):
    """How one log's entries become plain JSON types and back."""

    encode: Callable[[E], dict[str, Any]]
    decode: Callable[[Mapping[str, Any]], E]


def dataclass_codec(cls: type[E]) -> Codec[E]:
    """The default codec: field-by-field dicts (entries hold only plain JSON-able fields)."""

    def decode(data: Mapping[str, Any]) -> E:
        return fromdict_entry(cls, data)

    return Codec(asdict_entry, decode)


# --- the ring buffer ------------------------------------------------------------------------------


def _check_capacity(capacity: object) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"logger capacity must be an integer ≥ 1, got {capacity!r}")
    return capacity


def _check_time(name: str, t: object) -> int:
    if isinstance(t, bool) or not isinstance(t, int):
        raise ValueError(f"{name} must be int Unix seconds, got {t!r}")
    return t


class Rows(Protocol[T]):
    """What a ring holds its entries in: a list, or `PackedRows`."""

    def __len__(self) -> int: ...

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __setitem__(self, index: int, entry: T) -> None: ...

    def append(self, entry: T) -> None: ...


class PackedRows(Generic[T]):
    """A ring's entries as rows of numbers in one array of doubles (8 bytes a number), for loggers of many entries
    that are numbers in a fixed layout: a year of load profile is 16,800 entries, ~400 bytes each as Python
    objects. `pack` gives an entry's row (its `width` numbers), or None for an entry that does not fit the
    layout, which is then kept as it is; `unpack` builds the entry again from its row, equal to the one packed.
    A plain list is the reference: `tests/test_loggers.py` holds a ring of each to the same entries."""

    __slots__ = ("_data", "_encode", "_n", "_odd", "_pack", "_unpack", "_width")

    def __init__(self, pack: Callable[[T], Sequence[float] | None], unpack: Callable[[array[float]], T], width: int,
                 entries: Iterable[T] = (), encode: Callable[[array[float]], dict[str, Any]] | None = None) -> None:
        """`encode`: a row's saved form straight from its numbers, as the ring's codec would give it for the entry
        (a year of load profile: 25 ms, against 133 ms through the entries)."""
        self._pack, self._unpack, self._width, self._encode = pack, unpack, width, encode
        self._data: array[float] = array("d")
        self._n = 0
        self._odd: dict[int, T] = {}  # rows that did not fit the layout, by index
        for entry in entries:
            self.append(entry)

    def __len__(self) -> int:
        return self._n

    def _row(self, i: int) -> T:
        odd = self._odd.get(i) if self._odd else None
        if odd is not None:
            return odd
        w = self._width
        return self._unpack(self._data[i * w:(i + 1) * w])

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError("ring row out of range")
        return self._row(index)

    def __setitem__(self, index: int, entry: T) -> None:
        if not 0 <= index < self._n:
            raise IndexError("ring row out of range")
        w = self._width
        row = self._pack(entry)
        if row is None:
            self._odd[index] = entry
            return
        self._odd.pop(index, None)
        self._data[index * w:(index + 1) * w] = array("d", row)

    def encoded(self, order: Iterable[int], encode: Callable[[T], dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows in `order`, each in its saved form (`encode` for the entries kept as they are)."""
        fast, w, data, odd = self._encode, self._width, self._data, self._odd
        if fast is None:
            return [encode(self._row(i)) for i in order]
        return [encode(odd[i]) if i in odd else fast(data[i * w:(i + 1) * w]) for i in order]

    def times(self) -> list[int]:
        """Each row's time (the first number of a packed row), by index."""
        times = [int(t) for t in self._data[0 :: self._width]]
        for i, entry in self._odd.items():
            times[i] = entry.t
        return times

    def append(self, entry: T) -> None:
        row = self._pack(entry)
        if row is None:
            self._odd[self._n] = entry
            row = (0.0,) * self._width
        self._data.extend(row)
        self._n += 1


def channel_rows(kind: Callable[..., T], channels: tuple[str, ...], entries: Iterable[T], *,
                 status: bool) -> PackedRows[T]:
    """Packed rows for a logger whose entries are `kind(t, {channel: float, …}[, status])` (the load profile, with
    a status; the analysis logger, without): each row is t, [status,] then the values in the channels' order. An
    entry with other keys, a value that is not a float or a time beyond a double's integers is kept as it is."""
    names, first = list(channels), 2 if status else 1

    def pack(e: T) -> Sequence[float] | None:
        values: dict[str, Any] = e.values  # type: ignore[attr-defined]
        head = (e.t, e.status) if status else (e.t,)  # type: ignore[attr-defined]
        if any(type(x) is not int for x in head) or list(values) != names or abs(e.t) > 2**53:
            return None
        row = (*map(float, head), *values.values())
        return row if all(type(x) is float for x in row) else None

    def unpack(row: array[float]) -> T:
        values = dict(zip(channels, row[first:], strict=True))
        return kind(int(row[0]), values, int(row[1])) if status else kind(int(row[0]), values)

    def encode(row: array[float]) -> dict[str, Any]:  # the codec's form of unpack(row), without the entry
        out: dict[str, Any] = {"t": int(row[0]), "values": dict(zip(channels, row[first:], strict=True))}
        if status:
            out["status"] = int(row[1])
        return out

    return PackedRows(pack, unpack, first + len(channels), entries, encode)


Archive = Callable[[], tuple[list[dict[str, Any]], tuple[int, int]]]
"""Where a spilled ring's older entries are (`RingLog.spill`): gives the ring's entries as saved on disk (each in its
codec's form) and the ring's `mark` at the moment they were saved."""


class RingLog(Generic[T]):
    """Fixed-capacity circular log; the oldest entry is overwritten when full.

    Stored as a list plus the index of the oldest entry, so `append` is O(1) and no entry moves.

    `mark` and `since` tell what was appended after a moment (meter_sim/log_journal.py saves only that): every
    change other than an append (clear, resize, restore) starts a new epoch, after which `since` says None.

    A ring whose entries are saved on disk can `spill`: it keeps only its newest entries in memory and reads the
    older ones back from disk when asked for all of them (`entries`, `to_state`, `query`, `resize`). Why: a fleet
    member's load profile fills for 175 days, ~1 MB a year-old member even packed, and 10,000 members of a gateway
    would need 11 GB. What reads only the newest entries (`append`, `last`, `since`, a journal's save) never
    touches the disk.
    """

    __slots__ = ("_added", "_archive", "_buf", "_capacity", "_codec", "_epoch", "_head", "_rows", "_spilled")

    def __init__(self, capacity: int, codec: Codec[T], rows: Callable[[list[T]], Rows[T]] = list) -> None:
        """`rows`: how the entries are held (a list, or `PackedRows` for loggers of many numeric entries)."""
        self._capacity = _check_capacity(capacity)
        self._codec = codec
        self._rows = rows
        self._buf: Rows[T] = rows([])
        self._head = 0  # index of the oldest entry once the buffer is full; 0 until then
        self._epoch = 0  # changes other than appends so far
        self._added = 0  # appends in this epoch
        self._spilled = 0  # the oldest entries, held on disk only (`spill`); the buffer is never full while > 0
        self._archive: Archive | None = None

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def in_memory(self) -> int:
        """Entries held in memory (`len` less those spilled to disk)."""
        return len(self._buf)

    def __len__(self) -> int:
        return self._spilled + len(self._buf)

    def __iter__(self) -> Iterator[T]:
        """Oldest first."""
        if self._spilled:
            yield from self.entries()
            return
        buf, head = self._buf, self._head
        for i in range(head, len(buf)):
            yield buf[i]
        for i in range(head):
            yield buf[i]

    def append(self, entry: T) -> None:
        self._added += 1
        buf = self._buf
        if self._spilled:  # the oldest entry, if one goes, is one on disk
            buf.append(entry)
            if self._spilled + len(buf) > self._capacity:
                self._spilled -= 1
        elif len(buf) < self._capacity:
            buf.append(entry)
        else:
            buf[self._head] = entry
            self._head = (self._head + 1) % self._capacity

    def _memory(self) -> list[T]:
        """The entries in memory, oldest first."""
        return self._buf[self._head :] + self._buf[: self._head]

    def entries(self) -> list[T]:
        """All entries, oldest first (a new list)."""
        if self._spilled:
            return [self._codec.decode(item) for item in self._on_disk()] + self._memory()
        return self._memory()

    def last(self) -> T | None:
        """The newest entry (head − 1 is the newest when full; when not full head is 0 and −1 is the end)."""
        if not self._buf:
            return self.entries()[-1] if self._spilled else None
        return self._buf[self._head - 1]

    def clear(self) -> None:
        self._buf = self._rows([])
        self._head = 0
        self._spilled, self._archive = 0, None
        self._new_epoch()

    def resize(self, capacity: int) -> None:
        """Change the capacity, keeping the newest entries that still fit."""
        capacity = _check_capacity(capacity)
        if self._spilled:  # the entries on disk are read back: a new epoch ends what `since` (and the disk) can say
            self._buf, self._head = self._rows(self.entries()), 0
            self._spilled, self._archive = 0, None
        if capacity != self._capacity:  # the same capacity keeps every entry where it is (restores ask for it)
            self._buf = self._rows(self.entries()[-capacity:])
            self._head = 0
            self._capacity = capacity
        self._new_epoch()

    def _new_epoch(self) -> None:
        self._epoch += 1
        self._added = 0

    def mark(self) -> tuple[int, int]:
        """This moment, for `since`."""
        return self._epoch, self._added

    def since(self, mark: tuple[int, int]) -> list[T] | None:
        """The entries appended after `mark`, oldest first; None when something else changed the log since (a
        new epoch) or more was appended than it holds in memory."""
        epoch, added = mark
        n = self._added - added
        if epoch != self._epoch or n > len(self._buf) or n < 0:
            return None
        if not n:
            return []
        buf, end = self._buf, self._head  # the newest n end just before the head (full) or at the end (not full)
        if len(buf) < self._capacity or end == 0:
            end = len(buf)
        start = end - n
        return buf[start:end] if start >= 0 else buf[start:] + buf[:end]

    # --- spilling to disk --------------------------------------------------------------------------------------
    def spill(self, saved: tuple[int, int], keep: int, archive: Archive) -> int:
        """Drop from memory the oldest entries that are on disk, keeping the newest `keep` and every entry appended
        after `saved` (the ring's `mark` when what is on disk was taken); `archive` reads them back. Done only
        when at least `keep` entries go, so each rebuild of the buffer is paid for by as many appends. Returns
        how many entries went."""
        if saved[0] != self._epoch or keep < 1:
            return 0
        unsaved = self._added - saved[1]
        if unsaved < 0 or unsaved > len(self._buf):
            return 0
        going = len(self._buf) - max(keep, unsaved)
        if going < keep:
            return 0
        self._buf = self._rows(self._memory()[going:])
        self._head = 0
        self._spilled += going
        self._archive = archive
        return going

    def spilled_before(self, count: int, archive: Archive) -> None:
        """The ring was just restored from the newest of its saved entries: `count` older ones are on disk only,
        where `archive` reads them (a fleet member starting: building 17,000 entries only to spill them cost most
        of its start-up)."""
        if count < 0 or self._spilled or self._head or count + len(self._buf) > self._capacity:
            raise ValueError(f"{count} entries on disk do not go before this ring's {len(self._buf)}")
        if count:
            self._spilled, self._archive = count, archive

    def _on_disk(self) -> list[dict[str, Any]]:
        """The spilled entries, in the codec's form, read back from disk: what was saved then, with what was
        appended since, makes the whole ring; the memory holds its newest entries."""
        assert self._archive is not None
        saved, mark = self._archive()
        new = self.since(mark)
        if new is None:
            raise RuntimeError("a spilled logger's entries on disk are of another epoch than the logger")
        first = max(0, len(saved) + len(new) - self._capacity)  # the oldest the ring has dropped since
        if first + self._spilled + len(self._buf) - len(new) != len(saved):
            raise RuntimeError(f"a spilled logger's entries on disk ({len(saved)}, {len(new)} appended since) do "
                               f"not make up its {len(self)} entries")
        return saved[first : first + self._spilled]

    def encode(self, entry: T) -> dict[str, Any]:
        return self._codec.encode(entry)

    def query(
        self, start: int | None = None, end: int | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[T], int]:
        """Entries with start ≤ t < end (None = unbounded), oldest first, paged.

        Returns (page, total) where total counts every matching entry, so a client can page through.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= QUERY_LIMIT_MAX:
            raise ValueError(f"limit must be 1–{QUERY_LIMIT_MAX}, got {limit!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an integer ≥ 0, got {offset!r}")
        if start is not None and end is not None and start > end:
            raise ValueError(f"query start ({start}) must not be after end ({end})")
        # By position, oldest first; only the page's entries are built (a packed ring builds each on reading), and
        # of a spilled ring's older entries, read back from disk in their saved form, only those of the page.
        older = self._on_disk() if self._spilled else []
        buf, head, n, first = self._buf, self._head, len(self._buf), len(older)
        if start is None and end is None:
            matching: Sequence[int] = range(first + n)
        else:
            lo = start if start is not None else -(2**63)
            hi = end if end is not None else 2**63
            times = [int(item["t"]) for item in older] + _times(buf, head)
            matching = [k for k, t in enumerate(times) if lo <= t < hi]
        page = [self._codec.decode(older[k]) if k < first else buf[(head + k - first) % n]
                for k in matching[offset : offset + limit]]
        return page, len(matching)

    def to_state(self) -> dict[str, Any]:
        buf = self._buf
        older = self._on_disk() if self._spilled else []
        if isinstance(buf, PackedRows):
            n, head = len(buf), self._head
            return {"capacity": self._capacity,
                    "entries": older + buf.encoded(((head + k) % n for k in range(n)), self._codec.encode)}
        return {"capacity": self._capacity, "entries": older + [self._codec.encode(e) for e in self._memory()]}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace the contents with a saved state (its capacity included)."""
        capacity = _check_capacity(state.get("capacity"))
        raw = state.get("entries")
        if not isinstance(raw, list):
            raise ValueError("logger state 'entries' must be a list")
        if len(raw) > capacity:
            raise ValueError(f"logger state holds {len(raw)} entries, more than its capacity {capacity}")
        decoded = [self._codec.decode(item) for item in raw]
        self._capacity = capacity
        self._buf = self._rows(decoded)
        self._head = 0
        self._spilled, self._archive = 0, None
        self._new_epoch()

    @classmethod
    def from_state(cls, state: Mapping[str, Any], codec: Codec[T]) -> Self:
        log = cls(_check_capacity(state.get("capacity")), codec)
        log.restore(state)
        return log


def _times(buf: Rows[Any], head: int) -> list[int]:
    """Each entry's time, oldest first."""
    times = buf.times() if isinstance(buf, PackedRows) else [buf[i].t for i in range(len(buf))]
    return times[head:] + times[:head]


# --- load profile (§4.1) --------------------------------------------------------------------------

LP_PERIODS_MIN = (5, 15, 30, 60)

# Data sheet depth table, days, keyed by number of channels then integration period in minutes.
LP_DEPTH_DAYS: dict[int, dict[int, int]] = {
    1: {5: 92, 15: 275, 30: 550, 60: 1100},
    2: {5: 77, 15: 231, 30: 462, 60: 924},
    4: {5: 58, 15: 175, 30: 350, 60: 700},
}
LP_DEPTH_DAYS_VARIANT2_4CH_15MIN = 180  # [TD]: Variant 2 meters hold 180 days at 4 channels / 15 min

# (inferred, §4.1) The table fits a byte pool of 554,400 B with (17 + 4·n) B per entry: 26,400 / 22,176 / 16,800
# entries. The day table reproduces these exactly except at 5 min, where the data sheet rounds the days:
# 1 channel 92 d = 26,496 entries (96 above the pool), 4 channels 58 d = 16,704 (96 below). We follow the table.
LP_BYTE_POOL = 554_400


def lp_entry_bytes(channels: int) -> int:
    """(inferred) Size of one LP entry: 17 B of time stamp and status plus 4 B per channel."""
    return 17 + 4 * channels


# X9 energy type → load-profile channels (the legal registers), as OBIS display codes.
LP_CHANNELS_BY_ENERGY_TYPE: dict[int, tuple[str, ...]] = {
    1: ("1.8.0",),
    2: ("1.8.0", "2.8.0"),
    3: ("1.8.0", "3.8.0"),
    4: ("1.8.0", "2.8.0", "3.8.0", "4.8.0"),
}
# §4.1 also lists A+/R1 (R1 = 5.8.0), which has no X9 code of its own.
LP_CHANNEL_SETS: frozenset[tuple[str, ...]] = frozenset({*LP_CHANNELS_BY_ENERGY_TYPE.values(), ("1.8.0", "5.8.0")})


def lp_channels_for_energy_type(energy_type: int) -> tuple[str, ...]:
    if energy_type not in LP_CHANNELS_BY_ENERGY_TYPE:
        raise ValueError(f"energy type X9 must be 1–4, got {energy_type!r}")
    return LP_CHANNELS_BY_ENERGY_TYPE[energy_type]


def load_profile_depth_days(period_min: int, channels: int, *, variant2: bool = False) -> int:
    """Data sheet depth in days for an integration period of 5/15/30/60 min and 1, 2 or 4 channels."""
    if channels not in LP_DEPTH_DAYS:
        raise ValueError(f"load-profile channels must be 1, 2 or 4, got {channels!r}")
    if period_min not in LP_PERIODS_MIN:
        raise ValueError(f"load-profile period must be one of {LP_PERIODS_MIN} min, got {period_min!r}")
    if variant2 and channels == 4 and period_min == 15:
        return LP_DEPTH_DAYS_VARIANT2_4CH_15MIN
    return LP_DEPTH_DAYS[channels][period_min]


def load_profile_capacity(period_min: int, channels: int, *, variant2: bool = False) -> int:
    """Entries the load profile holds: depth in days × periods per day."""
    return load_profile_depth_days(period_min, channels, variant2=variant2) * 1440 // period_min


# Status word per LP entry (WELMEC 11.2 asks for these flags; Kamstrup's bit layout is unpublished).
# Our choice: the low byte follows the IDIS / DSMR "AMR profile status" byte, which head-ends already decode;
# the voltage flags, which that byte lacks, go in bits 8 and 9.
CRITICAL_ERROR = 0x01
CLOCK_INVALID = 0x02
DATA_NOT_VALID = 0x04
DST_ACTIVE = 0x08  # the caller may set it; time stamps themselves stay in standard time
CLOCK_ADJUSTED = 0x20  # the RTC was set within the period (§3)
DATA_FILLED = DATA_NOT_VALID  # [EM] gap-filled copy of the previous entry: its values are not measurements
POWER_FAILURE = 0x80  # a voltage outage occurred in the period ("power down")
OVERVOLTAGE = 0x100  # (inferred from [EM]) a voltage > 265 V was seen in the period
UNDERVOLTAGE = 0x200  # (inferred from [EM]) a voltage < 184 V was seen in the period
LP_STATUS_MASK = 0xFFFF

OVERVOLTAGE_LIMIT_V = 265.0  # [EM] limits used for the LP flags (§4.1, inferred)
UNDERVOLTAGE_LIMIT_V = 184.0

LP_FILL_MAX_ENTRIES = 3024  # [EM]: no gap filling when more entries than this would be needed


def voltage_status(voltage: float) -> int:
    """The LP status bits one voltage sample sets: strictly above 265 V or strictly below 184 V."""
    if voltage > OVERVOLTAGE_LIMIT_V:
        return OVERVOLTAGE
    if voltage < UNDERVOLTAGE_LIMIT_V:
        return UNDERVOLTAGE
    return 0


def _check_status(name: str, status: object) -> int:
    if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= LP_STATUS_MASK:
        raise ValueError(f"{name} must be an int in 0–{LP_STATUS_MASK:#x}, got {status!r}")
    return status


@dataclass(frozen=True, slots=True)
class LoadProfileEntry:
    """One period: register readings at the period end (kWh/kvarh) keyed by OBIS display code, plus status."""

    t: int  # end of the period, UTC seconds
    values: dict[str, float]
    status: int = 0

    def has(self, flag: int) -> bool:
        return self.status & flag == flag


LP_CODEC: Codec[LoadProfileEntry] = dataclass_codec(LoadProfileEntry)


def _period_min(period_s: object) -> int:
    if isinstance(period_s, bool) or not isinstance(period_s, int) or period_s not in {m * 60 for m in LP_PERIODS_MIN}:
        raise ValueError(f"load-profile period_s must be one of 300, 900, 1800, 3600 s, got {period_s!r}")
    return period_s // 60


class LoadProfile:
    """Load profile 1.1.99.1.0.255: one entry per integration period, capacity from the data sheet table.

    Changing the period (`set_period`) keeps the stored entries, which keep their own time stamps, and
    recomputes the capacity from the table; if it shrinks, the oldest entries are dropped (inferred: the
    meter's pool is a byte pool whose entry size depends on the channels only, so old entries stay valid).
    """

    def __init__(self, period_s: int = 900, channels: Sequence[str] = ("1.8.0",), *, variant2: bool = False) -> None:
        self._period_min = _period_min(period_s)
        self.channels = self._check_channels(channels)
        self.variant2 = variant2
        self._pending = 0
        self.log: RingLog[LoadProfileEntry] = RingLog(self._capacity_for(self._period_min), LP_CODEC, self._rows)

    def _rows(self, entries: list[LoadProfileEntry]) -> Rows[LoadProfileEntry]:
        """The entries packed as (t, status, the channels' values) in this profile's channels (fixed for a meter;
        `restore` sets them before the entries)."""
        return channel_rows(LoadProfileEntry, self.channels, entries, status=True)

    @staticmethod
    def _check_channels(channels: Sequence[str]) -> tuple[str, ...]:
        chans = tuple(channels)
        if chans not in LP_CHANNEL_SETS:
            allowed = " | ".join("/".join(c) for c in sorted(LP_CHANNEL_SETS, key=len))
            raise ValueError(f"load-profile channels must be one of {allowed}, got {chans!r}")
        return chans

    def _capacity_for(self, period_min: int) -> int:
        return load_profile_capacity(period_min, len(self.channels), variant2=self.variant2)

    @property
    def period_s(self) -> int:
        return self._period_min * 60

    @property
    def capacity(self) -> int:
        return self.log.capacity

    @property
    def depth_days(self) -> int:
        return load_profile_depth_days(self._period_min, len(self.channels), variant2=self.variant2)

    @property
    def pending_status(self) -> int:
        """Flags gathered so far for the period in progress."""
        return self._pending

    def __len__(self) -> int:
        return len(self.log)

    def entries(self) -> list[LoadProfileEntry]:
        return self.log.entries()

    def last(self) -> LoadProfileEntry | None:
        return self.log.last()

    def query(
        self, start: int | None = None, end: int | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[LoadProfileEntry], int]:
        return self.log.query(start, end, offset, limit)

    def next_period_end(self, t: int) -> int:
        """The first period end strictly after t. Periods align to the hour, and the standard offset (Z11) is a
        whole number of hours, so aligning in UTC is aligning in standard time."""
        p = self.period_s
        return (t // p + 1) * p

    def flag(self, bits: int) -> None:
        """OR status bits into the period in progress; the next `record` consumes them."""
        self._pending |= _check_status("status flag", bits)

    def record(self, t: int, values: Mapping[str, float], status: int = 0) -> LoadProfileEntry:
        """Close a period ending at t. `values` may hold more registers than the channels; only those are kept."""
        _check_time("load-profile time", t)
        status = _check_status("load-profile status", status)
        missing = [c for c in self.channels if c not in values]
        if missing:
            raise ValueError(f"load-profile record at {t} lacks channel(s) {missing}")
        entry = LoadProfileEntry(t, {c: float(values[c]) for c in self.channels}, status | self._pending)
        self._pending = 0
        self.log.append(entry)
        return entry

    def fill_gap(self, until_t: int, *, clock_valid: bool = True, status: int = 0) -> int:
        """[EM] After an outage or a forward clock jump, copy the last entry into every missed period end
        strictly before `until_t`, flagged DATA_FILLED (| status). Returns the number of entries written.

        No filling when the log is empty, the clock is invalid, or more than 3024 entries would be needed.
        The pending flags are left for the real entry that follows.
        """
        _check_time("fill-gap time", until_t)
        status = _check_status("fill status", status)
        last = self.log.last()
        if last is None or not clock_valid:
            return 0
        p = self.period_s
        first = self.next_period_end(last.t)
        if first >= until_t:
            return 0
        count = (until_t - 1 - first) // p + 1
        if count > LP_FILL_MAX_ENTRIES:
            return 0
        flags = DATA_FILLED | status
        for k in range(count):
            self.log.append(LoadProfileEntry(first + k * p, dict(last.values), flags))
        return count

    def set_period(self, period_s: int) -> None:
        """Change the integration period after installation (§4.1); see the class docstring for old entries."""
        period_min = _period_min(period_s)
        if period_min == self._period_min:
            return
        self._period_min = period_min
        self.log.resize(self._capacity_for(period_min))

    def settings_state(self) -> dict[str, Any]:
        """`to_state` but for the entries (what meter_sim/log_journal.py watches besides them)."""
        return {"period_s": self.period_s, "channels": list(self.channels), "variant2": self.variant2,
                "pending": self._pending}

    def to_state(self) -> dict[str, Any]:
        return {**self.settings_state(), "log": self.log.to_state()}

    def restore(self, state: Mapping[str, Any]) -> None:
        self._period_min = _period_min(state.get("period_s"))
        self.channels = self._check_channels(state.get("channels", ()))
        self.variant2 = bool(state.get("variant2", False))
        self._pending = _check_status("pending status", state.get("pending", 0))
        self.log.restore(state["log"])
        # The table is the authority on capacity; a state written with another capacity is trimmed to it.
        self.log.resize(self._capacity_for(self._period_min))

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        lp = cls(state.get("period_s", 900), state.get("channels", ("1.8.0",)), variant2=bool(state.get("variant2")))
        lp.restore(state)
        return lp


# --- analysis logger (§4.4) -----------------------------------------------------------------------

ANALYSIS_INTERVALS_S = (300, 900, 1800, 3600)
ANALYSIS_DEFAULT_INTERVAL_S = 900
ANALYSIS_MAX_CHANNELS = 16
# (inferred) A fixed pool of values sized so the data sheet's "2.5–520 days" holds at both ends:
# 1 channel × 24 per day × 520 days = 12,480 values; 16 channels at 5 min then get 780 entries = 2.71 days ≥ 2.5.
ANALYSIS_POOL_VALUES = 12_480

AnalysisValue = float | int | None


@dataclass(frozen=True, slots=True)
class AnalysisEntry:
    t: int  # end of the interval, UTC seconds
    values: dict[str, AnalysisValue]


ANALYSIS_CODEC: Codec[AnalysisEntry] = dataclass_codec(AnalysisEntry)


def check_analysis_config(channels: Sequence[str], interval_s: int) -> tuple[tuple[str, ...], int]:
    chans = tuple(channels)
    if not 1 <= len(chans) <= ANALYSIS_MAX_CHANNELS:
        raise ValueError(f"analysis-logger channels must number 1–{ANALYSIS_MAX_CHANNELS}, got {len(chans)}")
    for c in chans:
        if not isinstance(c, str) or not c:
            raise ValueError(f"analysis-logger channel keys must be non-empty strings, got {c!r}")
    if len(set(chans)) != len(chans):
        raise ValueError(f"analysis-logger channels must be distinct, got {chans!r}")
    if isinstance(interval_s, bool) or interval_s not in ANALYSIS_INTERVALS_S:
        raise ValueError(f"analysis-logger interval_s must be one of 300, 900, 1800, 3600 s, got {interval_s!r}")
    return chans, interval_s


class AnalysisLogger:
    """Analysis logger 1.1.99.1.1.255: 1–16 free channels every 5/15/30/60 min, from a fixed value pool.

    `reconfigure` clears the log when channels or interval change (our choice: the entry layout and time
    base change, so old entries would be misread; a DLMS profile also empties its buffer when its capture
    objects are rewritten). Reconfiguring to the same settings is a no-op.
    """

    def __init__(self, channels: Sequence[str], interval_s: int = ANALYSIS_DEFAULT_INTERVAL_S) -> None:
        self.channels, self.interval_s = check_analysis_config(channels, interval_s)
        self.log: RingLog[AnalysisEntry] = RingLog(ANALYSIS_POOL_VALUES // len(self.channels), ANALYSIS_CODEC,
                                                   self._rows)

    def _rows(self, entries: list[AnalysisEntry]) -> Rows[AnalysisEntry]:
        """The entries packed as (t, the channels' values); an entry with a value that is not a float (None: not
        measured) is kept as it is."""
        return channel_rows(AnalysisEntry, self.channels, entries, status=False)

    @property
    def capacity(self) -> int:
        return self.log.capacity

    @property
    def depth_days(self) -> float:
        return self.capacity * self.interval_s / 86400

    def __len__(self) -> int:
        return len(self.log)

    def entries(self) -> list[AnalysisEntry]:
        return self.log.entries()

    def last(self) -> AnalysisEntry | None:
        return self.log.last()

    def query(
        self, start: int | None = None, end: int | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[AnalysisEntry], int]:
        return self.log.query(start, end, offset, limit)

    def record(self, t: int, values: Mapping[str, AnalysisValue]) -> AnalysisEntry:
        """Store the channels' values at t; extra keys are ignored, a channel without a value is stored as None
        (e.g. THD I on a CT meter)."""
        _check_time("analysis-logger time", t)
        entry = AnalysisEntry(t, {c: values.get(c) for c in self.channels})
        self.log.append(entry)
        return entry

    def reconfigure(self, channels: Sequence[str], interval_s: int) -> None:
        chans, interval = check_analysis_config(channels, interval_s)
        if chans == self.channels and interval == self.interval_s:
            return
        self.channels, self.interval_s = chans, interval
        self.log = RingLog(ANALYSIS_POOL_VALUES // len(chans), ANALYSIS_CODEC, self._rows)

    def settings_state(self) -> dict[str, Any]:
        """`to_state` but for the entries."""
        return {"channels": list(self.channels), "interval_s": self.interval_s}

    def to_state(self) -> dict[str, Any]:
        return {**self.settings_state(), "log": self.log.to_state()}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.channels, self.interval_s = check_analysis_config(state.get("channels", ()), state.get("interval_s", 0))
        self.log.restore(state["log"])
        self.log.resize(ANALYSIS_POOL_VALUES // len(self.channels))

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        logger = cls(state.get("channels", ()), state.get("interval_s", ANALYSIS_DEFAULT_INTERVAL_S))
        logger.restore(state)
        return logger


# --- debiting (billing) loggers (§4.2, §4.3) ------------------------------------------------------

MONTHLY_DEBITING_CAPACITY = BILLING.fixed_capacity
DEBITING2_CAPACITY = DEBITING_LOGGER_2.fixed_capacity

SnapshotValue = float | int | str | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The captured registers at one debiting stop, keyed by OBIS code (or register key)."""

    t: int
    registers: dict[str, SnapshotValue]


SNAPSHOT_CODEC: Codec[Snapshot] = dataclass_codec(Snapshot)


class BillingLog(RingLog[Snapshot]):
    """Debiting logger: `billing` (monthly) or `debiting_logger_2`, with the logger table's capacities."""

    __slots__ = ()

    def __init__(self, capacity: int = MONTHLY_DEBITING_CAPACITY, codec: Codec[Snapshot] = SNAPSHOT_CODEC) -> None:
        super().__init__(capacity, codec)

    @classmethod
    def monthly(cls) -> BillingLog:
        return cls(MONTHLY_DEBITING_CAPACITY)

    @classmethod
    def debiting2(cls) -> BillingLog:
        return cls(DEBITING2_CAPACITY)

    def snapshot(self, t: int, registers: Mapping[str, SnapshotValue]) -> Snapshot:
        entry = Snapshot(_check_time("snapshot time", t), dict(registers))
        self.append(entry)
        return entry

    @classmethod
    def from_state(cls, state: Mapping[str, Any], codec: Codec[Snapshot] = SNAPSHOT_CODEC) -> Self:
        return super().from_state(state, codec)


# --- event loggers (§4.5) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One logged event; `detail` holds plain JSON values only (they are persisted as they are)."""

    t: int
    type: str
    detail: dict[str, Any] = field(default_factory=dict)


EVENT_CODEC: Codec[Event] = dataclass_codec(Event)

EVENT_LOG_CAPACITIES: dict[str, int] = {lg.name: lg.fixed_capacity for lg in EVENT_LOGGERS}

RTC_LOG_FILTER_S = 7  # §13: a clock change smaller than 7 s is not logged (the filter is optional)


class EventLogs:
    """All event and quality loggers of §4.5 (and our tariff and prepayment logs), by their names in the table."""

    CAPACITIES: ClassVar[Mapping[str, int]] = EVENT_LOG_CAPACITIES

    def __init__(self) -> None:
        self._logs: dict[str, RingLog[Event]] = {
            name: RingLog(cap, EVENT_CODEC) for name, cap in self.CAPACITIES.items()
        }

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._logs)

    def __getitem__(self, name: str) -> RingLog[Event]:
        try:
            return self._logs[name]
        except KeyError:
            raise ValueError(f"unknown event logger {name!r}; known: {', '.join(self._logs)}") from None

    def log(self, name: str, t: int, type: str, /, **detail: Any) -> Event:
        ring = self[name]
        event = Event(_check_time("event time", t), type, detail)
        ring.append(event)
        return event

    def query(
        self, name: str, start: int | None = None, end: int | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[Event], int]:
        return self[name].query(start, end, offset, limit)

    def log_rtc_adjustment(
        self, old_t: int, new_t: int, *, source: str, filter_s: int | None = RTC_LOG_FILTER_S
    ) -> Event | None:
        """Log a clock change at the new time unless |change| < filter_s (None disables the filter).

        The load profile's CLOCK_ADJUSTED flag is the caller's business and does not depend on this filter.
        """
        _check_time("old clock time", old_t)
        _check_time("new clock time", new_t)
        delta = new_t - old_t
        if filter_s is not None and abs(delta) < filter_s:
            return None
        return self.log("rtc_adjustment", new_t, "clock_adjusted", old=old_t, new=new_t, delta_s=delta, source=source)

    def to_state(self) -> dict[str, Any]:
        return {name: ring.to_state() for name, ring in self._logs.items()}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Loggers absent from the state start empty; each keeps this version's capacity (newest entries win)."""
        unknown = set(state) - set(self._logs)
        if unknown:
            raise ValueError(f"unknown event logger(s) in state: {sorted(unknown)}")
        for name, ring in self._logs.items():
            if name in state:
                ring.restore(cast(Mapping[str, Any], state[name]))
                ring.resize(self.CAPACITIES[name])
            else:
                ring.clear()

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        logs = cls()
        logs.restore(state)
        return logs
