"""The OMNIPOWER hardware type number (spec §11.1): 18 characters, `68X1-X2X3-X4X5X6-X7X8X9-X10X11X12X13-X14X15X16`.

The type number fixes what the hardware *is* (CT or direct, breaker, radio, S0/APS, energy type, country), so the
simulator derives its feature switches from it instead of from loose booleans. Parsing is strict: every field is
checked against the spec's code table and against the other fields, and errors name the field, the value and what
is allowed, so a bad setting stops start-up with a message a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from meter_sim.metrology import STARTING_THRESHOLD_CT_W, STARTING_THRESHOLD_W

MeterType = Literal["three_phase", "ct", "single_phase"]
Housing = Literal["standard", "ST"]
Breaker = Literal["none", "dual", "standard"]
Backup = Literal["supercap", "supercap+battery"]
Interface = Literal["none", "S0", "APS"]

DEFAULT_TYPE_NUMBER: Final = "6841131BN243101040"
"""The spec's worked example (§11.1): three-phase, 3 systems, 5(100) A, class B, Variant 2, 4-quadrant, standard
breaker, radio, supercap, S0, Norway."""

TYPE_NUMBER_LENGTH: Final = 18

_METER_TYPES: Final[MappingProxyType[str, MeterType]] = MappingProxyType(
    {"4": "three_phase", "5": "ct", "6": "single_phase"}
)
_HOUSINGS: Final[MappingProxyType[str, Housing]] = MappingProxyType({"1": "standard", "2": "ST"})
_BREAKERS: Final[MappingProxyType[str, Breaker]] = MappingProxyType({"0": "none", "2": "dual", "3": "standard"})
_BACKUPS: Final[MappingProxyType[str, Backup]] = MappingProxyType({"0": "supercap", "1": "supercap+battery"})
_INTERFACES: Final[MappingProxyType[str, Interface]] = MappingProxyType({"0": "none", "1": "S0", "2": "APS"})
# X6: A/B/C are MID classes, 2/1 IEC classes, code 5 = IEC class 0.5 (CT).
_ACCURACY: Final[MappingProxyType[str, str]] = MappingProxyType(
    {"A": "A", "B": "B", "C": "C", "2": "2", "1": "1", "5": "0.5"}
)
# §1: direct meters are MID A/B or IEC 2/1; CT meters MID B/C or IEC 1/0.5.
_ACCURACY_DIRECT: Final = ("A", "B", "2", "1")
_ACCURACY_CT: Final = ("B", "C", "1", "5")

# X14–X16 → country label, exactly as listed in spec §11.1.
COUNTRIES: Final[MappingProxyType[str, str]] = MappingProxyType(
    {
        "010": "DK",
        "011": "DK",
        "012": "DK",
        "040": "NO",
        "084": "FI",
        "086": "FI-Åland",
        "090": "SE",
        "067": "IS",
        "055": "AT",
        "056": "AT",
        "059": "CH-IT",
        "063": "CH-DE",
        "065": "CH-FR",
        "064": "PL",
        "070": "DE",
        "078": "BE",
        "080": "NL",
        "050": "UK",
        "031": "ES",
        "025": "RU",
        "035": "TR",
        "036": "HR",
        "037": "RS",
        "042": "SK",
        "043": "CZ",
        "044": "HU",
        "045": "LV",
        "049": "LT",
        "061": "EE",
        "110": "SA",
        "120": "ZA",
        "121": "GH",
        "151": "CL",
    }
)


@dataclass(frozen=True, slots=True)
class CurrentRange:
    """X5 decoded: transitional current Itr, base current Ib and maximum current Imax in amperes."""

    code: str
    itr: float
    ib: float
    imax: float
    text: str  # as printed on the meter, e.g. "5(100) A"


# Itr: §1 gives 0.25 A for the 5 A direct ranges and 0.01 / 0.05 A for the CT ranges (Ib/20 direct, Ib/100 CT).
# (inferred) The 10 A direct ranges, for which no Itr is published, keep the direct ratio: 10/20 = 0.5 A.
# Note: §1 lists 5(60) A, the X5 table 5(65) A; the X5 table (and [DS] "5-65A") is followed.
_CURRENT_DIRECT: Final[MappingProxyType[str, CurrentRange]] = MappingProxyType(
    {
        "1": CurrentRange("1", 0.25, 5.0, 100.0, "5(100) A"),
        "4": CurrentRange("4", 0.25, 5.0, 65.0, "5(65) A"),
        "6": CurrentRange("6", 0.5, 10.0, 60.0, "10(60) A"),
        "7": CurrentRange("7", 0.5, 10.0, 80.0, "10(80) A"),
        "8": CurrentRange("8", 0.25, 5.0, 80.0, "5(80) A"),
    }
)
_CURRENT_CT: Final[MappingProxyType[str, CurrentRange]] = MappingProxyType(
    {
        "1": CurrentRange("1", 0.01, 1.0, 6.0, "1(6) A"),
        "5": CurrentRange("5", 0.05, 5.0, 6.0, "5(6) A"),
    }
)

# Field → (label used in messages, allowed codes in the spec's order).
_FIELDS: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("X1", "meter type", ("4", "5", "6")),
    ("X2", "type-number version", ("1",)),
    ("X3", "housing", ("1", "2")),
    ("X4", "measuring systems", ("1", "2", "3")),
    ("X5", "current", ("1", "4", "5", "6", "7", "8")),
    ("X6", "accuracy", ("A", "B", "C", "2", "1", "5")),
    ("X7", "generation", ("D", "N")),
    ("X8", "variant", ("1", "2")),
    ("X9", "energy type", ("1", "2", "3", "4")),
    ("X10", "breaker", ("0", "2", "3")),
    ("X11", "communication", ("0", "1")),
    ("X12", "backup", ("0", "1")),
    ("X13", "interface", ("0", "1", "2")),
)

# X9 → the legal energy registers (and load-profile channels, §4.1) of that energy type.
ENERGY_REGISTERS: Final[MappingProxyType[int, tuple[str, ...]]] = MappingProxyType(
    {1: ("A+",), 2: ("A+", "A-"), 3: ("A+", "R+"), 4: ("A+", "A-", "R+", "R-")}
)


def _field_error(field: str, label: str, value: str, allowed: str) -> ValueError:
    return ValueError(f"type_number {field} ({label}) = {value!r}: {allowed}")


@dataclass(frozen=True, slots=True)
class TypeNumber:
    """A validated type number; build it with `parse_type_number`."""

    code: str  # the normalized 18 characters, e.g. "6841131BN243101040"
    meter_type: MeterType  # X1
    type_version: int  # X2
    housing: Housing  # X3
    measuring_systems: int  # X4: 1 single-phase, 2 Aron (three-phase 3-wire), 3 three-phase 4-wire
    current: CurrentRange  # X5
    accuracy_class: str  # X6: "A", "B", "C" (MID) or "2", "1", "0.5" (IEC)
    generation: str  # X7: "N" direct, "D" CT
    variant: int  # X8: 1 standard, 2 last gasp + encryption, no DLMS/1107 query
    energy_type: int  # X9: 1 A+, 2 A+/A−, 3 A+/R+ (CT), 4 A+/A−/R+/R−
    breaker: Breaker  # X10
    radio: bool  # X11
    backup: Backup  # X12
    interface: Interface  # X13
    country_code: str  # X14–X16, e.g. "040"
    country: str  # e.g. "NO"

    @property
    def is_ct(self) -> bool:
        return self.meter_type == "ct"

    @property
    def is_aron(self) -> bool:
        """Three-phase 3-wire (two measuring systems, 3x230 V; voltages are line-to-line, §2.2)."""
        return self.meter_type != "single_phase" and self.measuring_systems == 2

    @property
    def phases(self) -> int:
        """Phase conductors with their own U/I objects: 1 for single-phase, else 3.

        (inferred) Aron meters count 3 although they have 2 measuring systems: §2.2 gives them U1–U3 and I1–I3
        (line voltages and combined currents), so per-phase registers exist for all three.
        """
        return 1 if self.meter_type == "single_phase" else 3

    @property
    def has_breaker(self) -> bool:
        return self.breaker != "none"

    @property
    def has_s0(self) -> bool:
        return self.interface == "S0"

    @property
    def has_aps(self) -> bool:
        return self.interface == "APS"

    @property
    def has_battery(self) -> bool:
        """X12 = 1: the battery keeps the display alive without mains; the supercap alone (X12 = 0) keeps only the
        clock, for 7 days (§1)."""
        return self.backup == "supercap+battery"

    @property
    def has_last_gasp(self) -> bool:
        """Last gasp needs the internal radio and Variant 2 (§8)."""
        return self.variant == 2 and self.radio

    @property
    def supports_dlms_query(self) -> bool:
        """Variant 2 answers no DLMS or 1107 queries (§10.1); it still pushes DLMS-framed HAN data."""
        return self.variant == 1

    @property
    def energy_registers(self) -> tuple[str, ...]:
        """The legal energy registers of X9, e.g. ("A+", "A-", "R+", "R-")."""
        return ENERGY_REGISTERS[self.energy_type]

    @property
    def starting_threshold_w(self) -> float:
        """Per phase: below it no energy is registered (§1)."""
        return STARTING_THRESHOLD_CT_W if self.is_ct else STARTING_THRESHOLD_W

    @property
    def led_imp_per_kwh(self) -> int:
        return 10_000 if self.is_ct else 1000

    @property
    def s0_imp_per_kwh(self) -> int | None:
        """S0 constant (§1), or None when the meter has no S0 output (X13 ≠ 1)."""
        if not self.has_s0:
            return None
        return 5000 if self.is_ct else 1000

    @property
    def grouped(self) -> str:
        """The spec's grouping `68X1-X2X3-X4X5X6-X7X8X9-X10X11X12X13-X14X15X16`."""
        c = self.code
        return f"{c[0:3]}-{c[3:5]}-{c[5:8]}-{c[8:11]}-{c[11:15]}-{c[15:18]}"

    def __str__(self) -> str:
        return self.code


def normalize_type_number(text: str) -> str:
    """Strip spaces and dashes (anywhere) and upper-case ASCII letters; checks only length and the '68' prefix."""
    if not isinstance(text, str):
        raise ValueError(f"type_number must be a string, got {type(text).__name__}")
    code = "".join(text.split()).replace("-", "")
    code = "".join(ch.upper() if "a" <= ch <= "z" else ch for ch in code)
    if not code.startswith("68"):
        raise ValueError(f"type_number {text!r} must start with '68'")
    if len(code) != TYPE_NUMBER_LENGTH:
        raise ValueError(
            f"type_number {text!r} must have {TYPE_NUMBER_LENGTH} characters ('68' + X1…X16, dashes and spaces "
            f"ignored), got {len(code)}"
        )
    return code


def parse_type_number(text: str) -> TypeNumber:
    """Decode and validate a type number such as "6841131BN243101040" or "684-11-31B-N24-3101-040"."""
    code = normalize_type_number(text)
    x = {f"X{i}": code[i + 1] for i in range(1, 14)}  # X1 is code[2]

    for field, label, allowed in _FIELDS:
        if x[field] not in allowed:
            raise _field_error(field, label, x[field], "allowed " + ", ".join(allowed))
    country_code = code[15:18]
    if country_code not in COUNTRIES:
        raise _field_error("X14–X16", "country", country_code, "allowed " + ", ".join(sorted(COUNTRIES)))

    meter_type = _METER_TYPES[x["X1"]]
    is_ct = meter_type == "ct"
    type_text = {
        "three_phase": "a three-phase direct meter",
        "ct": "a CT meter",
        "single_phase": "a single-phase meter",
    }
    what = f"{type_text[meter_type]} (X1 = {x['X1']})"

    def cross(field: str, label: str, allowed: str) -> ValueError:
        return _field_error(field, label, x[field], f"{what} allows {allowed}")

    # X7: generation D is the CT family, N the direct families (§11.1).
    if x["X7"] != ("D" if is_ct else "N"):
        raise cross("X7", "generation", "D" if is_ct else "N")
    # X3: the ST housing (BS 7856) exists for single-phase meters only.
    if x["X3"] == "2" and meter_type != "single_phase":
        raise cross("X3", "housing", "1 (ST housing 2 is single-phase only)")
    # X4: single-phase 1 system; three-phase 4-wire 3, Aron 2. §1 lists an Aron (3x230 V) CT variant too, so CT
    # meters accept 2 or 3 although the §11.1 CT family line shows 3.
    if meter_type == "single_phase" and x["X4"] != "1":
        raise cross("X4", "measuring systems", "1")
    if meter_type != "single_phase" and x["X4"] not in ("2", "3"):
        raise cross("X4", "measuring systems", "2 (Aron, 3-wire) or 3 (4-wire)")
    # X5: codes 1 and 5 are the CT ranges 1(6) A and 5(6) A; the other codes are direct ranges.
    currents = _CURRENT_CT if is_ct else _CURRENT_DIRECT
    if x["X5"] not in currents:
        raise cross("X5", "current", ", ".join(f"{k} = {v.text}" for k, v in currents.items()))
    # X6: §1 classes per meter kind.
    classes = _ACCURACY_CT if is_ct else _ACCURACY_DIRECT
    if x["X6"] not in classes:
        raise cross("X6", "accuracy", ", ".join(classes))
    # X9: A+/R+ is a CT-only energy type.
    if x["X9"] == "3" and not is_ct:
        raise cross("X9", "energy type", "1, 2, 4 (3 = A+/R+ is CT only)")
    # X10: CT meters have no breaker (§5 "direct meters with breaker only"); the dual breaker is single-phase.
    if is_ct and x["X10"] != "0":
        raise cross("X10", "breaker", "0 (no breaker)")
    if x["X10"] == "2" and meter_type != "single_phase":
        raise cross("X10", "breaker", "0 or 3 (2 = dual breaker is single-phase only)")
    # X12: supercap alone is a direct-meter option ("0 supercap (direct)"); the CT family line shows 1.
    if is_ct and x["X12"] != "1":
        raise cross("X12", "backup", "1 (supercap + battery)")
    # X13: APS is three-phase direct only (§9); the CT family line `685-11-3XX-DxX-0X11` fixes S0 (1) on CT meters.
    if is_ct and x["X13"] != "1":
        raise cross("X13", "interface", "1 (S0)")
    if x["X13"] == "2" and meter_type != "three_phase":
        raise cross("X13", "interface", "0 or 1 (2 = APS is three-phase direct only)")

    return TypeNumber(
        code=code,
        meter_type=meter_type,
        type_version=int(x["X2"]),
        housing=_HOUSINGS[x["X3"]],
        measuring_systems=int(x["X4"]),
        current=currents[x["X5"]],
        accuracy_class=_ACCURACY[x["X6"]],
        generation=x["X7"],
        variant=int(x["X8"]),
        energy_type=int(x["X9"]),
        breaker=_BREAKERS[x["X10"]],
        radio=x["X11"] == "1",
        backup=_BACKUPS[x["X12"]],
        interface=_INTERFACES[x["X13"]],
        country_code=country_code,
        country=COUNTRIES[country_code],
    )
