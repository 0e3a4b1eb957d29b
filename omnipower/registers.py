"""The register table: every reading of the meter, declared once.

Each `Register` carries its OBIS code, the MQTT state key, the unit it is published in, the DLMS
scaler of its integer encoding, and its Home Assistant entity description. The meter model fills
values by key; MQTT state, HA discovery and (later) codec maps and display lists are derived from
this table, so adding a reading is one line here.

`REGISTERS` is the part every codec map covers (each has a Modbus address, omnipower/modbus_map.py);
`EXTENSION` holds the readings with no Modbus address yet: those added with the meter's 8 tariffs (E± per
tariff, T5–T8, P+max T5–T8, the active tariff plan), the module pulse outputs and the firmware's version and
checksum. `ALL_REGISTERS` is both, in table
order; the look-ups by key and OBIS code cover both. `meter_registers` picks one meter's registers:
see `WHICH_REGISTERS`.

Values are held by the model in SI base units (Wh, varh, VAh, W, var, VA, V, A, Hz, s) and
converted to the published unit by the register's `Kind`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

__all__ = [
    "ALL_REGISTERS",
    "BREAKER_STATES",
    "EXTENSION",
    "MAX_TARIFF",
    "MAX_TARIFF_PLANS",
    "REGISTERS",
    "REGISTERS_BY_KEY",
    "REGISTERS_BY_OBIS",
    "RELAY_STATES",
    "TOTAL_KEYS",
    "WHICH_REGISTERS",
    "Kind",
    "Register",
    "meter_registers",
    "registers_for",
]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """How one kind of quantity is stored, published, described to Home Assistant and put on our Modbus map."""

    unit: str | None  # unit of the published value
    base_per_unit: float  # model (SI base) units per published unit: 1000 Wh per kWh
    decimals: int  # published resolution
    scaler: int  # DLMS scaler of the integer encoding in base units (Kamstrup HAN convention)
    device_class: str | None
    state_class: str | None
    modbus_decimals: int  # resolution on the Modbus map (omnipower/modbus_map.py): 10^-n units per count


class Kind(Enum):
    """Kinds of quantity. Reactive/apparent energy carry no HA device class on purpose: HA added
    `reactive_energy` only in 2024, and discovery must work on every release from 2023 on."""

    ENERGY = KindSpec("kWh", 1000.0, 3, 1, "energy", "total_increasing", 2)
    REACTIVE_ENERGY = KindSpec("kvarh", 1000.0, 3, 1, None, "total_increasing", 2)
    APPARENT_ENERGY = KindSpec("kVAh", 1000.0, 3, 1, None, "total_increasing", 2)
    POWER = KindSpec("W", 1.0, 0, 0, "power", "measurement", 0)
    REACTIVE_POWER = KindSpec("var", 1.0, 0, 0, "reactive_power", "measurement", 0)
    APPARENT_POWER = KindSpec("VA", 1.0, 0, 0, "apparent_power", "measurement", 0)
    VOLTAGE = KindSpec("V", 1.0, 1, 0, "voltage", "measurement", 1)
    CURRENT = KindSpec("A", 1.0, 2, -2, "current", "measurement", 3)
    POWER_FACTOR = KindSpec(None, 1.0, 3, -2, "power_factor", "measurement", 3)
    FREQUENCY = KindSpec("Hz", 1.0, 2, -2, "frequency", "measurement", 2)
    HOURS = KindSpec("h", 3600.0, 0, 0, "duration", "total_increasing", 0)
    TIMESTAMP = KindSpec(None, 1.0, 0, 0, "timestamp", None, 0)
    INTEGER = KindSpec(None, 1.0, 0, 0, None, "measurement", 0)
    ENUM = KindSpec(None, 1.0, 0, 0, "enum", None, 0)
    COUNTER = KindSpec(None, 1.0, 0, 0, None, "total_increasing", 0)
    PERCENT = KindSpec("%", 1.0, 1, -1, None, "measurement", 1)
    ENERGY_BALANCE = KindSpec("kWh", 1000.0, 3, 1, None, "measurement", 3)  # counts down: not total_increasing
    MONEY = KindSpec(None, 1.0, 2, -2, "monetary", "total", 3)  # unit = the configured currency
    PULSE_RATE = KindSpec("Hz", 1.0, 2, -2, None, "measurement", 2)
    VOLUME_M3 = KindSpec("m³", 1.0, 3, -3, "water", "total_increasing", 3)
    VOLUME_L = KindSpec("L", 1.0, 0, 0, "water", "total_increasing", 3)
    PULSE_ENERGY = KindSpec("kWh", 1.0, 3, -3, None, "total_increasing", 3)  # counted by pulses, not measured
    TEXT = KindSpec(None, 1.0, 0, 0, None, None, 0)  # a text the meter reports (its firmware's identity)

    @property
    def spec(self) -> KindSpec:
        return self.value

    @property
    def numeric(self) -> bool:
        """Whether a value of this kind is a number (a time stamp, a state or a text is not)."""
        return self not in (Kind.TIMESTAMP, Kind.ENUM, Kind.TEXT)


MAX_TARIFF = 8  # §2.8: up to 8 tariffs for A+, A−, R+, R−, E+ and E−
BASIC_TARIFFS = 4  # the per-tariff registers every meter publishes (T1–T4); T5–T8 only when selectable
MAX_TARIFF_PLANS = 3  # §2.8: up to 3 internal plans, chosen via PB2 or remotely
ALL_ENERGY_TYPES = frozenset({1, 2, 3, 4})  # X9: 1 A+ · 2 A+/A- · 3 A+/R+ (CT) · 4 A+/A-/R+/R-
EXPORT = frozenset({2, 4})
REACTIVE_IMPORT = frozenset({3, 4})
FOUR_QUADRANT = frozenset({4})

BREAKER_STATES = ("connected", "disconnected", "ready_for_reconnection")
RELAY_STATES = ("off", "on")
PREPAYMENT_STATES = ("credit_ok", "zero_deferred", "zero_disconnected", "emergency_limited", "expired")
PULSE_KINDS = {None: Kind.COUNTER, "kWh": Kind.PULSE_ENERGY, "m³": Kind.VOLUME_M3, "l": Kind.VOLUME_L}
PREPAYMENT_KEYS = ("prepayment_remaining", "prepayment_credit", "prepayment_state")


@dataclass(frozen=True, slots=True)
class Register:
    key: str  # snake_case field of the MQTT state JSON
    obis: str  # display form C.D.E; the DLMS logical name is 1.1.C.D.E.255
    name: str
    kind: Kind
    energy_types: frozenset[int] = ALL_ENERGY_TYPES
    entity_category: str | None = None  # None (primary) or "diagnostic"
    enabled_by_default: bool = True
    icon: str | None = None
    options: tuple[str, ...] = ()  # for ENUM kinds
    unit_override: str | None = None  # a unit set by configuration (the prepayment currency)
    modbus_decimals_override: int | None = None  # a Modbus resolution not its kind's (a unit set by configuration)
    direct_only: bool = False  # not on CT meters (THD I)
    tariff: int = 0  # 1–8 for a per-tariff register (energy or peak), else 0
    phase: int = 0  # 1–3 for a per-phase register, else 0
    medium: str | None = None  # the logical name's A.B where it is not the rule's (see `logical_name`)

    @property
    def unit(self) -> str | None:
        return self.unit_override or self.kind.spec.unit

    @property
    def scaler(self) -> int:
        return self.kind.spec.scaler

    @property
    def decimals(self) -> int:
        return self.kind.spec.decimals

    @property
    def modbus_decimals(self) -> int:
        override = self.modbus_decimals_override
        return self.kind.spec.modbus_decimals if override is None else override

    @property
    def logical_name(self) -> str:
        """Full DLMS/COSEM logical name (A.B.C.D.E.F): 0.0. for the abstract objects (C = 0 or 96), 1.1. for the
        electricity ones, unless the register names its own A.B (`medium`)."""
        prefix = self.medium or ("0.0." if self.obis.startswith(("0.", "96.")) else "1.1.")
        return f"{prefix}{self.obis}.255"

    def publish(self, base_value: float) -> float:
        """Convert a model value (SI base unit) to the published unit and resolution."""
        spec = self.kind.spec
        value = round(base_value / spec.base_per_unit, spec.decimals)
        return value + 0.0  # turns -0.0 into 0.0


def _phases(
    key: str, obis_c: tuple[int, int, int], d_e: str, name: str, kind: Kind, types: frozenset[int] = ALL_ENERGY_TYPES
) -> list[Register]:
    return [
        Register(f"{key}_l{n}", f"{c}.{d_e}", f"{name} L{n}", kind, types, phase=n)
        for n, c in zip((1, 2, 3), obis_c, strict=True)
    ]


def _tariffs(
    key: str, c: int, name: str, kind: Kind, types: frozenset[int], tariffs: Iterable[int] = (1, 2, 3, 4)
) -> list[Register]:
    return [Register(f"{key}_t{t}", f"{c}.8.{t}", f"{name} T{t}", kind, types, tariff=t) for t in tariffs]


def _diag(regs: Register | list[Register], enabled: bool = True) -> list[Register]:
    """Mark registers as diagnostic entities (optionally disabled by default in HA)."""
    items = [regs] if isinstance(regs, Register) else regs
    return [replace(r, entity_category="diagnostic", enabled_by_default=enabled) for r in items]


def _tariff_peaks(
    key: str, c: int, name: str, kind: Kind, types: frozenset[int], tariffs: Iterable[int]
) -> list[Register]:
    return [Register(f"{key}_max_t{t}", f"{c}.6.{t}", f"Peak power {name} T{t}", kind, types, tariff=t)
            for t in tariffs]


def _peaks() -> list[Register]:
    """Peaks of the other quantities (each with its time), per tariff, accumulated, daily P+ max/min."""
    out: list[Register] = []
    for key, c, name, kind, types in (
        ("p_minus", 2, "P-max", Kind.POWER, EXPORT),
        ("q_plus", 3, "Q+max", Kind.REACTIVE_POWER, REACTIVE_IMPORT),
        ("q_minus", 4, "Q-max", Kind.REACTIVE_POWER, FOUR_QUADRANT),
        ("s_plus", 9, "S+max", Kind.APPARENT_POWER, ALL_ENERGY_TYPES),
        ("s_minus", 10, "S-max", Kind.APPARENT_POWER, EXPORT),
    ):
        out.append(Register(f"{key}_max", f"{c}.6.0", f"Peak power {name}", kind, types))
        out.append(Register(f"{key}_max_time", f"{c}.6.0.t", f"Peak power {name} time", Kind.TIMESTAMP, types))
    for key, c, name, kind, types, tariffs in (
        ("p_plus", 1, "P+max", Kind.POWER, ALL_ENERGY_TYPES, (1, 2, 3, 4)),
        ("p_minus", 2, "P-max", Kind.POWER, EXPORT, (1, 2)),
        ("q_plus", 3, "Q+max", Kind.REACTIVE_POWER, REACTIVE_IMPORT, (1, 2)),
    ):
        out += _tariff_peaks(key, c, name, kind, types, tariffs)
    for key, code, name, kind, types, tariff in (
        ("p_plus_max_acc", "1.2.0", "Accumulated P+max", Kind.POWER, ALL_ENERGY_TYPES, 0),
        ("p_plus_max_acc_t1", "1.2.1", "Accumulated P+max T1", Kind.POWER, ALL_ENERGY_TYPES, 1),
        ("p_plus_max_acc_t2", "1.2.2", "Accumulated P+max T2", Kind.POWER, ALL_ENERGY_TYPES, 2),
        ("p_minus_max_acc", "2.2.0", "Accumulated P-max", Kind.POWER, EXPORT, 0),
        ("q_plus_max_acc", "3.2.0", "Accumulated Q+max", Kind.REACTIVE_POWER, REACTIVE_IMPORT, 0),
        ("q_minus_max_acc", "4.2.0", "Accumulated Q-max", Kind.REACTIVE_POWER, FOUR_QUADRANT, 0),
    ):
        out.append(Register(key, code, name, kind, types, tariff=tariff))
    out += [
        Register("p_plus_daily_max", "1.16.0", "Daily P+ maximum", Kind.POWER),
        Register("p_plus_daily_max_time", "1.16.0.t", "Daily P+ maximum time", Kind.TIMESTAMP),
        Register("p_plus_daily_min", "1.13.0", "Daily P+ minimum", Kind.POWER),
        Register("p_plus_daily_min_time", "1.13.0.t", "Daily P+ minimum time", Kind.TIMESTAMP),
        Register("power_threshold_counter", "96.51.2", "Power threshold counter", Kind.COUNTER),
        Register("debiting_periods", "0.1.0", "Debiting periods", Kind.COUNTER),
    ]
    return [replace(r, enabled_by_default=False) for r in out]


REGISTERS: tuple[Register, ...] = (
    # Energy totals (quadrant groupings: A+ = Q1+Q4, A- = Q2+Q3, R+ = Q1+Q2, R- = Q3+Q4)
    Register("a_plus", "1.8.0", "Active energy import A+", Kind.ENERGY),
    Register("a_minus", "2.8.0", "Active energy export A-", Kind.ENERGY, EXPORT),
    Register("r_plus", "3.8.0", "Reactive energy import R+", Kind.REACTIVE_ENERGY, REACTIVE_IMPORT),
    Register("r_minus", "4.8.0", "Reactive energy export R-", Kind.REACTIVE_ENERGY, FOUR_QUADRANT),
    *_diag(Register("r1", "5.8.0", "Reactive energy Q1", Kind.REACTIVE_ENERGY, FOUR_QUADRANT), enabled=False),
    *_diag(Register("r2", "6.8.0", "Reactive energy Q2", Kind.REACTIVE_ENERGY, FOUR_QUADRANT), enabled=False),
    *_diag(Register("r3", "7.8.0", "Reactive energy Q3", Kind.REACTIVE_ENERGY, FOUR_QUADRANT), enabled=False),
    *_diag(Register("r4", "8.8.0", "Reactive energy Q4", Kind.REACTIVE_ENERGY, FOUR_QUADRANT), enabled=False),
    Register("e_plus", "9.8.0", "Apparent energy import E+", Kind.APPARENT_ENERGY, FOUR_QUADRANT),
    Register("e_minus", "10.8.0", "Apparent energy export E-", Kind.APPARENT_ENERGY, FOUR_QUADRANT),
    # Tariff registers
    *_tariffs("a_plus", 1, "Active energy import A+", Kind.ENERGY, ALL_ENERGY_TYPES),
    *_tariffs("a_minus", 2, "Active energy export A-", Kind.ENERGY, EXPORT),
    *_tariffs("r_plus", 3, "Reactive energy import R+", Kind.REACTIVE_ENERGY, REACTIVE_IMPORT),
    *_tariffs("r_minus", 4, "Reactive energy export R-", Kind.REACTIVE_ENERGY, FOUR_QUADRANT),
    # Per-phase active energy
    *_diag(_phases("a_plus", (21, 41, 61), "8.0", "Active energy import A+", Kind.ENERGY)),
    *_diag(_phases("a_minus", (22, 42, 62), "8.0", "Active energy export A-", Kind.ENERGY, EXPORT)),
    # Instantaneous totals
    Register("p_plus", "1.7.0", "Active power import P+", Kind.POWER),
    Register("p_minus", "2.7.0", "Active power export P-", Kind.POWER, EXPORT),
    Register("q_plus", "3.7.0", "Reactive power import Q+", Kind.REACTIVE_POWER, REACTIVE_IMPORT),
    Register("q_minus", "4.7.0", "Reactive power export Q-", Kind.REACTIVE_POWER, FOUR_QUADRANT),
    Register("s_plus", "9.7.0", "Apparent power import S+", Kind.APPARENT_POWER),
    Register("s_minus", "10.7.0", "Apparent power export S-", Kind.APPARENT_POWER, EXPORT),
    # Instantaneous per phase (per-phase Q/S OBIS numbering as in the OMNIA successor)
    *_phases("p_plus", (21, 41, 61), "7.0", "Active power import", Kind.POWER),
    *_phases("p_minus", (22, 42, 62), "7.0", "Active power export", Kind.POWER, EXPORT),
    *_diag(_phases("q_plus", (23, 43, 63), "7.0", "Reactive power import", Kind.REACTIVE_POWER), enabled=False),
    *_diag(_phases("q_minus", (24, 44, 64), "7.0", "Reactive power export", Kind.REACTIVE_POWER), enabled=False),
    *_diag(_phases("s_plus", (29, 49, 69), "7.0", "Apparent power import", Kind.APPARENT_POWER), enabled=False),
    *_diag(_phases("s_minus", (30, 50, 70), "7.0", "Apparent power export", Kind.APPARENT_POWER), enabled=False),
    *_phases("u", (32, 52, 72), "7.0", "Voltage", Kind.VOLTAGE),
    *_phases("i", (31, 51, 71), "7.0", "Current", Kind.CURRENT),
    *_diag(_phases("pf", (33, 53, 73), "7.0", "Power factor", Kind.POWER_FACTOR)),
    Register("pf", "13.7.0", "Power factor", Kind.POWER_FACTOR),
    Register("frequency", "14.7.0", "Frequency", Kind.FREQUENCY),
    # Maximum demand over the integration period, with its time stamp
    Register("p_plus_max", "1.6.0", "Peak power P+max", Kind.POWER, icon="mdi:chart-bell-curve"),
    *_diag(Register("p_plus_max_time", "1.6.0.t", "Peak power P+max time", Kind.TIMESTAMP)),
    *_diag(Register("p_plus_mean", "1.25.0", "Mean power P+ (last period)", Kind.POWER)),
    *_diag(_peaks()),
    # Counters and state
    *_diag(Register("hour_counter", "96.8.0", "Hour counter", Kind.HOURS)),
    Register("tariff", "96.14.0", "Active tariff", Kind.INTEGER, icon="mdi:cash-clock"),
    Register(
        "breaker", "128.0.11", "Breaker state", Kind.ENUM, icon="mdi:electric-switch", options=BREAKER_STATES
    ),
    # Power quality: THD in percent of the fundamental, up to the 40th harmonic (§7.7); THD I on direct meters only
    *_diag(_phases("thd_u", (32, 52, 72), "7.124", "Voltage THD", Kind.PERCENT)),
    *_diag([replace(r, direct_only=True)
            for r in _phases("thd_i", (31, 51, 71), "7.124", "Current THD", Kind.PERCENT)]),
    # S0 pulse output (A+, 1000 imp/kWh direct / 5000 CT) and the module pulse input 1.1.0.128.1.255 (unit per Z12)
    *_diag([Register("s0_pulses", "96.3.30", "S0 pulses", Kind.COUNTER, icon="mdi:pulse"),
            Register("s0_rate", "96.3.31", "S0 pulse rate", Kind.PULSE_RATE, icon="mdi:pulse")], enabled=False),
    # The pulse input's unit follows Z12 (pulses, kWh, m³, l): 3 decimals on the Modbus map carry any of them
    Register("pulse_input", "0.128.1", "Pulse input", Kind.COUNTER, icon="mdi:counter", modbus_decimals_override=3),
    # Software prepayment (§5.5): A14prepayment 0.130.0 and its credit 0.130.1; the state is ours
    Register("prepayment_remaining", "130.0.0", "Prepayment remaining", Kind.ENERGY_BALANCE, icon="mdi:cash"),
    Register("prepayment_credit", "130.0.1", "Prepayment credit used", Kind.ENERGY_BALANCE, icon="mdi:cash-minus"),
    Register("prepayment_state", "130.0.2", "Prepayment state", Kind.ENUM, icon="mdi:cash-lock",
             options=PREPAYMENT_STATES),
    # Load-control module relays (no published OBIS code: ours, in the 0.0.96.3 I/O-control group)
    *_diag([
        Register(f"load_control_{n}", f"96.3.2{n}", f"Load-control relay {n}", Kind.ENUM,
                 icon="mdi:electric-switch-closed", options=RELAY_STATES)
        for n in (1, 2)
    ]),
)

_UPPER_TARIFFS = range(BASIC_TARIFFS + 1, MAX_TARIFF + 1)
_TARIFF_PLAN_OPTIONS = tuple(str(n) for n in range(1, MAX_TARIFF_PLANS + 1))

# Readings of the 8 tariffs beyond REGISTERS, each listed after the key it follows in ALL_REGISTERS.
_EXTENSION_AFTER: dict[str, list[Register]] = {
    "a_plus_t4": _tariffs("a_plus", 1, "Active energy import A+", Kind.ENERGY, ALL_ENERGY_TYPES, _UPPER_TARIFFS),
    "a_minus_t4": _tariffs("a_minus", 2, "Active energy export A-", Kind.ENERGY, EXPORT, _UPPER_TARIFFS),
    "r_plus_t4": _tariffs("r_plus", 3, "Reactive energy import R+", Kind.REACTIVE_ENERGY, REACTIVE_IMPORT,
                          _UPPER_TARIFFS),
    "r_minus_t4": [
        *_tariffs("r_minus", 4, "Reactive energy export R-", Kind.REACTIVE_ENERGY, FOUR_QUADRANT, _UPPER_TARIFFS),
        # E± per tariff (§2.3): like the quadrant registers, diagnostic and off by default in HA
        *_diag(_tariffs("e_plus", 9, "Apparent energy import E+", Kind.APPARENT_ENERGY, FOUR_QUADRANT,
                        range(1, MAX_TARIFF + 1)), enabled=False),
        *_diag(_tariffs("e_minus", 10, "Apparent energy export E-", Kind.APPARENT_ENERGY, FOUR_QUADRANT,
                        range(1, MAX_TARIFF + 1)), enabled=False),
    ],
    "p_plus_max_t4": _diag(_tariff_peaks("p_plus", 1, "P+max", Kind.POWER, ALL_ENERGY_TYPES, _UPPER_TARIFFS),
                           enabled=False),
    # Module pulse outputs (Z3: A+, A− or R+ out on I/O1 / I/O2, §9): pulses sent. No published OBIS code: ours.
    "pulse_input": _diag([Register(f"pulse_output_{n}", f"96.3.3{n + 1}", f"Module pulse output {n}", Kind.COUNTER,
                                   icon="mdi:pulse") for n in (1, 2)], enabled=False),
    # The internal plan in force (§2.8, 1–3). No published OBIS code: ours, E = 128 (manufacturer-specific)
    # in the "currently active tariff" group.
    "tariff": _diag(Register("tariff_plan", "96.14.128", "Active tariff plan", Kind.ENUM, icon="mdi:calendar-clock",
                             options=_TARIFF_PLAN_OPTIONS)),
    # The firmware the meter runs (§8): its version and checksum (meter_sim/firmware.py), at the Blue Book's "active
    # firmware identifier" and "active firmware signature" of the metrology (A = 1, B = 0)
    "load_control_2": [
        *_diag(Register("firmware_version", "0.2.0", "Firmware version", Kind.TEXT, icon="mdi:chip", medium="1.0.")),
        *_diag(Register("firmware_checksum", "0.2.8", "Firmware checksum", Kind.TEXT, icon="mdi:chip",
                        medium="1.0."), enabled=False),
    ],
}
EXTENSION: tuple[Register, ...] = tuple(r for group in _EXTENSION_AFTER.values() for r in group)
ALL_REGISTERS: tuple[Register, ...] = tuple(
    r for base in REGISTERS for r in (base, *_EXTENSION_AFTER.get(base.key, ()))
)

REGISTERS_BY_KEY: dict[str, Register] = {r.key: r for r in ALL_REGISTERS}
# The registers that never go backwards (Home Assistant's total_increasing): the gateway guards them.
TOTAL_KEYS = frozenset(r.key for r in ALL_REGISTERS if r.kind.spec.state_class == "total_increasing")
REGISTERS_BY_OBIS: dict[str, Register] = {r.obis: r for r in ALL_REGISTERS}
assert len(REGISTERS_BY_KEY) == len(ALL_REGISTERS), "register keys must be unique"
assert len(REGISTERS_BY_OBIS) == len(ALL_REGISTERS), "register OBIS codes must be unique"
assert len(ALL_REGISTERS) == len(REGISTERS) + len(EXTENSION), "an extension anchor key is missing"

# The rules of `meter_registers`, as docs/registers.md states them (scripts/gen_docs.py renders this text).
WHICH_REGISTERS = """\
Which of these registers one meter has (`meter_registers`):

- those of its energy type (X9, the column above); THD I only on direct meters; the pulse input only when a
  module input counts pulses; the prepayment readings only with prepayment on;
- single-phase meters (`phases=1`) have no L2 and L3 readings;
- every meter has the per-tariff registers of T1–T4 (A±, R±, E±, P+max). Those of T5–T8 exist only when its
  tariff configuration can select them: Z13 = 002 (the tariff register, set by command, which may name any of
  the 8 tariffs), or Z13 = a tariff table whose plans name one of T5–T8. Module inputs select at most T4; on
  any other meter a command for T5–T8 is refused, as there is no register to count it;
- `pulse_output_1` / `pulse_output_2` only when Z3 gives that module I/O a pulse output;
- `tariff_plan` exists only when Z13 = a tariff table holding 2 or 3 plans; its options are the plans held.
"""


def registers_for(energy_type: int, keys: Iterable[str] | None = None) -> tuple[Register, ...]:
    """The registers a meter of energy type X9 has (optionally limited to `keys`)."""
    wanted = set(keys) if keys is not None else None
    return tuple(
        r for r in ALL_REGISTERS if energy_type in r.energy_types and (wanted is None or r.key in wanted)
    )


# The same configuration, the same tuple: a fleet of thousands shares a handful. Typed, so that `True` is not
# taken for an earlier call's `1` (it is refused below).
@functools.lru_cache(maxsize=None, typed=True)
def meter_registers(
    energy_type: int, *, ct: bool = False, pulse_unit: str | None = None, prepayment: str | None = None,
    pulse_input: bool = True, tariffs: int = BASIC_TARIFFS, tariff_plans: int = 1, phases: int = 3,
    pulse_outputs: tuple[bool, bool] = (False, False),
) -> tuple[Register, ...]:
    """The registers of one configured meter (the rules: `WHICH_REGISTERS`): energy type X9, CT or direct, the
    pulse-input unit (Z12: None, "kWh", "m³", "l"; `pulse_input` False when no module input counts pulses),
    prepayment (None = off, "kWh", or a currency code such as "EUR"), the tariffs with registers (4: T1–T4, or 8:
    T1–T8, when the tariff configuration can select T5–T8), the tariff plans to choose from (1–3; `tariff_plan`
    only with 2 or more), the phases (1: single-phase, no L2/L3 readings; or 3) and which module I/O pulses out."""
    if tariffs not in (BASIC_TARIFFS, MAX_TARIFF):
        raise ValueError(f"tariffs must be {BASIC_TARIFFS} (T1–T{BASIC_TARIFFS}) or {MAX_TARIFF} "
                         f"(T1–T{MAX_TARIFF}), got {tariffs!r}")
    if isinstance(tariff_plans, bool) or tariff_plans not in range(1, MAX_TARIFF_PLANS + 1):
        raise ValueError(f"tariff_plans must be 1–{MAX_TARIFF_PLANS}, got {tariff_plans!r}")
    if phases not in (1, 3):
        raise ValueError(f"phases must be 1 (single-phase) or 3, got {phases!r}")
    out = []
    for r in registers_for(energy_type):
        if (r.direct_only and ct) or (r.key in PREPAYMENT_KEYS and prepayment is None):
            continue
        if r.tariff > tariffs or r.phase > phases:
            continue
        if r.key == "pulse_input":
            if not pulse_input:
                continue
            r = replace(r, kind=PULSE_KINDS[pulse_unit])
        elif r.key in PREPAYMENT_KEYS[:2] and prepayment != "kWh":
            r = replace(r, kind=Kind.MONEY, unit_override=prepayment)
        elif r.key.startswith("pulse_output_"):
            if not pulse_outputs[int(r.key[-1]) - 1]:
                continue
        elif r.key == "tariff_plan":
            if tariff_plans < 2:
                continue
            r = replace(r, options=r.options[:tariff_plans])
        out.append(r)
    return tuple(out)
