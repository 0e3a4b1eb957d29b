"""The register map of our RS-485 module (Modbus RTU/TCP), used by the simulated slave and by the
gateway's Modbus source alike. Pure: readings ⇄ 16-bit register words.

Input registers (function 04), read-only: every reading of the register table as a signed 32-bit
integer in two registers, **high word first** (big-endian word and byte order; mbpoll needs `-B`),
at address 2 × its position in `INPUT_ORDER`, scaled by 10^n, n = the register table's `modbus_decimals`:

    energy 0.01 kWh (kvarh, kVAh) · power 1 W (var, VA) · voltage 0.1 V · current 1 mA ·
    power factor 0.001 · frequency 0.01 Hz · hours 1 h · time stamps: Unix seconds (0 = none) ·
    breaker: 0 disconnected, 1 connected, 2 ready_for_reconnection (DLMS class 70 control_state)

Addresses never move: after the first readings (`INPUT_ORDER`, 0x0000–0x0091) comes the meter
clock: `TIME_ADDRESS` = Unix seconds (unsigned 32-bit), `TIME_ADDRESS + 2` = its UTC offset in
seconds (signed), so a master reports the meter's own time like every other source. Readings added
later follow the clock (`INPUT_ORDER_2`, from 0x0096), and that list is append-only.

After the readings (from 0x00EA) the meter says which optional functions it has, so that a master
publishes no reading of a function the meter lacks (two 32-bit pairs, high word first; mbpoll
`-t 3:int -B -r 235 -c 2`):

    0x00EA  function bits (`FEATURE_BITS`): bit 0 breaker (X10 ≠ 0: input `breaker`, coil 0, holding 1) ·
            bit 1 load control (Z14 = 001: coils 1 and 2) · bit 2 tariff command (holding 0 takes writes) ·
            bit 3 S0 output (X13 = 1: `s0_pulses`, `s0_rate`) · bit 4 pulse input (a Z3 module input counts
            pulses: `pulse_input`) · bit 5 prepayment on (`prepayment_*`) · bit 6 current THD (direct
            meters: `thd_i_l1`–`thd_i_l3`; CT meters measure none). Other bits read 0; a master ignores
            bits it does not know (a later module may add functions).
    0x00EC  energy type X9 (1 A+ · 2 A+/A− · 3 A+/R+ · 4 A+/A−/R+/R−): the readings of other energy types
            (docs/registers.md, column "energy types") read 0 and mean nothing.

The readings of a function the meter lacks mean nothing (most read 0, the prepayment state −1).

Holding registers (03/06/16): 0 = tariff control (0 auto, 1–4 forced), 1 = breaker command
(write 1 connect, 2 disconnect, 3 release; reads 0). Coils (01/05/15): 0 = breaker (1 connected;
write 1 to connect, 0 to disconnect), 1 and 2 = load-control relays 1 and 2 (1 on). Discrete inputs
(02): the alarm bits of `ALARM_BITS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from omnipower.alarms import ALARMS
from omnipower.errors import CodecError, EncodeError, LengthError, UnknownTagError
from omnipower.registers import PREPAYMENT_KEYS, REGISTERS_BY_KEY, Kind

Value = float | int | str | None

INPUT_ORDER: tuple[str, ...] = (
    # 0x0000 energy totals and quadrants
    "a_plus", "a_minus", "r_plus", "r_minus", "r1", "r2", "r3", "r4", "e_plus", "e_minus",
    # 0x0014 tariff registers
    "a_plus_t1", "a_plus_t2", "a_plus_t3", "a_plus_t4", "a_minus_t1", "a_minus_t2", "a_minus_t3", "a_minus_t4",
    "r_plus_t1", "r_plus_t2", "r_plus_t3", "r_plus_t4", "r_minus_t1", "r_minus_t2", "r_minus_t3", "r_minus_t4",
    # 0x0034 per-phase active energy
    "a_plus_l1", "a_plus_l2", "a_plus_l3", "a_minus_l1", "a_minus_l2", "a_minus_l3",
    # 0x0040 instantaneous totals
    "p_plus", "p_minus", "q_plus", "q_minus", "s_plus", "s_minus", "pf", "frequency",
    # 0x0050 per phase
    "p_plus_l1", "p_plus_l2", "p_plus_l3", "p_minus_l1", "p_minus_l2", "p_minus_l3",
    "q_plus_l1", "q_plus_l2", "q_plus_l3", "q_minus_l1", "q_minus_l2", "q_minus_l3",
    "s_plus_l1", "s_plus_l2", "s_plus_l3", "s_minus_l1", "s_minus_l2", "s_minus_l3",
    "u_l1", "u_l2", "u_l3", "i_l1", "i_l2", "i_l3", "pf_l1", "pf_l2", "pf_l3",
    # 0x0086 demand, counters, state
    "p_plus_max", "p_plus_max_time", "p_plus_mean", "hour_counter", "tariff", "breaker",
)
INPUT_ORDER_2: tuple[str, ...] = (
    # 0x0096 other peaks with their times, tariff peaks, accumulated peaks, daily P+ max/min, counters
    "p_minus_max", "p_minus_max_time", "q_plus_max", "q_plus_max_time", "q_minus_max", "q_minus_max_time",
    "s_plus_max", "s_plus_max_time", "s_minus_max", "s_minus_max_time",
    "p_plus_max_t1", "p_plus_max_t2", "p_plus_max_t3", "p_plus_max_t4", "p_minus_max_t1", "p_minus_max_t2",
    "q_plus_max_t1", "q_plus_max_t2",
    "p_plus_max_acc", "p_plus_max_acc_t1", "p_plus_max_acc_t2", "p_minus_max_acc", "q_plus_max_acc", "q_minus_max_acc",
    "p_plus_daily_max", "p_plus_daily_max_time", "p_plus_daily_min", "p_plus_daily_min_time",
    "power_threshold_counter", "debiting_periods",
    # 0x00D2 THD, S0 and pulse input, prepayment
    "thd_u_l1", "thd_u_l2", "thd_u_l3", "thd_i_l1", "thd_i_l2", "thd_i_l3", "s0_pulses", "s0_rate", "pulse_input",
    "prepayment_remaining", "prepayment_credit", "prepayment_state",
)
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
ABSENT = -1  # an enumerated state the meter does not have (e.g. prepayment switched off)

HOLDING_TARIFF_CONTROL = 0
HOLDING_BREAKER_COMMAND = 1
HOLDING_COUNT = 2
BREAKER_COMMANDS = {1: "connect", 2: "disconnect", 3: "release"}
COIL_BREAKER = 0
COIL_LOAD_CONTROL = {1: "load_control_1", 2: "load_control_2"}  # coil → relay reading
COIL_COUNT = 3


def _alarm_bits() -> tuple[tuple[str, int | None], ...]:
    """Discrete input n → (alarm type, phase), from the alarm table's `modbus_input`s (0, 1, 2 … without gaps)."""
    bits = {alarm.modbus_input + i: (alarm.type, phase)
            for alarm in ALARMS if alarm.modbus_input is not None for i, phase in enumerate(alarm.phases)}
    if sorted(bits) != list(range(sum(len(a.phases) for a in ALARMS if a.modbus_input is not None))):
        raise AssertionError(f"the alarm table's Modbus inputs overlap or leave gaps: {sorted(bits)}")
    return tuple(bits[n] for n in range(len(bits)))


ALARM_BITS = _alarm_bits()
ALARM_TYPES = tuple(dict.fromkeys(kind for kind, _ in ALARM_BITS))  # the alarms a Modbus master can report
BREAKER_CODES = {"disconnected": 0, "connected": 1, "ready_for_reconnection": 2}


@dataclass(frozen=True, slots=True)
class InputPoint:
    key: str
    address: int
    decimals: int
    kind: Kind


def _points(keys: tuple[str, ...], start: int) -> tuple[InputPoint, ...]:
    return tuple(
        InputPoint(key, start + 2 * i, REGISTERS_BY_KEY[key].modbus_decimals, REGISTERS_BY_KEY[key].kind)
        for i, key in enumerate(keys)
    )


TIME_ADDRESS = 2 * len(INPUT_ORDER)
INPUT_POINTS: tuple[InputPoint, ...] = _points(INPUT_ORDER, 0) + _points(INPUT_ORDER_2, TIME_ADDRESS + 4)
INPUT_KEYS: tuple[str, ...] = INPUT_ORDER + INPUT_ORDER_2
INPUT_BY_KEY = {p.key: p for p in INPUT_POINTS}
_POINT_AT = {p.address: p for p in INPUT_POINTS}
READINGS_COUNT = TIME_ADDRESS + 4 + 2 * len(INPUT_ORDER_2)  # the readings and the clock: 0 … 0x00E9
FEATURES_ADDRESS = READINGS_COUNT
FEATURES_COUNT = 4  # function bits, energy type
INPUT_COUNT = FEATURES_ADDRESS + FEATURES_COUNT

# Bit n of the function word names the function; the reading keys it governs (besides the energy
# type's registers, and the CT meters' missing direct-only registers under `current_thd`).
FEATURE_BITS: tuple[str, ...] = (
    "breaker", "load_control", "tariff_command", "s0_output", "pulse_input", "prepayment", "current_thd",
)
FEATURE_KEYS: dict[str, tuple[str, ...]] = {
    "breaker": ("breaker",),
    "load_control": ("load_control_1", "load_control_2"),
    "tariff_command": (),  # tariff and tariff_control are read on every meter; only writes are refused
    "s0_output": ("s0_pulses", "s0_rate"),
    "pulse_input": ("pulse_input",),
    "prepayment": PREPAYMENT_KEYS,
    "current_thd": tuple(k for k in INPUT_KEYS if REGISTERS_BY_KEY[k].direct_only),
}
ENERGY_TYPES = range(1, 5)  # X9


@dataclass(frozen=True, slots=True)
class Features:
    """What the meter has of the optional blocks of this map (registers 0x00EA–0x00ED)."""

    functions: frozenset[str]  # names from FEATURE_BITS
    energy_type: int  # X9

    def __post_init__(self) -> None:
        unknown = self.functions - set(FEATURE_BITS)
        if unknown:
            raise EncodeError(f"unknown meter functions {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(FEATURE_BITS)})")
        if self.energy_type not in ENERGY_TYPES:
            raise EncodeError(f"energy type (X9) {self.energy_type!r} is not 1–4")

    def has(self, function: str) -> bool:
        if function not in FEATURE_BITS:
            raise KeyError(f"{function!r} is not one of {', '.join(FEATURE_BITS)}")
        return function in self.functions

    def absent_keys(self) -> frozenset[str]:
        """The reading keys of the map (input registers and relay coils) this meter does not have."""
        absent = {key for f in FEATURE_BITS if f not in self.functions for key in FEATURE_KEYS[f]}
        absent |= {key for key in (*INPUT_KEYS, *COIL_LOAD_CONTROL.values())
                   if self.energy_type not in REGISTERS_BY_KEY[key].energy_types}
        return frozenset(absent)


def encode_features(features: Features) -> list[int]:
    mask = sum(1 << bit for bit, name in enumerate(FEATURE_BITS) if name in features.functions)
    return [*to_words(mask), *to_words(features.energy_type)]


def decode_features(words: Sequence[int]) -> Features:
    """Registers 0x00EA–0x00ED → Features. Bits this map does not name are ignored (a later module's)."""
    if len(words) != FEATURES_COUNT:
        raise LengthError(f"the meter's functions take {FEATURES_COUNT} input registers, got {len(words)}")
    mask = from_words(words[0], words[1]) & 0xFFFFFFFF
    energy_type = from_words(words[2], words[3])
    if energy_type not in ENERGY_TYPES:
        raise UnknownTagError(f"energy type (X9) {energy_type} in input register 0x{FEATURES_ADDRESS + 2:04X} "
                              "is not 1–4")
    return Features(frozenset(name for bit, name in enumerate(FEATURE_BITS) if mask >> bit & 1), energy_type)


def to_words(value: int) -> tuple[int, int]:
    """A signed 32-bit integer as two registers, high word first."""
    if not INT32_MIN <= value <= INT32_MAX:
        raise EncodeError(f"{value} does not fit a signed 32-bit register pair")
    raw = value & 0xFFFFFFFF
    return raw >> 16, raw & 0xFFFF


def from_words(high: int, low: int) -> int:
    for word in (high, low):
        if not 0 <= word <= 0xFFFF:
            raise LengthError(f"register value {word} is not a 16-bit word")
    raw = (high << 16) | low
    return raw - (1 << 32) if raw & 0x80000000 else raw


def encode_value(point: InputPoint, value: Value) -> int:
    """One reading (published unit) → its integer register value."""
    if point.kind is Kind.ENUM:
        codes = _enum_codes(point.key)
        if value not in codes:
            raise EncodeError(f"{point.key}: {value!r} is not one of {', '.join(codes)}")
        return codes[str(value)]
    if point.kind is Kind.TIMESTAMP:
        return 0 if value is None else _u32_as_i32(int(datetime.fromisoformat(str(value)).timestamp()))
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise EncodeError(f"{point.key}: {value!r} is not a number")
    return round(value * 10.0**point.decimals)


def decode_value(point: InputPoint, raw: int) -> Value:
    if point.kind is Kind.ENUM:
        if raw == ABSENT:
            return None
        codes = _enum_codes(point.key)
        for state, code in codes.items():
            if code == raw:
                return state
        raise UnknownTagError(f"{point.key}: code {raw} is not one of {', '.join(map(str, codes.values()))}")
    if point.kind is Kind.TIMESTAMP:
        return None if raw == 0 else raw & 0xFFFFFFFF  # Unix seconds; shown in the meter's offset by the caller
    if point.decimals == 0:
        return raw
    return round(raw / 10.0**point.decimals, point.decimals)


def input_image(readings: Mapping[str, Value], features: Features) -> list[int]:
    """The whole input-register image (0 … INPUT_COUNT − 1): the readings, then the meter's functions."""
    return encode_inputs(readings) + encode_features(features)


def encode_inputs(readings: Mapping[str, Value]) -> list[int]:
    """The readings block (0 … READINGS_COUNT − 1); readings the meter does not have read as 0."""
    words = [0] * READINGS_COUNT
    for point in INPUT_POINTS:
        value = readings.get(point.key)
        if value is None and point.kind is Kind.ENUM:  # a state the meter does not have (prepayment off)
            words[point.address], words[point.address + 1] = to_words(ABSENT)
            continue
        if value is None and point.kind is not Kind.TIMESTAMP:
            continue
        words[point.address], words[point.address + 1] = to_words(encode_value(point, value))
    clock = readings.get("time")
    if isinstance(clock, str):
        when = datetime.fromisoformat(clock)
        offset = when.utcoffset()
        words[TIME_ADDRESS : TIME_ADDRESS + 2] = to_words(_u32_as_i32(int(when.timestamp())))
        words[TIME_ADDRESS + 2 : TIME_ADDRESS + 4] = to_words(int(offset.total_seconds()) if offset else 0)
    return words


def _enum_codes(key: str) -> dict[str, int]:
    """The breaker keeps the DLMS class-70 coding; other states count in the register table's order."""
    if key == "breaker":
        return BREAKER_CODES
    return {option: i for i, option in enumerate(REGISTERS_BY_KEY[key].options)}


def _u32_as_i32(value: int) -> int:
    """Unix seconds stored unsigned (valid to 2106) in the signed register pair."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise EncodeError(f"time {value} does not fit an unsigned 32-bit register pair")
    return value - (1 << 32) if value >= 1 << 31 else value


def decode_inputs(words: Sequence[int], start: int = 0) -> dict[str, Value]:
    """Readings from a block of input registers read at `start` (whole points only)."""
    if start % 2 or len(words) % 2:
        raise LengthError(f"input registers come in pairs: start {start}, count {len(words)}")
    out: dict[str, Value] = {}
    for offset in range(0, len(words), 2):
        address = start + offset
        if address >= INPUT_COUNT:
            raise LengthError(f"input register {address} is beyond the map (0–{INPUT_COUNT - 1})")
        if address >= FEATURES_ADDRESS:
            raise LengthError(f"input register 0x{address:04X} is not a reading: 0x{FEATURES_ADDRESS:04X}–"
                              f"0x{INPUT_COUNT - 1:04X} name the meter's functions (decode_features)")
        raw = from_words(words[offset], words[offset + 1])
        if address == TIME_ADDRESS:
            out["_unix_time"] = raw & 0xFFFFFFFF
        elif address == TIME_ADDRESS + 2:
            out["_utc_offset"] = raw
        else:
            point = _POINT_AT[address]
            out[point.key] = decode_value(point, raw)
    unix, offset_s = out.pop("_unix_time", None), out.pop("_utc_offset", None)
    if isinstance(unix, int) and isinstance(offset_s, int):
        if not -86400 < offset_s < 86400:  # a datetime offset must be under a day (real ones: −12 h to +14 h)
            raise CodecError(f"UTC offset {offset_s} s in input registers 0x{TIME_ADDRESS + 2:04X}–"
                             f"0x{TIME_ADDRESS + 3:04X} is not within ±24 h")
        out["time"] = iso_time(unix, offset_s)
    return out


def iso_time(unix: int, offset_s: int) -> str:
    return datetime.fromtimestamp(unix, timezone(timedelta(seconds=offset_s))).isoformat(timespec="seconds")


def tariff_control_word(control: str) -> int:
    return 0 if control == "auto" else int(control)


def alarm_bits(active: Sequence[tuple[str, int | None]]) -> list[bool]:
    present = set(active)
    return [bit in present for bit in ALARM_BITS]


MAX_READ = 124  # Modbus allows 125 registers per read; stay pair-aligned


def read_blocks(start: int = 0, count: int = READINGS_COUNT) -> list[tuple[int, int]]:
    """(address, count) requests that read input registers [start, start+count) in whole pairs."""
    return [(a, min(MAX_READ, start + count - a)) for a in range(start, start + count, MAX_READ)]
