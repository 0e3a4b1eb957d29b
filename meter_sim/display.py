"""The LCD: display lists, the list/start-up state machine, and rendering one item as text.

Spec: facts digest §6.2 (left button), §6.3 (fields, formats, lists), §6.4 (start-up), §1 (phase present at
U ≥ 160 V, starting threshold 2.3 W / CT 0.6 W, quadrant arrows blank below 10 mA), Z1 in §11.2.

Three parts, all pure (time comes in as int seconds, nothing is read from a clock):
- `DisplayLists`: the three configurable lists (automatic ≤ 16, manual ≤ 30, battery ≤ 8) for one energy type.
- `Display`: which item is on the LCD at time t: START_ROM → START_SW → START_PHASES (5 s each), then AUTO
  (10 s per item), MANUAL (left button; back to AUTO 120 s after the last press), BACKUP (no mains).
- `render()`: one item plus the indicator inputs → `LcdText` (value field, unit, OBIS id, text field, symbols).

`values` passed to `render` are keyed by OBIS display code ("1.8.0") in the register table's published units
(kWh, kvarh, kVAh, W, var, VA, V, A, Hz, h), the same convention the protocol codecs use. A few extra keys
are understood: "1.0.0" (local wall-clock time, see `render`), "sw_revision" (text field of the SW screen).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum, StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

# §1: a phase is present at U ≥ 160 V; §6.3: a per-phase current arrow when |P| exceeds the starting threshold
from meter_sim.metrology import PHASE_PRESENT_V, STARTING_THRESHOLD_CT_W, STARTING_THRESHOLD_W
from omnipower.registers import ALL_ENERGY_TYPES, ALL_REGISTERS, MAX_TARIFF, REGISTERS_BY_OBIS, Kind

__all__ = [
    "AUTOMATIC_MAX",
    "AUTO_STEP_S",
    "BACKUP_TIMEOUT_S",
    "BATTERY_MAX",
    "DISPLAY_ITEMS",
    "MANUAL_MAX",
    "MANUAL_TIMEOUT_S",
    "PHASES_ITEM",
    "ROM_ITEM",
    "START_STEP_S",
    "SW_ITEM",
    "Display",
    "DisplayLists",
    "DisplayState",
    "ItemFormat",
    "ItemSpec",
    "LcdText",
    "Symbols",
    "legal_items",
    "render",
]

# --- numbers from the spec ------------------------------------------------------------------------------------------
AUTOMATIC_MAX = 16  # §6.3 list table
MANUAL_MAX = 30
BATTERY_MAX = 8
START_STEP_S = 5  # §6.4: 0–5 s ROM checksum, 5–10 s SW number, 10–15 s phase indicators
AUTO_STEP_S = 10  # §6.3: automatic list advances every 10 s, fixed
MANUAL_TIMEOUT_S = 120  # §6.2: back to the automatic list 2 min after the last press
BACKUP_TIMEOUT_S = 120  # (inferred) the battery display blanks 2 min after the last press, like the manual timeout
QUADRANT_MIN_A = 0.010  # §1: quadrant arrows blank below 10 mA RMS
VALUE_DIGITS = 9  # §6.3: 9-digit value field
ID_DIGITS = 7  # 7-digit OBIS identification field

# Z1 → (integer digits, decimals). §6.3/§11.2: direct 7.0/6.1/7.2/6.3; CT 7.0/7.1/7.2 (Z1 = 4 not on CT).
Z1_FORMATS_DIRECT: dict[int, tuple[int, int]] = {1: (7, 0), 2: (6, 1), 3: (7, 2), 4: (6, 3)}
Z1_FORMATS_CT: dict[int, tuple[int, int]] = {1: (7, 0), 2: (7, 1), 3: (7, 2)}

# Start-up screens (§6.4) and pseudo items
ROM_ITEM = "96.54.1"  # ROM checksum (CSUM) "with its OBIS code"
SW_ITEM = "0.2.0"  # SW number in the value field, revision in the text field
PHASES_ITEM = "phases"  # 10–15 s: phase voltage, current direction and sequence indicators only
DATE_TIME_ITEM = "1.0.0"
DISCONNECT_ITEM = "disconnect"
TEST_ITEM = "display_test"

_LEGAL_ORDER = ("1.8.0", "2.8.0", "3.8.0", "4.8.0")


# --- the item catalogue ---------------------------------------------------------------------------------------------
class ItemFormat(Enum):
    ENERGY = "energy"  # Z1 format, truncated
    POWER = "power"  # kW / kvar / kVA, 2.3
    VOLTAGE = "voltage"  # V, 1 decimal
    CURRENT = "current"  # A, 2 decimals
    POWER_FACTOR = "power_factor"  # 3 decimals, no unit
    FREQUENCY = "frequency"  # Hz, 2 decimals
    THD = "thd"  # %, 1 decimal
    HOURS = "hours"  # whole hours, truncated
    COUNT = "count"  # whole number, no unit
    PULSE = "pulse"  # pulse input in its own unit, whole units, truncated
    ID = "id"  # identification string, no unit
    DATE_TIME = "date_time"
    LOG = "log"  # entry point of a logger view (browsing is not modelled)
    DISCONNECT = "disconnect"
    TEST = "test"
    PHASES = "phases"


@dataclass(frozen=True, slots=True)
class ItemSpec:
    code: str  # the list entry
    fmt: ItemFormat
    unit: str = ""
    text: str = ""  # text field (MAX, HRS, ...)
    ident: str = ""  # what the 7-digit identification field shows
    energy_types: frozenset[int] = ALL_ENERGY_TYPES
    list_item: bool = True  # False: start-up screens only


# The LCD's format of each kind of quantity in the register table; the unit is the table's.
_KIND_FORMAT: dict[Kind, ItemFormat] = {
    Kind.ENERGY: ItemFormat.ENERGY,
    Kind.REACTIVE_ENERGY: ItemFormat.ENERGY,
    Kind.APPARENT_ENERGY: ItemFormat.ENERGY,
    Kind.ENERGY_BALANCE: ItemFormat.ENERGY,
    Kind.POWER: ItemFormat.POWER,
    Kind.REACTIVE_POWER: ItemFormat.POWER,
    Kind.APPARENT_POWER: ItemFormat.POWER,
    Kind.VOLTAGE: ItemFormat.VOLTAGE,
    Kind.CURRENT: ItemFormat.CURRENT,
    Kind.POWER_FACTOR: ItemFormat.POWER_FACTOR,
    Kind.FREQUENCY: ItemFormat.FREQUENCY,
    Kind.PERCENT: ItemFormat.THD,
    Kind.HOURS: ItemFormat.HOURS,
    Kind.INTEGER: ItemFormat.COUNT,
}


def _lcd_unit(kind: Kind) -> str:
    """The register table's unit of a kind; powers in k (the LCD shows W as kW, var as kvar, VA as kVA)."""
    unit = kind.spec.unit or ""
    return f"k{unit}" if _KIND_FORMAT[kind] is ItemFormat.POWER else unit


def _build_catalogue() -> dict[str, ItemSpec]:
    items: dict[str, ItemSpec] = {}

    def measured(code: str, text: str = "", *, like: str | None = None) -> None:
        """A quantity of the register table: format, unit and energy types from its register, or from the register
        it is shown like (`like`: a trip register like its energy register, |A| and A net like A+, PTH like P+)."""
        register = REGISTERS_BY_OBIS[like or code]
        items[code] = ItemSpec(code, _KIND_FORMAT[register.kind], _lcd_unit(register.kind), text, code,
                               register.energy_types)

    def add(code: str, fmt: ItemFormat, text: str = "", *, ident: str | None = None, list_item: bool = True) -> None:
        """An item that is no metered quantity (identification, logs, counters, the pseudo items)."""
        items[code] = ItemSpec(code, fmt, "", text, code if ident is None else ident, ALL_ENERGY_TYPES, list_item)

    # TD Table 31 (§6.3), group by group
    for c in (1, 2, 3, 4, 15, 16, 5, 6, 7, 8, 9, 10, 21, 41, 61, 22, 42, 62):
        measured(f"{c}.8.0", like="1.8.0" if c in (15, 16) else None)
    for c in (1, 2, 3, 4, 9, 10):  # §2.3: A±, R± and E± per tariff
        for t in range(1, MAX_TARIFF + 1):
            measured(f"{c}.8.{t}")
    for c in (1, 2, 3, 4, 9, 10):
        measured(f"{c}.128.0", "TRIP", like=f"{c}.8.0")
    for c in (1, 2, 3, 4, 9, 10, 21, 41, 61):
        measured(f"{c}.7.0")
    for code in ("1.6.0", "2.6.0", "3.6.0", "4.6.0", *(f"1.6.{t}" for t in range(1, MAX_TARIFF + 1)), "3.6.1", "3.6.2"):
        measured(code, "MAX")
    for code in ("1.2.0", "2.2.0", "3.2.0", "4.2.0", "1.2.1", "1.2.2"):
        measured(code, "ACC")  # text (inferred)
    measured("1.16.0", "MAX")
    measured("1.13.0", "MIN")
    for n in (1, 2, 3):
        add(f"0.0.{n}", ItemFormat.ID, f"NUM/{n}")
    add("96.1.0", ItemFormat.ID)
    add("0.130.1", ItemFormat.ID, "SPC/1")
    add(ROM_ITEM, ItemFormat.ID, "CSUM")
    add(SW_ITEM, ItemFormat.ID)  # text field: the SW revision
    add("97.97.0", ItemFormat.ID, "INFO")
    for c in (32, 52, 72):
        measured(f"{c}.7.0")
        measured(f"{c}.7.124", "THD")
    for c in (31, 51, 71):
        measured(f"{c}.7.0")
        measured(f"{c}.7.124", "THD")
    for c in (33, 53, 73, 13):
        measured(f"{c}.7.0", "PF")
    measured("14.7.0", "FREQ")
    add(DATE_TIME_ITEM, ItemFormat.DATE_TIME)
    add("0.1.0", ItemFormat.COUNT, "RST")
    add("98.1.0", ItemFormat.LOG, "HIST")
    add("99.1.0", ItemFormat.LOG, "LP")
    measured("96.51.1", "PTH", like="1.7.0")
    add("96.51.2", ItemFormat.COUNT, "CNT")
    measured("96.8.0", "HRS")
    add("0.128.1", ItemFormat.PULSE)
    measured("130.0.0", "PP")
    measured("130.0.1", "CRED")  # text (inferred)
    add("0.4.2", ItemFormat.COUNT, "CTR")
    add(DISCONNECT_ITEM, ItemFormat.DISCONNECT, "DISC", ident="")
    add(TEST_ITEM, ItemFormat.TEST, ident="8888888")
    add(PHASES_ITEM, ItemFormat.PHASES, ident="", list_item=False)

    # Everything else the register table measures (per-phase P−/Q/S, mean power, tariff ...), the same way.
    # Timestamps and enum states are not display items.
    for reg in ALL_REGISTERS:
        if reg.kind in _KIND_FORMAT and reg.obis not in items and re.fullmatch(r"\d+\.\d+\.\d+", reg.obis):
            measured(reg.obis)
    return items


DISPLAY_ITEMS: dict[str, ItemSpec] = _build_catalogue()


def legal_items(energy_type: int) -> tuple[str, ...]:
    """The legal energy registers of energy type X9 (1 A+ · 2 A+/A− · 3 A+/R+ · 4 A+/A−/R+/R−)."""
    return tuple(code for code in _LEGAL_ORDER if energy_type in DISPLAY_ITEMS[code].energy_types)


# --- the three lists ------------------------------------------------------------------------------------------------
DEFAULT_AUTOMATIC = ("1.8.0", "2.8.0", "1.7.0", "2.7.0", "32.7.0", "52.7.0", "72.7.0", "1.0.0")
DEFAULT_MANUAL = (
    "1.8.0", "2.8.0", "3.8.0", "4.8.0", "1.8.1", "1.8.2", "2.8.1", "2.8.2", "1.7.0", "2.7.0",
    "32.7.0", "52.7.0", "72.7.0", "31.7.0", "51.7.0", "71.7.0", "13.7.0", "14.7.0", "1.6.0", "96.8.0",
    "1.0.0", "display_test",
)
DEFAULT_BATTERY = ("1.8.0", "2.8.0", "1.0.0")
_LIMITS = {"automatic": AUTOMATIC_MAX, "manual": MANUAL_MAX, "battery": BATTERY_MAX}


def _available(codes: Iterable[str], energy_type: int) -> tuple[str, ...]:
    return tuple(c for c in codes if energy_type in DISPLAY_ITEMS[c].energy_types)


class DisplayLists(BaseModel):
    """The display lists of one meter (Z5; changeable later remotely or with METERTOOL).

    The manual list always holds the legal energy registers of the energy type: a list given without them
    gets the missing ones prepended (in the order 1.8.0, 2.8.0, 3.8.0, 4.8.0), because the meter does not let
    them be deselected [DS]; the 30-item limit counts them. Defaults not given are the module defaults
    restricted to what the energy type has. Codes must be known display items the energy type has; no
    duplicates; "disconnect" only in the manual list (it needs the held left button, inferred); the
    automatic list needs at least one item; an empty battery list means the battery display is not selected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    energy_type: Literal[1, 2, 3, 4] = 4  # X9, as in omnipower.registers
    automatic: tuple[str, ...] = DEFAULT_AUTOMATIC
    manual: tuple[str, ...] = DEFAULT_MANUAL
    battery: tuple[str, ...] = DEFAULT_BATTERY

    @model_validator(mode="before")
    @classmethod
    def _defaults_and_legal(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        et = out.get("energy_type", 4)
        if et not in ALL_ENERGY_TYPES:
            return out  # the field validation names the error
        defaults = {"automatic": DEFAULT_AUTOMATIC, "manual": DEFAULT_MANUAL, "battery": DEFAULT_BATTERY}
        for name, default in defaults.items():
            if name not in out:
                out[name] = _available(default, int(et))
        manual = out["manual"]
        if isinstance(manual, list | tuple) and all(isinstance(c, str) for c in manual):
            missing = tuple(c for c in legal_items(int(et)) if c not in manual)
            out["manual"] = (*missing, *manual)
        return out

    @field_validator("automatic", "manual", "battery")
    @classmethod
    def _check_list(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        name = str(info.field_name)
        limit = _LIMITS[name]
        if len(value) > limit:
            extra = " (including the legal items that cannot be removed)" if name == "manual" else ""
            raise ValueError(f"{name} display list has {len(value)} items{extra}; at most {limit} allowed")
        if name == "automatic" and not value:
            raise ValueError("automatic display list needs at least 1 item (at most 16)")
        et = info.data.get("energy_type")
        seen: set[str] = set()
        for code in value:
            spec = DISPLAY_ITEMS.get(code)
            if spec is None or not spec.list_item:
                raise ValueError(f"{name} display list: unknown display item {code!r}")
            if et is not None and et not in spec.energy_types:
                raise ValueError(f"{name} display list: {code!r} does not exist on energy type {et}")
            if code in seen:
                raise ValueError(f"{name} display list: {code!r} appears twice")
            if code == DISCONNECT_ITEM and name != "manual":
                raise ValueError(f"{name} display list: 'disconnect' is allowed only in the manual list")
            seen.add(code)
        return value


# --- the state machine ----------------------------------------------------------------------------------------------
class DisplayState(StrEnum):
    OFF = "off"  # never powered (no mains, display blank)
    START_ROM = "start_rom"
    START_SW = "start_sw"
    START_PHASES = "start_phases"
    AUTO = "auto"
    MANUAL = "manual"
    BACKUP = "backup"  # no mains: battery list on the left button, blank otherwise


_START_STATES = (DisplayState.START_ROM, DisplayState.START_SW, DisplayState.START_PHASES)
_START_ITEMS = {DisplayState.START_ROM: ROM_ITEM, DisplayState.START_SW: SW_ITEM,
                DisplayState.START_PHASES: PHASES_ITEM}


class Display:
    """Which item the LCD shows at time t. Every transition happens at an exact second computed from the
    event that caused it (power-on + 15 s, last press + 120 s), so calling `tick` late changes nothing.

    - power_on: START_ROM (0–5 s), START_SW (5–10 s), START_PHASES (10–15 s), then AUTO from its first item,
      item k shown during [boot + 15 + 10k, boot + 25 + 10k) cyclically.
    - press in AUTO: MANUAL showing the first manual item; each further press steps to the next (cyclic).
      At last press + 120 s: AUTO again, restarting at its first item (inferred). Presses during start-up are
      ignored (the 5 s hold that delays the radio is not modelled).
    - power_off: BACKUP, blank. A press shows the first battery item, further presses step; blank again
      120 s after the last press (inferred, saves the battery). With an empty battery list it stays blank.
    Times must not go backwards (ValueError).
    """

    def __init__(self, lists: DisplayLists | None = None) -> None:
        self.lists = lists if lists is not None else DisplayLists()
        self._state = DisplayState.OFF
        self._since = 0  # boot time (start-up states) or the second the current AUTO cycle started
        self._index = -1  # position in the manual / battery list; -1 = blank (BACKUP)
        self._last_press: int | None = None
        self._last_t: int | None = None

    @property
    def state(self) -> DisplayState:
        """The state as of the last call."""
        return self._state

    def _advance(self, t: int) -> None:
        if isinstance(t, bool) or not isinstance(t, int):
            raise TypeError(f"display time must be int seconds, got {t!r}")
        if self._last_t is not None and t < self._last_t:
            raise ValueError(f"display time went backwards: {t} < {self._last_t}")
        self._last_t = t
        if self._state in _START_STATES:
            elapsed = t - self._since
            if elapsed >= 3 * START_STEP_S:
                self._state = DisplayState.AUTO
                self._since += 3 * START_STEP_S
            else:
                self._state = _START_STATES[elapsed // START_STEP_S]
        elif self._state is DisplayState.MANUAL:
            assert self._last_press is not None
            if t >= self._last_press + MANUAL_TIMEOUT_S:
                self._state = DisplayState.AUTO
                self._since = self._last_press + MANUAL_TIMEOUT_S
                self._index = -1
        elif self._state is DisplayState.BACKUP and self._index >= 0:
            assert self._last_press is not None
            if t >= self._last_press + BACKUP_TIMEOUT_S:
                self._index = -1

    def tick(self, t: int) -> DisplayState:
        """Advance to time t; return the state."""
        self._advance(t)
        return self._state

    def power_on(self, t: int) -> None:
        """Mains returned (or first power-up): run the start-up sequence. Ignored while already powered."""
        self._advance(t)
        if self._state in (DisplayState.OFF, DisplayState.BACKUP):
            self._state = DisplayState.START_ROM
            self._since = t
            self._index = -1
            self._last_press = None

    def power_off(self, t: int) -> None:
        """Mains lost: the battery display (blank until the left button is pressed)."""
        self._advance(t)
        if self._state is not DisplayState.BACKUP:
            self._state = DisplayState.BACKUP
            self._index = -1
            self._last_press = None

    def press(self, t: int) -> str | None:
        """A short press of the left button; return the item shown afterwards."""
        self._advance(t)
        if self._state is DisplayState.AUTO:
            self._state = DisplayState.MANUAL
            self._index = 0
            self._last_press = t
        elif self._state is DisplayState.MANUAL:
            self._index = (self._index + 1) % len(self.lists.manual)
            self._last_press = t
        elif self._state is DisplayState.BACKUP and self.lists.battery:
            self._index = 0 if self._index < 0 else (self._index + 1) % len(self.lists.battery)
            self._last_press = t
        return self._item()

    def current_item(self, t: int) -> str | None:
        """The item on the LCD at t (list code, a start-up item, or None when blank)."""
        self._advance(t)
        return self._item()

    def _item(self) -> str | None:
        state = self._state
        if state in _START_ITEMS:
            return _START_ITEMS[state]
        if state is DisplayState.AUTO:
            assert self._last_t is not None
            auto = self.lists.automatic
            return auto[(self._last_t - self._since) // AUTO_STEP_S % len(auto)]
        if state is DisplayState.MANUAL:
            return self.lists.manual[self._index]
        if state is DisplayState.BACKUP and self._index >= 0:
            return self.lists.battery[self._index]
        return None

    def to_state(self) -> dict[str, Any]:
        return {"state": self._state.value, "since": self._since, "index": self._index,
                "last_press": self._last_press, "last_t": self._last_t}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore `to_state()` output. A list index beyond a (since shortened) list wraps round."""
        try:
            st = DisplayState(state["state"])
        except ValueError as exc:
            raise ValueError(f"display state must be one of {[s.value for s in DisplayState]}") from exc
        index = int(state["index"])
        if st is DisplayState.MANUAL:
            index %= len(self.lists.manual)
        elif st is DisplayState.BACKUP and index >= 0:
            index = index % len(self.lists.battery) if self.lists.battery else -1
        self._state = st
        self._since = int(state["since"])
        self._index = index
        self._last_press = None if state["last_press"] is None else int(state["last_press"])
        self._last_t = None if state["last_t"] is None else int(state["last_t"])


# --- rendering ------------------------------------------------------------------------------------------------------
PhaseSequence = Literal["L1L2L3", "L1L3L2"]
BreakerInput = Literal["connected", "disconnected", "ready_for_reconnection"]
RfState = Literal["off", "searching", "joined"]
Triple = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Symbols:
    """Inputs of the indicator segments. Raw measurements go in; `render` applies the thresholds.

    phase_powers are signed (+ import, − export) W per phase; p_total/q_total signed W/var (3-phase total,
    quadrant arrows); phase_sequence is what the metrology measured (the display blanks it if a phase is
    missing). breaker None = meter without breaker; the breaker symbol shows only with smart disconnect
    enabled (§6.3/[DS]). tariff None = no tariffs selected (indicator off).
    """

    phase_voltages: Triple = (0.0, 0.0, 0.0)
    phase_powers: Triple = (0.0, 0.0, 0.0)
    phase_currents: Triple = (0.0, 0.0, 0.0)
    p_total: float = 0.0
    q_total: float = 0.0
    phase_sequence: PhaseSequence | None = "L1L2L3"
    tariff: int | None = None
    breaker: BreakerInput | None = None
    smart_disconnect: bool = False
    tamper: bool = False
    error: bool = False
    prepayment: bool = False
    rf: RfState = "off"
    quadrant_arrows: bool = True  # configurable whether shown at all (§1)
    ct_meter: bool = False  # CT meters: arrow threshold 0.6 W

    def __post_init__(self) -> None:
        if self.tariff is not None and not 1 <= self.tariff <= 8:
            raise ValueError(f"tariff indicator must be 1–8 or None, got {self.tariff}")
        if self.phase_sequence not in (None, "L1L2L3", "L1L3L2"):
            raise ValueError(f"phase_sequence must be 'L1L2L3', 'L1L3L2' or None, got {self.phase_sequence!r}")

    @classmethod
    def from_values(cls, values: Mapping[str, float | int | str | None], **state: Any) -> Symbols:
        """Fill the measurement inputs from OBIS-keyed values (V, W, var, A); other fields by keyword."""

        def num(code: str) -> float:
            v = values.get(code)
            return float(v) if isinstance(v, int | float) and math.isfinite(v) else 0.0

        tariff = values.get("96.14.0")
        if "tariff" not in state and isinstance(tariff, int) and 1 <= tariff <= 8:
            state["tariff"] = tariff
        return cls(
            phase_voltages=(num("32.7.0"), num("52.7.0"), num("72.7.0")),
            phase_powers=(num("21.7.0") - num("22.7.0"), num("41.7.0") - num("42.7.0"),
                          num("61.7.0") - num("62.7.0")),
            phase_currents=(num("31.7.0"), num("51.7.0"), num("71.7.0")),
            p_total=num("1.7.0") - num("2.7.0"),
            q_total=num("3.7.0") - num("4.7.0"),
            **state,
        )


@dataclass(frozen=True, slots=True)
class LcdText:
    """The LCD as text. `value` is the value field as shown: digits, '.', ':' and '-' (separators take no
    digit position; a minus sign takes one). `ident` is the identification field, `text` the text field.

    Symbols: tariff (T1–T8 or None) · breaker "connected"/"disconnected"/"off" · tamper · error · prepayment ·
    rf "off"/"searching" (flashing)/"joined" (steady) · phases L1–L3 present · arrows per phase "+", "-" or "" ·
    sequence "L1L2L3"/"L1L3L2"/None · quadrant 1–4 or None (blank).
    """

    item: str
    value: str
    unit: str
    ident: str
    text_field: str
    tariff: int | None
    breaker: str
    tamper: bool
    error: bool
    prepayment: bool
    rf: str
    phases: tuple[bool, bool, bool]
    arrows: tuple[str, str, str]
    sequence: str | None
    quadrant: int | None

    def text(self) -> str:
        """Two ASCII lines.

        Line 1: value right-aligned in 11 columns, unit (5 columns), identification right-aligned in 9, text field.
        Line 2: tariff ("T1" or "--"), L1 L2 L3 ("--" when absent), the three current arrows ("+", "-", "."),
        sequence ("L1L2L3", "L1L3L2" or "------"), quadrant ("Q1".."Q4" or "--"), then only the symbols that are
        on: "BRK:ON"/"BRK:OFF", "TAMPER", "ERR", "PP", "RF" (steady) / "RF?" (flashing, searching).
        Example: "   0012345.67 kWh      1.8.0" / "T1 L1 L2 L3 ++. L1L2L3 Q1 BRK:ON RF".
        """
        line1 = f"{self.value:>11} {self.unit:<5}{self.ident:>9}  {self.text_field}".rstrip()
        tokens = [
            f"T{self.tariff}" if self.tariff is not None else "--",
            *(f"L{n}" if on else "--" for n, on in enumerate(self.phases, start=1)),
            "".join(a or "." for a in self.arrows),
            self.sequence or "------",
            f"Q{self.quadrant}" if self.quadrant is not None else "--",
        ]
        if self.breaker != "off":
            tokens.append("BRK:ON" if self.breaker == "connected" else "BRK:OFF")
        tokens += [name for name, on in (("TAMPER", self.tamper), ("ERR", self.error), ("PP", self.prepayment))
                   if on]
        if self.rf != "off":
            tokens.append("RF" if self.rf == "joined" else "RF?")
        return f"{line1}\n{' '.join(tokens)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "item": self.item, "value": self.value, "unit": self.unit, "ident": self.ident,
            "text_field": self.text_field, "tariff": self.tariff, "breaker": self.breaker,
            "tamper": self.tamper, "error": self.error, "prepayment": self.prepayment, "rf": self.rf,
            "phases": list(self.phases), "arrows": list(self.arrows), "sequence": self.sequence,
            "quadrant": self.quadrant,
        }


_BLANK_VALUE = "-" * VALUE_DIGITS  # a value the meter does not have (None, missing, not finite)


def _decimal(value: float | int | str | None) -> Decimal | None:
    """Exact decimal of what a person reads in the value (repr of a float: 0.29 stays 0.29), or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(value) if isinstance(value, int) else Decimal(repr(float(value)))
    except (ValueError, InvalidOperation):
        return None
    return d if d.is_finite() else None


def _fixed(d: Decimal, int_digits: int, decimals: int, *, zero_pad: bool, rollover: bool, rounding: str) -> str:
    """Format |d| as int_digits.decimals (a minus sign takes one integer digit). `rollover`: keep the last
    digits like a counter wheel (energy registers); otherwise values that do not fit show as blank."""
    try:
        q = d.quantize(Decimal(1).scaleb(-decimals), rounding=rounding)
    except InvalidOperation:  # more digits than the decimal context holds: far beyond any register
        return _BLANK_VALUE
    negative = q < 0
    mag = -q if negative else q
    whole = int(mag)
    frac = int((mag - whole).scaleb(decimals))
    width = int_digits - 1 if negative else int_digits
    if whole >= 10**width:
        if not rollover:
            return _BLANK_VALUE
        whole %= 10**width
    body = f"{whole:0{width}d}" if zero_pad else str(whole)
    if decimals:
        body += f".{frac:0{decimals}d}"
    if negative and (whole or frac):
        body = "-" + body
    return body


def _energy_format(z1: int, ct: bool) -> tuple[int, int]:
    table = Z1_FORMATS_CT if ct else Z1_FORMATS_DIRECT
    if z1 not in table:
        allowed = "1 (7.0), 2 (7.1), 3 (7.2)" if ct else "1 (7.0), 2 (6.1), 3 (7.2), 4 (6.3)"
        raise ValueError(f"z1 must be {allowed}{' on CT meters' if ct else ''}, got {z1!r}")
    return table[z1]


def _wall_time(value: float | int | str | None) -> datetime | None:
    """The wall-clock time a '1.0.0' value stands for: int/float = local wall-clock seconds (t + Rtc.utc_offset(t),
    read as if UTC), or an ISO 8601 string whose own fields are taken as shown."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    d = _decimal(value)
    if d is None:
        return None
    try:
        return datetime.fromtimestamp(int(d), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _value_field(spec: ItemSpec, raw: float | int | str | None, z1: int, ct: bool, zero_pad: bool) -> str:
    fmt = spec.fmt
    if fmt is ItemFormat.ID:
        if raw is None:
            return _BLANK_VALUE
        shown = str(raw).strip()
        return shown[-VALUE_DIGITS:]
    d = _decimal(raw)
    if d is None:
        return _BLANK_VALUE
    if fmt is ItemFormat.ENERGY:
        ints, decs = _energy_format(z1, ct)
        return _fixed(d, ints, decs, zero_pad=zero_pad, rollover=True, rounding=ROUND_DOWN)
    if fmt is ItemFormat.POWER:  # W → kW (var → kvar, VA → kVA), 2.3; wider integer part if it needs it
        return _fixed(d / 1000, VALUE_DIGITS - 3, 3, zero_pad=False, rollover=False, rounding=ROUND_HALF_UP)
    decimals = {ItemFormat.VOLTAGE: 1, ItemFormat.CURRENT: 2, ItemFormat.POWER_FACTOR: 3,
                ItemFormat.FREQUENCY: 2, ItemFormat.THD: 1}.get(fmt)
    if decimals is not None:  # instantaneous values: rounded
        return _fixed(d, VALUE_DIGITS - decimals, decimals, zero_pad=False, rollover=False, rounding=ROUND_HALF_UP)
    # HOURS, COUNT, PULSE: whole units, truncated (a counter never shows more than it counted)
    return _fixed(d, VALUE_DIGITS, 0, zero_pad=False, rollover=True, rounding=ROUND_DOWN)


def render(
    item: str,
    values: Mapping[str, float | int | str | None],
    z1: int,
    symbols: Symbols,
    *,
    ct: bool = False,
    leading_zeros: bool = True,
) -> LcdText:
    """The LCD showing `item`.

    Value formats (§6.3): energy by Z1 (direct 1 = 7.0, 2 = 6.1, 3 = 7.2, 4 = 6.3; CT 7.0/7.1/7.2), TRUNCATED so the
    display never shows more than was registered, with leading zeros (`leading_zeros`) and counter-wheel rollover
    beyond the integer digits (inferred). Power/peaks in kW, kvar, kVA as 2.3, rounded (values come in W).
    (inferred) Voltage 1 decimal V, current 2 decimals A, PF 3 decimals, frequency 2 decimals Hz, THD 1 decimal %
    (the register table's resolutions), all rounded; hours and counters whole, truncated; IDs as given, the last
    9 characters. Date/time "1.0.0": date YYYY:MM:DD in the value field, time HH:MM:SS in the text field (the
    9-digit field cannot hold both; inferred). "disconnect": "on"/"OFF"/"rEAdY" or blank without a breaker.
    "display_test": every digit 8 and every symbol on. A missing value shows as nine dashes.
    Unknown items raise ValueError, so does a Z1 code the meter kind does not have.
    """
    spec = DISPLAY_ITEMS.get(item)
    if spec is None:
        raise ValueError(f"unknown display item {item!r}")
    _energy_format(z1, ct)  # validate z1 whatever the item
    raw = values.get(item)
    text_field = spec.text
    unit = spec.unit
    fmt = spec.fmt
    if fmt is ItemFormat.DATE_TIME:
        wall = _wall_time(raw)
        value = wall.strftime("%Y:%m:%d") if wall else _BLANK_VALUE
        text_field = wall.strftime("%H:%M:%S") if wall else ""
    elif fmt is ItemFormat.DISCONNECT:
        value = {"connected": "on", "disconnected": "OFF", "ready_for_reconnection": "rEAdY"}.get(
            symbols.breaker or "", _BLANK_VALUE)
    elif fmt is ItemFormat.TEST:
        value = "8" * VALUE_DIGITS
    elif fmt in (ItemFormat.PHASES, ItemFormat.LOG):
        value = ""
    else:
        value = _value_field(spec, raw, z1, ct, leading_zeros)
    if item == SW_ITEM:
        rev = values.get("sw_revision")
        text_field = "" if rev is None else str(rev)
    if fmt is ItemFormat.TEST:
        return LcdText(item, value, unit, spec.ident, "TEST", 8, "connected", True, True, True, "joined",
                       (True, True, True), ("+", "+", "+"), "L1L2L3", 1)
    return _with_symbols(item, value, unit, spec.ident, text_field, symbols)


def _with_symbols(item: str, value: str, unit: str, ident: str, text_field: str, s: Symbols) -> LcdText:
    phases = tuple(u >= PHASE_PRESENT_V for u in s.phase_voltages)
    threshold = STARTING_THRESHOLD_CT_W if s.ct_meter else STARTING_THRESHOLD_W
    arrows = tuple("+" if p > threshold else "-" if p < -threshold else "" for p in s.phase_powers)
    sequence = s.phase_sequence if all(phases) else None
    quadrant: int | None = None
    if s.quadrant_arrows and max(s.phase_currents) >= QUADRANT_MIN_A:
        # Q1 import/+Q · Q2 export/+Q · Q3 export/−Q · Q4 import/−Q; zero counts as import / +Q (as metrology)
        quadrant = {(True, True): 1, (False, True): 2, (False, False): 3, (True, False): 4}[
            (s.p_total >= 0, s.q_total >= 0)]
    if s.breaker is None or not s.smart_disconnect:
        breaker = "off"
    else:
        breaker = "connected" if s.breaker == "connected" else "disconnected"  # released: contacts still open
    return LcdText(
        item=item, value=value, unit=unit, ident=ident, text_field=text_field, tariff=s.tariff, breaker=breaker,
        tamper=s.tamper, error=s.error, prepayment=s.prepayment, rf=s.rf,
        phases=(phases[0], phases[1], phases[2]), arrows=(arrows[0], arrows[1], arrows[2]),
        sequence=sequence, quadrant=quadrant,
    )
