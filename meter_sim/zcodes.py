"""OMNIPOWER software configuration codes Z1…Z25 (spec §11.2): allowed values, meanings and checks.

Plain tables and functions so that a pydantic validator can call `check_z(n, value, type_number)` and the model can
decode a code without re-reading the spec. Codes are plain ints (Z7 "05" is 5, Z13 "002" is 2).

Order-form codes: Z5 (display), Z9 beyond 000/001 (disconnect setup), Z10, Z13 beyond 000–002 (tariff tables),
Z17 beyond 000 (PB2) and Z20 beyond 000 (calendar) refer to Kamstrup order forms whose contents are unpublished.
They are accepted in 0–999 and only their number is kept: the content is not modelled. Z14 (load-control tables)
is the exception: only 000/001 are accepted, as in meter_sim/config.py, because load control is simulated.

Modelling choices (inferred, the spec is silent):
- Type-number cross-checks refuse only codes that need hardware the meter lacks; the neutral "default" codes stay
  valid on every type number, so `Z_DEFAULTS` is valid for any meter. `z_defaults(type_number)` gives the codes a
  factory would pick for one particular meter (e.g. Z19 = 0 "no breaker" on a meter without breaker).
- Z19 on a meter without breaker: 0 (the data sheet's "No breaker" code) or 1 (connected: trivially true) are
  accepted, 2 (disconnected) is refused. With a breaker 0 means "undefined" [TD] and all of 0–2 are accepted.
- Z9 on a meter without breaker: only 000 (none) and 001 (default) are accepted; an order-form disconnect setup
  needs the breaker (§5: disconnect function on direct meters with breaker only).
- Z18 ≠ 000 is refused on Variant 2 (X8 = 2): it answers no 1107 (or DLMS) query (§10.1).
- Z3 = 29 (earth fault) is refused on CT meters: the spec's footnote mark suggests it is not on CT (inferred).
- Z21–Z24 exist on CT meters only and are refused for direct meters when a type number is given.
- Z13 = 001 (tariff by module port) needs a tariff input among the Z3 roles (`check_z_codes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from meter_sim.type_number import TypeNumber


@dataclass(frozen=True, slots=True)
class ZCode:
    """One configuration code: its name, the accepted values and how to say them in an error message."""

    n: int
    name: str
    allowed: frozenset[int]
    allowed_text: str
    modelled: bool = True  # False: only the number is kept (unpublished order-form content)


def _z(n: int, name: str, allowed: range | tuple[int, ...], text: str, modelled: bool = True) -> ZCode:
    return ZCode(n, name, frozenset(allowed), text, modelled)


# Z16 frequency codes (§11.2) → radio region.
Z16_RF_REGIONS: Final[MappingProxyType[int, str | None]] = MappingProxyType(
    {
        0: None,
        318: "CH",
        319: "EU",
        326: "SE",
        328: "SE",
        329: "SE",
        338: "NO",
        339: "NO",
        348: "DK",
        349: "DK",
        359: "FI",
        369: "PL",
        379: "AT",
    }
)

# Z21 (CT): the code is the CT ratio itself (600 = 3000/5 A or 600/1 A).
Z21_CT_RATIOS: Final = (1, 2, 3, 4, 10, 15, 20, 24, 30, 32, 40, 60, 100, 200, 300, 400, 600)

# Z3 → (I/O1 role, I/O2 role), from the spec's Z3 table; "in" = input, "out" = output, "-" = unused.
Z3_ROLES: Final[MappingProxyType[int, tuple[str, str]]] = MappingProxyType(
    {
        0: ("none", "none"),
        1: ("4-tariff in", "4-tariff in"),
        2: ("4-tariff in, inverted", "4-tariff in, inverted"),
        3: ("pulse in", "alarm in"),
        4: ("pulse in", "alarm in, inverted"),
        5: ("pulse in", "A+ out"),
        6: ("R+ out", "A+ out"),
        7: ("2-tariff in", "alarm in"),
        8: ("2-tariff in, inverted", "alarm in"),
        9: ("2-tariff in", "alarm in, inverted"),
        10: ("2-tariff in, inverted", "alarm in, inverted"),
        11: ("2-tariff in", "A+ out"),
        12: ("2-tariff in, inverted", "A+ out"),
        13: ("pulse in", "2-tariff in"),
        14: ("pulse in", "2-tariff in, inverted"),
        15: ("debiting-stop pulse in", "-"),
        16: ("A- out", "A+ out"),
        17: ("load-control load in", "status control out"),
        18: ("pulse in", "load-tariff sync out"),
        19: ("pulse in, inverted", "load-tariff sync out"),
        20: ("pulse in", "load-tariff sync out, inverted"),
        21: ("pulse in, inverted", "load-tariff sync out, inverted"),
        22: ("4-tariff sync load control in", "4-tariff sync load control in"),
        23: ("4-tariff sync load control in, inverted", "4-tariff sync load control in, inverted"),
        26: ("load control 1 out", "load control 2 out"),
        27: ("pulse in", "load control out"),
        28: ("pulse in", "toggle load control 1 & 2 out"),
        29: ("earth fault (I²C)", "earth fault (I²C)"),
    }
)
_Z3_TWO_TARIFF: Final = frozenset({7, 8, 9, 10, 11, 12, 13, 14})
_Z3_FOUR_TARIFF: Final = frozenset({1, 2, 22, 23})
_Z3_TARIFF_INVERTED: Final = frozenset({2, 8, 10, 12, 14, 23})
_Z3_PULSE_IN: Final = frozenset({3, 4, 5, 13, 14, 18, 19, 20, 21, 27, 28})
_Z3_ALARM_IN: Final = frozenset({3, 4, 7, 8, 9, 10})

_ORDER_FORM = range(0, 1000)

Z_CODES: Final[MappingProxyType[int, ZCode]] = MappingProxyType(
    {
        z.n: z
        for z in (
            _z(1, "display decimals", range(1, 5), "1 = 7.0, 2 = 6.1 (CT 7.1), 3 = 7.2, 4 = 6.3 (not CT)"),
            _z(2, "LED at no load", (1, 2), "1 (off), 2 (on)"),
            _z(3, "module I/O1/I/O2", tuple(Z3_ROLES), "00–23, 26–29"),
            _z(4, "integration period", range(1, 5), "1 = 5 min, 2 = 15 min, 3 = 30 min, 4 = 60 min"),
            _z(5, "display configuration", _ORDER_FORM, "000–999 (order form, not modelled)", modelled=False),
            _z(6, "debiting stop day", range(1, 29), "01–28 (day of month)"),
            _z(
                7,
                "debiting-1 interval",
                range(0, 25),
                "00 (external only), 01 (monthly), 02–03 (every 2nd month from Jan/Feb), "
                "04–06 (every 3rd month from Jan–Mar), 07–12 (every 6 months from Jan–Jun), 13–24 (yearly, Jan–Dec)",
            ),
            _z(
                8,
                "pulse width / alarm input",
                range(1, 5),
                "1 (30 ms, off), 2 (30 ms, on), 3 (80 ms, off), 4 (80 ms, on)",
            ),
            _z(9, "disconnect setup", _ORDER_FORM, "000 (none), 001 (default), 002–999 (order form, not modelled)"),
            _z(
                10,
                "analysis logger / maximum power",
                _ORDER_FORM,
                "000–999 (000 default; not modelled)",
                modelled=False,
            ),
            _z(11, "GMT offset", range(0, 24), "00 (GMT), 01–12 (+1…+12 h), 13–23 (−11…−1 h)"),
            _z(12, "pulse input unit", range(0, 4), "00 (none), 01 (kWh), 02 (m³), 03 (l)"),
            _z(
                13,
                "tariff control",
                _ORDER_FORM,
                "000 (off), 001 (module port), 002 (register), 003–999 (table from an order form)",
            ),
            _z(14, "load control", (0, 1), "0 (off), 1 (register: relays set by remote command)"),
            _z(15, "DST", (0, 1), "000 (none), 001 (EU)"),
            _z(16, "RF frequency code", tuple(Z16_RF_REGIONS), ", ".join(f"{c:03d}" for c in Z16_RF_REGIONS)),
            _z(17, "PB2 setup", _ORDER_FORM, "000 (none), 001–999 (order form, not modelled)"),
            _z(18, "1107", (0, 1, 2), "000 (off), 001 (modes A+C, UD1), 002 (modes A+C, UD2)"),
            _z(
                19,
                "breaker position at delivery",
                (0, 1, 2),
                "0 (undefined / no breaker), 1 (connected), 2 (disconnected)",
            ),
            _z(20, "calendar", _ORDER_FORM, "000 (no exception days), 001–999 (order form, not modelled)"),
            _z(21, "CT ratio", Z21_CT_RATIOS, ", ".join(f"{c:03d}" for c in Z21_CT_RATIOS)),
            _z(22, "CT ratio lock", (1, 2), "1 (unlocked), 2 (locked)"),
            _z(23, "CT load-profile basis", (1, 2), "1 (primary), 2 (secondary)"),
            _z(24, "CT module pulse-output basis", (0, 1), "0 (secondary), 1 (primary)"),
            _z(25, "debiting-2 interval", (1, 2, 3), "1 (daily), 2 (weekly), 3 (monthly)"),
        )
    }
)

CT_ONLY_Z: Final = frozenset({21, 22, 23, 24})

Z_DEFAULTS: Final[MappingProxyType[int, int]] = MappingProxyType(
    {
        1: 3,  # (inferred) 7.2: valid on direct and CT meters, and keeps 10 Wh resolution on the display
        2: 1,  # (inferred) LED off at no load
        3: 0,  # no module I/O
        4: 2,  # 15 min, as meter_sim/config.py
        5: 0,  # not modelled
        6: 1,  # (inferred) debiting on the 1st of the month
        7: 1,  # (inferred) monthly debiting
        8: 1,  # (inferred) 30 ms pulses, alarm input off
        9: 1,  # "001 default" disconnect setup
        10: 0,  # "000 default" [TD] / "0 standard" [DS]
        11: 1,  # GMT+1 (DK/NO/SE/DE/FR/ES), as meter_sim/config.py
        12: 0,  # no pulse-input unit
        13: 3,  # (inferred) a tariff table: the settings' tariff_schedule stands in for its unpublished contents
        14: 1,  # register, as meter_sim/config.py
        15: 1,  # EU DST, as meter_sim/config.py
        16: 0,  # no radio frequency (valid without radio); z_defaults() picks the country's code
        17: 0,  # no PB2 functions
        18: 0,  # 1107 off (valid on Variant 2, which answers no 1107 query)
        19: 1,  # connected, as meter_sim/config.py
        20: 0,  # no exception days
        25: 1,  # (inferred) debiting logger 2 daily
    }
)
"""Defaults valid on every type number (Z21–Z24 are CT-only: see `CT_Z_DEFAULTS`)."""

CT_Z_DEFAULTS: Final[MappingProxyType[int, int]] = MappingProxyType(
    {
        21: 1,  # (inferred) ratio 1: primary = secondary
        22: 2,  # (inferred) locked
        23: 1,  # (inferred) load profile in primary values
        24: 1,  # (inferred) module pulses on primary values
    }
)

# (inferred) Country label → the Z16 code a factory would choose for a radio meter; others get 319 (EU).
_COUNTRY_RF: Final[MappingProxyType[str, int]] = MappingProxyType(
    {
        "DK": 348,
        "NO": 339,
        "SE": 328,
        "FI": 359,
        "FI-Åland": 359,
        "PL": 369,
        "AT": 379,
        "CH-IT": 318,
        "CH-DE": 318,
        "CH-FR": 318,
    }
)


# Country label → (Z11, Z15) a factory would set: the country's standard time and whether it keeps EU summer
# time. §11.2 names 01 for DK/NO/SE/DE/FR/ES and 02 for FI; (inferred) the others from each country's legal time.
# Chile keeps a summer time of its own, which Z15 (none or EU) cannot express: none.
_COUNTRY_CLOCK: Final[MappingProxyType[str, tuple[int, int]]] = MappingProxyType(
    {
        **dict.fromkeys(("DK", "NO", "SE", "AT", "CH-IT", "CH-DE", "CH-FR", "PL", "DE", "BE", "NL", "ES", "HR",
                         "RS", "SK", "CZ", "HU"), (1, 1)),
        **dict.fromkeys(("FI", "FI-Åland", "LV", "LT", "EE"), (2, 1)),
        "UK": (0, 1),
        "IS": (0, 0),
        "GH": (0, 0),
        "ZA": (2, 0),
        "RU": (3, 0),
        "TR": (3, 0),
        "SA": (3, 0),
        "CL": (20, 0),  # GMT−4 (codes 13–23 are −11…−1 h)
    }
)


def _refuse(n: int, value: int, why: str) -> ValueError:
    return ValueError(f"Z{n} ({Z_CODES[n].name}) = {value}: {why}")


def check_z(n: int, value: int, type_number: TypeNumber | None = None) -> int:
    """Return `value` if it is a valid Z`n` code (for this type number, if given); else raise ValueError."""
    spec = Z_CODES.get(n)
    if spec is None:
        raise ValueError(f"Z{n} is not a configuration code; known: {', '.join(f'Z{k}' for k in Z_CODES)}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Z{n} ({spec.name}) must be an integer code, got {value!r}")
    if n == 14 and value not in spec.allowed:
        # Same wording as meter_sim/config.py's z14 validator.
        raise _refuse(
            n,
            value,
            f"load-control table {value:03d} is not modelled (table contents are unpublished order-form data); "
            "use 0 (off) or 1 (register: relays set by remote command)",
        )
    if value not in spec.allowed:
        raise _refuse(n, value, f"allowed {spec.allowed_text}")
    if type_number is not None:
        _check_against_type(n, value, type_number)
    return value


def _check_against_type(n: int, value: int, tn: TypeNumber) -> None:
    if n in CT_ONLY_Z and not tn.is_ct:
        raise _refuse(n, value, f"applies to CT meters only (type number {tn.code} is not a CT meter, X1 ≠ 5)")
    if n == 1 and value == 4 and tn.is_ct:
        raise _refuse(n, value, "format 6.3 does not exist on CT meters; allowed 1 (7.0), 2 (7.1), 3 (7.2)")
    if n == 3 and value == 29 and tn.is_ct:
        raise _refuse(n, value, "earth fault (29) is not available on CT meters (inferred from the spec's footnote)")
    if n == 9 and value not in (0, 1) and not tn.has_breaker:
        raise _refuse(n, value, "a meter without breaker (X10 = 0) allows only 000 (none) or 001 (default)")
    if n == 16 and value != 0 and not tn.radio:
        raise _refuse(n, value, "a frequency code needs the internal radio (X11 = 1); this meter has none, use 000")
    if n == 18 and value != 0 and tn.variant == 2:
        raise _refuse(n, value, "Variant 2 (X8 = 2) answers no 1107 query; use 000 (off)")
    if n == 19 and value == 2 and not tn.has_breaker:
        raise _refuse(n, value, "a meter without breaker (X10 = 0) cannot be delivered disconnected; use 0 or 1")


def check_z_codes(codes: Mapping[int, int], type_number: TypeNumber | None = None) -> dict[int, int]:
    """Check each code (as `check_z`) and the rules between codes; return them as a plain dict."""
    out = {n: check_z(n, value, type_number) for n, value in codes.items()}
    z3 = out.get(3)
    if out.get(13) == 1 and z3 is not None and z3_tariff_inputs(z3) == 0:
        raise _refuse(
            13,
            1,
            f"tariff by module port needs a tariff input, but Z3 = {z3:02d} ({' / '.join(Z3_ROLES[z3])}) has none; "
            "use a Z3 code with 2- or 4-tariff inputs (01, 02, 07–14, 22, 23)",
        )
    return out


def z_defaults(type_number: TypeNumber | None = None) -> dict[int, int]:
    """Z_DEFAULTS adapted to one meter: no breaker → Z9 = 000 and Z19 = 0; radio → the country's Z16 code;
    the country's GMT offset (Z11) and summer time (Z15); CT → Z21–Z24 added. Without a type number, plain
    `Z_DEFAULTS`."""
    out = dict(Z_DEFAULTS)
    if type_number is None:
        return out
    if not type_number.has_breaker:
        out[9] = 0
        out[19] = 0
    if type_number.radio:
        out[16] = _COUNTRY_RF.get(type_number.country, 319)
    out[11], out[15] = _COUNTRY_CLOCK[type_number.country]
    if type_number.is_ct:
        out.update(CT_Z_DEFAULTS)
    return out


# ----- decoders -------------------------------------------------------------------------------------------------


def z1_display_format(z1: int, is_ct: bool) -> tuple[int, int]:
    """Energy display format as (integer digits, decimals): 1 = 7.0, 2 = 6.1 (CT 7.1), 3 = 7.2, 4 = 6.3 (not CT)."""
    check_z(1, z1)
    if z1 == 4 and is_ct:
        raise _refuse(1, z1, "format 6.3 does not exist on CT meters; allowed 1 (7.0), 2 (7.1), 3 (7.2)")
    formats = {1: (7, 0), 2: (7, 1) if is_ct else (6, 1), 3: (7, 2), 4: (6, 3)}
    return formats[z1]


def z2_led_on_at_no_load(z2: int) -> bool:
    return check_z(2, z2) == 2


def z3_io_roles(z3: int) -> tuple[str, str]:
    """(I/O1 role, I/O2 role) of the primary module connector, as named in the spec's Z3 table."""
    return Z3_ROLES[check_z(3, z3)]


def z3_tariff_inputs(z3: int) -> Literal[0, 2, 4]:
    """How many tariffs the module's tariff inputs select: 0 (no tariff input), 2 or 4."""
    check_z(3, z3)
    if z3 in _Z3_FOUR_TARIFF:
        return 4
    if z3 in _Z3_TWO_TARIFF:
        return 2
    return 0


def z3_tariff_inverted(z3: int) -> bool:
    """Whether the tariff inputs are inverted (4-tariff inverted reads T4, T3, T2, T1, §2.8)."""
    return check_z(3, z3) in _Z3_TARIFF_INVERTED


def z3_has_pulse_input(z3: int) -> bool:
    """A counting pulse input (not the debiting-stop pulse of code 15)."""
    return check_z(3, z3) in _Z3_PULSE_IN


_PULSE_OUT_ENERGY: Final = {"A+ out": "a_plus", "A- out": "a_minus", "R+ out": "r_plus"}


def z3_pulse_outputs(z3: int) -> tuple[str | None, str | None]:
    """The energy register (a_plus, a_minus, r_plus) each module I/O pulses out, or None (codes 05, 06, 11, 12, 16)."""
    return (_PULSE_OUT_ENERGY.get(Z3_ROLES[check_z(3, z3)][0]), _PULSE_OUT_ENERGY.get(Z3_ROLES[z3][1]))


def z3_has_alarm_input(z3: int) -> bool:
    return check_z(3, z3) in _Z3_ALARM_IN


def z3_alarm_inverted(z3: int) -> bool:
    """Whether the alarm input (always I/O2) is inverted: codes 04, 09 and 10 of the Z3 table."""
    return Z3_ROLES[check_z(3, z3)][1] == "alarm in, inverted"


def z4_period_s(z4: int) -> int:
    """Integration / load-profile period in seconds: 1 = 5 min, 2 = 15, 3 = 30, 4 = 60."""
    return {1: 300, 2: 900, 3: 1800, 4: 3600}[check_z(4, z4)]


def z6_stop_day(z6: int) -> int:
    """Debiting stop day of the month, 1–28."""
    return check_z(6, z6)


def z7_stop_months(z7: int) -> frozenset[int] | None:
    """Months (1–12) in which debiting-1 stops; None = 00, external control only (command, module pulse)."""
    check_z(7, z7)
    if z7 == 0:
        return None
    if z7 == 1:
        step, first = 1, 1
    elif z7 <= 3:
        step, first = 2, z7 - 1  # 02 Jan, 03 Feb
    elif z7 <= 6:
        step, first = 3, z7 - 3  # 04 Jan, 05 Feb, 06 Mar
    elif z7 <= 12:
        step, first = 6, z7 - 6  # 07 Jan … 12 Jun
    else:
        step, first = 12, z7 - 12  # 13 Jan … 24 Dec
    return frozenset(range(first, 13, step))


def z8_pulse_width_ms(z8: int) -> tuple[int, bool]:
    """(module pulse-output width in ms, alarm input active)."""
    check_z(8, z8)
    return (30 if z8 <= 2 else 80), z8 in (2, 4)


def z12_pulse_unit(z12: int) -> str | None:
    """Unit of the module pulse input: None, "kWh", "m³" or "l"."""
    return {0: None, 1: "kWh", 2: "m³", 3: "l"}[check_z(12, z12)]


def z13_tariff_control(z13: int) -> Literal["off", "module_port", "register", "table"]:
    """Tariff source: off, module port (Z3 tariff inputs), register (set by command) or a stored table."""
    check_z(13, z13)
    if z13 == 0:
        return "off"
    if z13 == 1:
        return "module_port"
    if z13 == 2:
        return "register"
    return "table"


def z14_load_control(z14: int) -> Literal["off", "register"]:
    return "register" if check_z(14, z14) == 1 else "off"


def z15_eu_dst(z15: int) -> bool:
    return check_z(15, z15) == 1


def z16_rf_region(z16: int) -> str | None:
    """Radio region of a Z16 frequency code ("NO", "EU", …), None for 000."""
    return Z16_RF_REGIONS[check_z(16, z16)]


IEC1107_MODES: Final = ("A", "C")


def z18_1107_list(z18: int) -> Literal["UD1", "UD2"] | None:
    """The 1107 data list (modes A and C, `IEC1107_MODES`), or None when 1107 is off. List contents are unpublished."""
    code = check_z(18, z18)
    if code == 0:
        return None
    return "UD1" if code == 1 else "UD2"


def z19_delivery_position(z19: int) -> Literal["undefined", "connected", "disconnected"]:
    return ("undefined", "connected", "disconnected")[check_z(19, z19)]


def z21_ct_ratio(z21: int) -> int:
    """The CT ratio (primary/secondary); the code is the ratio itself."""
    return check_z(21, z21)


def z25_interval(z25: int) -> Literal["daily", "weekly", "monthly"]:
    return ("daily", "weekly", "monthly")[check_z(25, z25) - 1]
