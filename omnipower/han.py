"""Kamstrup OMNIPOWER HAN push lists: encode a push frame from readings, decode one to values. Sans-IO.

A push is an HDLC UI frame (omnipower.hdlc) carrying LLC `E6 E7 00` and a DATA-NOTIFICATION
(omnipower.dlms), optionally inside general-glo-ciphering. Its body is one structure: the list
version "Kamstrup_V0001", then `09 06 <OBIS>` + value pairs. The lists (`HAN_LISTS`):

* list 1 (NVE, every 10 s): 25 elements; list 2 (NVE, hourly): 35 elements, list 1 + clock + energies;
* DK "DLMS push 1" (every 10 s): 65 elements, per-phase powers, energies and power factors.

Objects a meter lacks are either omitted (Kamstrup's document; the Danish single-phase list has 37
elements) or sent as a null-data pair `00 00` (real NVE single-phase meters keep 25/35 elements).
The decoder accepts both; the encoder does either (`absent`).

No scaler is transmitted, so the count-to-unit exponents are configuration (`HanScalers`). The
defaults are the NVE/Kamstrup convention: 1 W, 1 var, 0.01 A, 1 V, PF 0.01, 10 Wh, 10 varh. Swedish
meters are reported to send energy in Wh and a CT meter current in mA (reference README §4).

Decoded values are keyed by OBIS display code ("1.8.0", "32.7.0") in the register table's units:
kWh, kvarh, W, var, V, A and PF as a fraction; `HanMessage.registers` keys them by register key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from omnipower.dlms import (
    GENERAL_GLO_CIPHERING,
    INTEGER_TYPES,
    CosemDateTime,
    Data,
    DataNotification,
    DataType,
    GloKeys,
    add_llc,
    decode_data_notification,
    decrypt_glo,
    encode_data,
    encode_data_notification,
    encrypt_glo,
    strip_llc,
)
from omnipower.errors import CodecError, DecryptionError, EncodeError, LengthError, TruncatedError, UnknownTagError
from omnipower.hdlc import FLAG, HdlcFrame, decode_frame, encode_ui_frame
from omnipower.obis import logical_name, logical_name_text
from omnipower.registers import REGISTERS_BY_OBIS, Kind, Register

__all__ = [
    "CT_MILLIAMP_SCALERS",
    "HAN_LISTS",
    "KAMSTRUP_SCALERS",
    "LIST_VERSION",
    "OBIS_CLOCK",
    "OBIS_METER_ID",
    "OBIS_METER_NUMBER",
    "OBIS_METER_TYPE",
    "SWEDISH_WH_SCALERS",
    "HanListKind",
    "HanMessage",
    "HanObject",
    "HanScalers",
    "Quantity",
    "build_han_body",
    "decode_han",
    "display_code",
    "encode_han_push",
    "quantity_of",
]

LIST_VERSION = "Kamstrup_V0001"
OBIS_METER_ID = "1.1.0.0.5.255"  # GS1 number, visible-string(16)
OBIS_METER_TYPE = "1.1.96.1.1.255"  # type number without dashes, visible-string(18)
OBIS_METER_NUMBER = "1.1.0.0.1.255"  # DK list: meter number, double-long-unsigned
OBIS_CLOCK = "0.1.1.0.0.255"  # list 2 / DK: clock, octet-string(12) = the APDU date-time

_PLAIN_ADDRESSES = (0x2B, 0x21)  # client 21 <- server 16 (NVE)
_CIPHERED_ADDRESSES = (0x41, 0x03)  # client 32 <- server 1, as seen on encrypted DK/CH pushes


@dataclass(frozen=True, slots=True)
class QuantitySpec:
    scaler_field: str  # HanScalers attribute
    kind: Kind  # the register table's kind of quantity: the published unit

    @property
    def unit(self) -> str | None:
        """The published unit, the register table's."""
        return self.kind.spec.unit

    @property
    def unit_exponent(self) -> int:
        """Published unit = 10**unit_exponent base units (kWh = 10**3 Wh)."""
        return round(math.log10(self.kind.spec.base_per_unit))


class Quantity(Enum):
    """What a metered value is, as far as its transmitted scaler goes (one `HanScalers` field each)."""

    ACTIVE_POWER = QuantitySpec("active_power", Kind.POWER)
    REACTIVE_POWER = QuantitySpec("reactive_power", Kind.REACTIVE_POWER)
    APPARENT_POWER = QuantitySpec("apparent_power", Kind.APPARENT_POWER)
    CURRENT = QuantitySpec("current", Kind.CURRENT)
    VOLTAGE = QuantitySpec("voltage", Kind.VOLTAGE)
    POWER_FACTOR = QuantitySpec("power_factor", Kind.POWER_FACTOR)
    ACTIVE_ENERGY = QuantitySpec("active_energy", Kind.ENERGY)
    REACTIVE_ENERGY = QuantitySpec("reactive_energy", Kind.REACTIVE_ENERGY)
    APPARENT_ENERGY = QuantitySpec("apparent_energy", Kind.APPARENT_ENERGY)

    @property
    def spec(self) -> QuantitySpec:
        return self.value


_QUANTITY_OF_KIND = {q.spec.kind: q for q in Quantity}


@dataclass(frozen=True, slots=True)
class HanScalers:
    """Decimal exponent of one transmitted count in base units (W, var, VA, A, V, 1, Wh, varh, VAh):
    the DLMS scaler the meter does not send. Defaults: the NVE/Kamstrup convention."""

    active_power: int = 0
    reactive_power: int = 0
    apparent_power: int = 0
    current: int = -2  # 0.01 A
    voltage: int = 0
    power_factor: int = -2  # 0.01
    active_energy: int = 1  # 10 Wh
    reactive_energy: int = 1  # 10 varh
    apparent_energy: int = 1

    def scaler(self, quantity: Quantity) -> int:
        value: int = getattr(self, quantity.spec.scaler_field)
        return value


KAMSTRUP_SCALERS = HanScalers()
# Reported, not confirmed by Kamstrup (reference README §4 items 2 and 3): energy in Wh on Swedish
# meters, current in mA on a CT meter.
SWEDISH_WH_SCALERS = HanScalers(active_energy=0, reactive_energy=0, apparent_energy=0)
CT_MILLIAMP_SCALERS = HanScalers(current=-3)

def _parts(obis: str) -> tuple[int, ...]:
    return tuple(int(p) for p in obis.split("."))


def _register(obis: str) -> Register | None:
    """The register-table entry of a metered value: an electricity object "1.1.C.D.E.255" with D = 7
    (instantaneous) or 8 (energy register); None for anything else."""
    a, _b, c, d, e, f = _parts(obis)
    if a != 1 or f != 255 or d not in (7, 8):
        return None
    return REGISTERS_BY_OBIS.get(f"{c}.{d}.{e}")


def quantity_of(obis: str) -> Quantity | None:
    """The quantity of a metered value of the register table (logical name "1.1.C.D.E.255"), None if it is not one."""
    register = _register(obis)
    return None if register is None else _QUANTITY_OF_KIND.get(register.kind)


def display_code(obis: str) -> str:
    """Register-table form of an electricity logical name: "1.1.32.7.0.255" -> "32.7.0"."""
    a, _b, c, d, e, f = _parts(obis)
    return f"{c}.{d}.{e}" if a == 1 and f == 255 else obis


@dataclass(frozen=True, slots=True)
class HanObject:
    """One object of a list layout: logical name and the A-XDR type it is sent as."""

    obis: str
    type: DataType

    @property
    def display(self) -> str:
        return display_code(self.obis)

    @property
    def quantity(self) -> Quantity | None:
        return quantity_of(self.obis)

    @property
    def phase(self) -> int | None:
        """1, 2 or 3 for a per-phase object, None for totals and identification."""
        register = _register(self.obis) if self.quantity else None
        return register.phase or None if register else None

    @property
    def register_key(self) -> str | None:
        register = _register(self.obis) if self.quantity else None
        return register.key if register else None


class HanListKind(Enum):
    LIST_1 = "list1"
    LIST_2 = "list2"
    DK_PUSH_1 = "dk_push1"


# The lists each layout pushes, push 1 first: push 1 every 10 s, push 2 (NVE list 2) hourly (§10.4; the Danish push 1,
# §10.5). meter_sim/modules/han_push.py pushes them; the meter's COSEM Push Setup objects describe them.
HAN_PUSHES: dict[str, tuple[HanListKind, ...]] = {"nve": (HanListKind.LIST_1, HanListKind.LIST_2),
                                                  "dk": (HanListKind.DK_PUSH_1,)}


_U32 = DataType.DOUBLE_LONG_UNSIGNED
_U16 = DataType.LONG_UNSIGNED


def _objs(type_: DataType, *codes: str) -> tuple[HanObject, ...]:
    return tuple(HanObject(f"1.1.{code}.255", type_) for code in codes)


_LIST_1 = (
    HanObject(OBIS_METER_ID, DataType.VISIBLE_STRING),
    HanObject(OBIS_METER_TYPE, DataType.VISIBLE_STRING),
    *_objs(_U32, "1.7.0", "2.7.0", "3.7.0", "4.7.0", "31.7.0", "51.7.0", "71.7.0"),
    *_objs(_U16, "32.7.0", "52.7.0", "72.7.0"),
)
# Element order and types exactly as in the reference frames (Kamstrup HAN §5.2, amsreader gh216-1).
HAN_LISTS: Mapping[HanListKind, tuple[HanObject, ...]] = {
    HanListKind.LIST_1: _LIST_1,
    HanListKind.LIST_2: (
        *_LIST_1,
        HanObject(OBIS_CLOCK, DataType.OCTET_STRING),
        *_objs(_U32, "1.8.0", "2.8.0", "3.8.0", "4.8.0"),
    ),
    HanListKind.DK_PUSH_1: (
        *_objs(_U32, "1.8.0", "2.8.0", "3.8.0", "4.8.0"),
        HanObject(OBIS_METER_NUMBER, _U32),
        *_objs(_U32, "1.7.0", "2.7.0", "3.7.0", "4.7.0"),
        HanObject(OBIS_CLOCK, DataType.OCTET_STRING),
        *_objs(_U16, "32.7.0", "52.7.0", "72.7.0"),
        *_objs(_U32, "31.7.0", "51.7.0", "71.7.0", "21.7.0", "41.7.0", "61.7.0"),
        *_objs(_U16, "33.7.0", "53.7.0", "73.7.0", "13.7.0"),
        *_objs(_U32, "22.7.0", "42.7.0", "62.7.0", "22.8.0", "42.8.0", "62.8.0", "21.8.0", "41.8.0", "61.8.0"),
    ),
}
_DEFAULT_ABSENT = {HanListKind.LIST_1: "null", HanListKind.LIST_2: "null", HanListKind.DK_PUSH_1: "omit"}
# The OBIS C groups of metered values only the DK list carries (per-phase powers, energies, power factors).
_DK_ONLY = ({_parts(o.obis)[2] for o in HAN_LISTS[HanListKind.DK_PUSH_1] if o.quantity}
            - {_parts(o.obis)[2] for o in HAN_LISTS[HanListKind.LIST_2] if o.quantity})

# --- encoding ------------------------------------------------------------------------------------


def _count(key: str, value: object, exponent: int) -> int:
    """Transmitted count of `value` (published unit) when one count is 10**exponent published units."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EncodeError(f"reading {key}={value!r} is not a number")
    if not math.isfinite(value):
        raise EncodeError(f"reading {key}={value!r} is not finite")
    # Divide or multiply by an exact power of ten, then round: 2.37 A -> 237 despite binary floats.
    factor: int = 10 ** abs(exponent)
    return round(value * factor) if exponent <= 0 else round(value / factor)


def _meter_number(meter_id: str, meter_number: int | None) -> int:
    if meter_number is not None:
        return meter_number
    # No published relation between GS1 id and meter number: the last 8 digits are a stand-in.
    if len(meter_id) >= 8 and meter_id[-8:].isdigit():
        return int(meter_id[-8:])
    raise EncodeError(f"meter id {meter_id!r} does not end in 8 digits: pass meter_number")


def build_han_body(
    readings: Mapping[str, float | int | str | None],
    list_kind: HanListKind | str,
    when: CosemDateTime,
    meter_id: str,
    meter_type: str,
    scalers: HanScalers | None = None,
    *,
    three_phase: bool = True,
    absent: str | None = None,
    meter_number: int | None = None,
) -> Data:
    """The notification body (one structure) of a push; see `encode_han_push`."""
    try:
        kind = HanListKind(list_kind)
    except ValueError:
        raise EncodeError(f"unknown list {list_kind!r} (list1, list2 or dk_push1)") from None
    scalers = scalers or KAMSTRUP_SCALERS
    absent = absent or _DEFAULT_ABSENT[kind]
    if absent not in ("null", "omit"):
        raise EncodeError(f"absent must be 'null' or 'omit', not {absent!r}")
    items = [Data(DataType.VISIBLE_STRING, LIST_VERSION)]
    for obj in HAN_LISTS[kind]:
        value = _object_value(obj, readings, when, meter_id, meter_type, scalers, three_phase, meter_number)
        if value is None:
            if absent == "null":
                items += [Data(DataType.NULL_DATA), Data(DataType.NULL_DATA)]
            continue
        items += [Data(DataType.OCTET_STRING, logical_name(obj.obis)), value]
    return Data(DataType.STRUCTURE, tuple(items))


def _object_value(
    obj: HanObject,
    readings: Mapping[str, float | int | str | None],
    when: CosemDateTime,
    meter_id: str,
    meter_type: str,
    scalers: HanScalers,
    three_phase: bool,
    meter_number: int | None,
) -> Data | None:
    if obj.obis == OBIS_METER_ID:
        return Data(obj.type, meter_id)
    if obj.obis == OBIS_METER_TYPE:
        return Data(obj.type, meter_type)
    if obj.obis == OBIS_CLOCK:
        return Data.date_time(when)
    if obj.obis == OBIS_METER_NUMBER:
        return Data(obj.type, _meter_number(meter_id, meter_number))
    quantity, key = obj.quantity, obj.register_key
    assert quantity is not None and key is not None, obj  # every layout value has a register
    if not three_phase and obj.phase in (2, 3):
        return None
    reading = readings.get(key)
    if reading is None:
        return None
    count = _count(key, reading, scalers.scaler(quantity) - quantity.spec.unit_exponent)
    data = Data(obj.type, count)
    try:
        encode_data(data)
    except EncodeError:
        raise EncodeError(f"reading {key}={reading!r} is {count} counts, outside {obj.type.name}") from None
    return data


def encode_han_push(
    readings: Mapping[str, float | int | str | None],
    list_kind: HanListKind | str,
    when: CosemDateTime,
    meter_id: str,
    meter_type: str,
    scalers: HanScalers | None = None,
    *,
    three_phase: bool = True,
    encryption: GloKeys | None = None,
    absent: str | None = None,
    meter_number: int | None = None,
    system_title: bytes | None = None,
    frame_counter: int = 0,
    dst: int | None = None,
    src: int | None = None,
    legacy_date_time: bool = False,
) -> bytes:
    """The complete HDLC frame of one push, as the meter sends it.

    `readings` are keyed by register key (a_plus, p_plus, i_l1, …) in the register table's units
    (kWh, kvarh, W, var, V, A, PF 0–1); `scalers` turn them into counts. A reading that is missing
    or None, and with `three_phase=False` every L2/L3 object, is absent: sent as a null-data pair
    (`absent="null"`, the default for lists 1 and 2, as real single-phase meters do) or left out
    (`absent="omit"`, the default for the DK list, whose single-phase form has 37 elements).
    The DK list's meter number defaults to the last 8 digits of `meter_id`.

    With `encryption`, the APDU is sent in general-glo-ciphering with `system_title` (default
    "KAME" + the meter number as 4 bytes) and `frame_counter`, and the HDLC addresses default to
    0x41/0x03 as on real encrypted pushes (0x2B/0x21 otherwise). `legacy_date_time` writes the
    old-firmware `09 0C` date-time prefix.
    """
    body = build_han_body(
        readings, list_kind, when, meter_id, meter_type, scalers,
        three_phase=three_phase, absent=absent, meter_number=meter_number,
    )  # fmt: skip
    apdu = encode_data_notification(DataNotification(0, when, body), legacy_date_time=legacy_date_time)
    addresses = _PLAIN_ADDRESSES
    if encryption is not None:
        if system_title is None:
            system_title = b"KAME" + _meter_number(meter_id, meter_number).to_bytes(4, "big")
        apdu = encrypt_glo(
            apdu, system_title, frame_counter, encryption.encryption_key, encryption.authentication_key
        )
        addresses = _CIPHERED_ADDRESSES
    dst = addresses[0] if dst is None else dst
    src = addresses[1] if src is None else src
    return encode_ui_frame(add_llc(apdu), dst=dst, src=src)


# --- decoding ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HanMessage:
    """One decoded push.

    `values`: metered values by OBIS display code in register-table units. `objects`: every object
    sent, by full logical name, as its raw A-XDR value (including unknown ones and null values).
    `date_time` is the APDU's, `clock` the list-2/DK clock object; both as sent, no time zone.
    """

    list_kind: HanListKind
    version: str | None
    date_time: CosemDateTime | None
    meter_id: str | None
    meter_type: str | None
    meter_number: int | None
    clock: CosemDateTime | None
    values: Mapping[str, float] = field(default_factory=dict)
    objects: Mapping[str, Data] = field(default_factory=dict)
    null_pairs: int = 0
    system_title: bytes | None = None  # set when the push was ciphered
    frame_counter: int | None = None

    @property
    def registers(self) -> dict[str, float]:
        """`values` keyed by register key (p_plus, a_plus, …) where the register table has one."""
        return {REGISTERS_BY_OBIS[code].key: v for code, v in self.values.items() if code in REGISTERS_BY_OBIS}


def _scale(count: int, exponent: int) -> float:
    # Multiply or divide by an exact power of ten so 237 counts of 0.01 A give exactly 2.37.
    factor: int = 10 ** abs(exponent)
    return count * factor if exponent >= 0 else count / factor


def _apdu_of(data: bytes | HdlcFrame) -> bytes:
    frame = data if isinstance(data, HdlcFrame) else decode_frame(data) if data[:1] == bytes([FLAG]) else None
    if frame is not None:
        if frame.segmented:
            raise TruncatedError("segmented HDLC frame: a push is never segmented and reassembly is not supported")
        information = frame.information
    else:
        assert isinstance(data, bytes | bytearray | memoryview)
        information = bytes(data)
    return strip_llc(information) if information[:1] == b"\xe6" else information


def decode_han(
    data: bytes | HdlcFrame, scalers: HanScalers | None = None, *, keys: GloKeys | None = None
) -> HanMessage:
    """Decode one push: a whole HDLC frame, an `HdlcFrame`, an information field (LLC + APDU) or an APDU.

    Ciphered pushes need `keys`. Raises a CodecError subclass for anything that is not a valid push.
    """
    scalers = scalers or KAMSTRUP_SCALERS
    apdu = _apdu_of(data)
    system_title = frame_counter = None
    if apdu[:1] == bytes([GENERAL_GLO_CIPHERING]):
        if keys is None:
            raise DecryptionError("the push is ciphered (general-glo-ciphering) and no keys were given")
        message = decrypt_glo(apdu, keys.encryption_key, keys.authentication_key)
        apdu, system_title, frame_counter = message.apdu, message.system_title, message.frame_counter
    notification = decode_data_notification(apdu)
    body = notification.body
    if body.type is not DataType.STRUCTURE or not isinstance(body.value, tuple):
        raise UnknownTagError(f"notification body is {body.type.name}, not a structure")
    items = [item for item in body.value if isinstance(item, Data)]

    version = None
    first = 0
    if items and items[0].type is DataType.VISIBLE_STRING:
        assert isinstance(items[0].value, str)
        version, first = items[0].value, 1
    if (len(items) - first) % 2:
        raise LengthError(f"{len(items) - first} elements after the list version: OBIS/value pairs expected")

    objects: dict[str, Data] = {}
    values: dict[str, float] = {}
    meta: dict[str, object] = {}
    null_pairs = 0
    for index in range(first, len(items), 2):
        key, value = items[index], items[index + 1]
        if key.type is DataType.NULL_DATA and value.type is DataType.NULL_DATA:
            null_pairs += 1
            continue
        if key.type is not DataType.OCTET_STRING or not isinstance(key.value, bytes) or len(key.value) != 6:
            raise UnknownTagError(f"element {index} is {key.type.name}, not an OBIS octet-string(6)")
        obis = logical_name_text(key.value)
        if obis in objects:
            raise CodecError(f"OBIS {obis} sent twice")
        objects[obis] = value
        if value.type is DataType.NULL_DATA:
            continue
        _decode_object(obis, value, index + 1, scalers, values, meta)

    kind = _identify(objects)
    clock = meta.get(OBIS_CLOCK)
    meter_id, meter_type, number = meta.get(OBIS_METER_ID), meta.get(OBIS_METER_TYPE), meta.get(OBIS_METER_NUMBER)
    return HanMessage(
        list_kind=kind,
        version=version,
        date_time=notification.date_time,
        meter_id=meter_id if isinstance(meter_id, str) else None,
        meter_type=meter_type if isinstance(meter_type, str) else None,
        meter_number=number if isinstance(number, int) else None,
        clock=clock if isinstance(clock, CosemDateTime) else None,
        values=values,
        objects=objects,
        null_pairs=null_pairs,
        system_title=system_title,
        frame_counter=frame_counter,
    )


def _decode_object(
    obis: str, value: Data, index: int, scalers: HanScalers, values: dict[str, float], meta: dict[str, object]
) -> None:
    def wrong_type() -> UnknownTagError:
        return UnknownTagError(f"element {index} (OBIS {obis}) is {value.type.name}, unexpected for this object")

    if obis in (OBIS_METER_ID, OBIS_METER_TYPE):
        if value.type is not DataType.VISIBLE_STRING:
            raise wrong_type()
        meta[obis] = value.value
    elif obis == OBIS_METER_NUMBER:
        if value.type not in INTEGER_TYPES:
            raise wrong_type()
        meta[obis] = value.value
    elif obis == OBIS_CLOCK:
        if value.type is not DataType.OCTET_STRING or not isinstance(value.value, bytes):
            raise wrong_type()
        meta[obis] = CosemDateTime.from_bytes(value.value)
    else:
        quantity = quantity_of(obis)
        if quantity is None:
            return  # unknown object: kept raw in `objects` only
        if value.type not in INTEGER_TYPES or not isinstance(value.value, int):
            raise wrong_type()
        exponent = scalers.scaler(quantity) - quantity.spec.unit_exponent
        values[display_code(obis)] = _scale(value.value, exponent)


def _identify(objects: Mapping[str, Data]) -> HanListKind:
    """The list by its content, not its element count, so omitted objects do not confuse it."""
    codes = [_parts(obis) for obis in objects]
    if OBIS_METER_NUMBER in objects or any(p[0] == 1 and p[2] in _DK_ONLY for p in codes):
        return HanListKind.DK_PUSH_1
    if OBIS_CLOCK in objects or any(p[0] == 1 and p[3] == 8 for p in codes):
        return HanListKind.LIST_2
    return HanListKind.LIST_1
