"""The meter's COSEM object model, derived from the register table (one more face of `omnipower/registers.py`).

Each reading becomes the COSEM object a DLMS head-end expects (IEC 62056-6-2, the Blue Book's interface classes):
- a total or an instantaneous value: **Register** (class 3) at the register's logical name, its value an integer
  count with the register's scaler and the unit of its kind;
- a peak with its time (`1.6.0` and `1.6.0.t`): **Extended Register** (class 4), the time as `capture_time`;
- the active tariff, the tariff plan, relay and prepayment states: **Data** (class 1); so is the firmware's identity,
  its version and checksum as visible-strings at the active firmware identifier (1.0.0.2.0.255) and signature
  (1.0.0.2.8.255), §8;
- the breaker (`128.0.11`): **Disconnect Control** (class 70), §5.6 of the facts digest;
plus the objects every meter has: the logical device name (0.0.42.0.0.255), the clock (class 8, at 0.1.1.0.0.255
as the meter's own HAN push names it, §10.5), the current association (class 15, 0.0.40.0.0.255) whose object
list is this table, and **Image Transfer** (class 18, 0.0.44.0.0.255), through which a new firmware image arrives
(§8; meter_sim/modules/dlms_image_transfer.py);
plus one more face of the logger table (`omnipower/loggers.py`): every logger with a DLMS logical name (§4) becomes a
**Profile Generic** (class 7) at that name, and the fields its entries keep besides register values each a Data object
its buffer captures (`LOGGER_FIELDS`):
- the load profile's status word (§4.1): 0.0.96.10.1.255, long-unsigned, as IDIS names LP 1's "AMR profile status"
  (the low byte of our status word is that byte, meter_sim/loggers.py);
- an event logger's (§4.5, 1.1.99.98.E.255) event: 0.0.96.11.E.255 (the IDIS "event object" group, one per logger,
  E as the logger's), a visible-string naming the event as MQTT does (OMNIPOWER publishes no event codes); and its
  detail: 0.0.96.11.(128+E).255 (E 128+ is manufacturer-specific), the entry's details as JSON in a visible-string
  (JSON escapes everything but printable ASCII, and visible-string is what every head-end decodes).
Our own tariff and prepayment logs have no logical name, so no profile.
Plus the objects of the meter's setup:
- the tariff calendar (§2.8, §3) as an **Activity Calendar** (class 20, 0.0.13.0.0.255) whose day actions name the
  tariffication **Script Table** (class 9, 0.0.10.0.100.255: script n writes n to the active tariff's Data object;
  script selector = tariff) and a **Special Days Table** (class 11, 0.0.11.0.0.255) for its exception days; their
  values are the meter's (meter_sim/modules/dlms_server.py);
- **Security Setup** (class 64, 0.0.43.0.0.255): suite 0 and the system titles, never a key;
- one **Push Setup** (class 40) per HAN list the meter pushes (`HAN_PUSHES`), at 0.n.25.9.0.255 for its n-th list
  (§10.4: 0.1.25.9.0.255 list 1, 0.2.25.9.0.255 list 2; the Danish "push 1" of §10.5 is, by its name, push 1),
  its `push_object_list` the list's objects (`push_objects`).
A profile's columns (`capture_objects`: the clock first, then the captured registers' objects, then its fields)
depend on the meter's configuration (load-profile channels, analysis channels), which the meter's side passes in.
A load-profile column names its energy register, but holds what the entry holds: the energy registered in the
period (§4.1, WELMEC 11.2), in that register's count.

Counts: `count = round(base value / unit size / 10**scaler)`, base values as the model holds them (Wh, W, V, A …;
`registers.py`); the scaler is the register table's (the Kamstrup HAN convention) except where the COSEM unit is
not the base unit (the hour counter counts hours).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import IntEnum

from omnipower.dlms import DataType
from omnipower.han import HAN_LISTS, HAN_PUSHES, OBIS_CLOCK, HanListKind
from omnipower.loggers import LOGGERS, Logger, LogKind
from omnipower.obis import logical_name
from omnipower.registers import Kind, Register


class CosemClass(IntEnum):
    DATA = 1
    REGISTER = 3
    EXTENDED_REGISTER = 4
    PROFILE_GENERIC = 7
    CLOCK = 8
    SCRIPT_TABLE = 9
    SPECIAL_DAYS_TABLE = 11
    ASSOCIATION_LN = 15
    IMAGE_TRANSFER = 18
    ACTIVITY_CALENDAR = 20
    PUSH_SETUP = 40
    SECURITY_SETUP = 64
    DISCONNECT_CONTROL = 70


# Interface class versions (Blue Book): what a client reads in the object list.
CLASS_VERSIONS = {CosemClass.DATA: 0, CosemClass.REGISTER: 0, CosemClass.EXTENDED_REGISTER: 0, CosemClass.CLOCK: 0,
                  CosemClass.PROFILE_GENERIC: 1, CosemClass.ASSOCIATION_LN: 1, CosemClass.DISCONNECT_CONTROL: 0,
                  CosemClass.SPECIAL_DAYS_TABLE: 0, CosemClass.ACTIVITY_CALENDAR: 0, CosemClass.PUSH_SETUP: 0,
                  CosemClass.SECURITY_SETUP: 0, CosemClass.SCRIPT_TABLE: 0, CosemClass.IMAGE_TRANSFER: 0}
# Attributes each class has (1 is always the logical name) and its methods.
CLASS_ATTRIBUTES = {CosemClass.DATA: (1, 2), CosemClass.REGISTER: (1, 2, 3),
                    CosemClass.EXTENDED_REGISTER: (1, 2, 3, 4, 5), CosemClass.CLOCK: (1, 2, 3, 4, 5, 6, 7, 8, 9),
                    # logical_name, buffer, capture_objects, capture_period, sort_method, sort_object, entries_in_use,
                    # profile_entries; no methods (reset and capture are not the public's to call)
                    CosemClass.PROFILE_GENERIC: (1, 2, 3, 4, 5, 6, 7, 8),
                    CosemClass.ASSOCIATION_LN: (1, 2, 3, 4, 5, 6, 7, 8),
                    CosemClass.DISCONNECT_CONTROL: (1, 2, 3, 4),
                    CosemClass.SPECIAL_DAYS_TABLE: (1, 2),  # entries
                    CosemClass.SCRIPT_TABLE: (1, 2),  # scripts
                    # calendar_name, season_profile, week_profile_table, day_profile_table: active (2–5) and
                    # passive (6–9); activate_passive_calendar_time (10)
                    CosemClass.ACTIVITY_CALENDAR: tuple(range(1, 11)),
                    # push_object_list, send_destination_and_method, communication_window,
                    # randomisation_start_interval, number_of_retries, repetition_delay
                    CosemClass.PUSH_SETUP: tuple(range(1, 8)),
                    # security_policy, security_suite, client_system_title, server_system_title (version 0: no
                    # certificates; keys are only ever transferred by method, never held in an attribute)
                    CosemClass.SECURITY_SETUP: (1, 2, 3, 4, 5),
                    # image_block_size, image_transferred_blocks_status, image_first_not_transferred_block_number,
                    # image_transfer_enabled, image_transfer_status, image_to_activate_info
                    CosemClass.IMAGE_TRANSFER: tuple(range(1, 8))}
# Association LN method 1 is reply_to_HLS_authentication (HLS-GMAC's second pass); Activity Calendar method 1 is
# activate_passive_calendar; Script Table method 1 is execute (a script by its identifier); Image Transfer's are
# image_transfer_initiate, image_block_transfer, image_verify and image_activate. Not offered: the Special Days
# Table's insert/delete (its entries are the calendar's exception days), Push Setup's push (the HAN module pushes on
# its own clock), Security Setup's key transfer.
CLASS_METHODS = {CosemClass.DISCONNECT_CONTROL: (1, 2), CosemClass.ASSOCIATION_LN: (1,),
                 CosemClass.ACTIVITY_CALENDAR: (1,), CosemClass.SCRIPT_TABLE: (1,),
                 CosemClass.IMAGE_TRANSFER: (1, 2, 3, 4)}


class Unit(IntEnum):
    """COSEM unit codes (Blue Book, enumeration of units), those the meter uses."""

    HOUR = 5
    SECOND = 7
    CURRENCY = 10
    CUBIC_METRE = 13
    LITRE = 19
    WATT = 27
    VOLT_AMPERE = 28
    VAR = 29
    WATT_HOUR = 30
    VOLT_AMPERE_HOUR = 31
    VAR_HOUR = 32
    AMPERE = 33
    VOLT = 35
    HERTZ = 44
    PERCENT = 56
    COUNT = 255  # "count" / no unit


# Per kind: (unit, base units per unit, scaler). The scaler is the register table's except where the unit is not
# the base unit.
_KIND_UNITS: dict[Kind, tuple[Unit, float, int | None]] = {
    Kind.ENERGY: (Unit.WATT_HOUR, 1.0, None),
    Kind.REACTIVE_ENERGY: (Unit.VAR_HOUR, 1.0, None),
    Kind.APPARENT_ENERGY: (Unit.VOLT_AMPERE_HOUR, 1.0, None),
    Kind.POWER: (Unit.WATT, 1.0, None),
    Kind.REACTIVE_POWER: (Unit.VAR, 1.0, None),
    Kind.APPARENT_POWER: (Unit.VOLT_AMPERE, 1.0, None),
    Kind.VOLTAGE: (Unit.VOLT, 1.0, None),
    Kind.CURRENT: (Unit.AMPERE, 1.0, None),
    Kind.POWER_FACTOR: (Unit.COUNT, 1.0, None),
    Kind.FREQUENCY: (Unit.HERTZ, 1.0, None),
    Kind.HOURS: (Unit.HOUR, 3600.0, 0),
    Kind.COUNTER: (Unit.COUNT, 1.0, None),
    Kind.PERCENT: (Unit.PERCENT, 1.0, None),
    Kind.ENERGY_BALANCE: (Unit.WATT_HOUR, 1.0, None),
    Kind.MONEY: (Unit.CURRENCY, 1.0, None),
    Kind.PULSE_RATE: (Unit.HERTZ, 1.0, None),
    Kind.VOLUME_M3: (Unit.CUBIC_METRE, 1.0, None),
    Kind.VOLUME_L: (Unit.LITRE, 1.0, None),
    Kind.PULSE_ENERGY: (Unit.WATT_HOUR, 0.001, 0),  # counted in kWh by the model
}
# Values that may go below zero (a prepayment balance, money): signed counts; every other value is unsigned.
_SIGNED = frozenset({Kind.ENERGY_BALANCE, Kind.MONEY})

LOGICAL_DEVICE_NAME = bytes((0, 0, 42, 0, 0, 255))
CLOCK = bytes((0, 1, 1, 0, 0, 255))
CURRENT_ASSOCIATION = bytes((0, 0, 40, 0, 0, 255))
ACTIVITY_CALENDAR = bytes((0, 0, 13, 0, 0, 255))
SPECIAL_DAYS_TABLE = bytes((0, 0, 11, 0, 0, 255))
SECURITY_SETUP = bytes((0, 0, 43, 0, 0, 255))
IMAGE_TRANSFER = bytes((0, 0, 44, 0, 0, 255))
TARIFF_SCRIPTS = bytes((0, 0, 10, 0, 100, 255))  # the tariffication script table the calendar's day actions name
BREAKER_KEY = "breaker"
# The list version "Kamstrup_V0001" every list starts with: a Data object sent without its logical name (§10.4 #1)
LIST_VERSION = bytes((1, 1, 0, 2, 129, 255))


@dataclass(frozen=True, slots=True)
class CosemObject:
    class_id: CosemClass
    logical_name: bytes
    key: str | None = None  # the register whose value attribute 2 holds (None: the meter's own objects)
    time_key: str | None = None  # Extended Register: the register holding the capture time
    unit: Unit = Unit.COUNT
    scaler: int = 0
    unit_size: float = 1.0  # base units per unit
    data_type: DataType = DataType.DOUBLE_LONG_UNSIGNED
    options: tuple[str, ...] = ()  # Data holding an enumeration: its states, in order
    logger: str | None = None  # a logger's objects (its Profile Generic and its fields): the logger's name
    field: str | None = None  # a logger's field object: which field of the logger's entries it holds
    push: HanListKind | None = None  # a Push Setup: the HAN list it pushes

    @property
    def version(self) -> int:
        return CLASS_VERSIONS[self.class_id]

    @property
    def attributes(self) -> tuple[int, ...]:
        return CLASS_ATTRIBUTES[self.class_id]

    @property
    def methods(self) -> tuple[int, ...]:
        return CLASS_METHODS.get(self.class_id, ())

    def count(self, base_value: float) -> int:
        """The register's value as its integer count (see the module's docstring)."""
        return round(base_value / self.unit_size / 10.0**self.scaler)


@functools.cache
def cosem_objects(registers: tuple[Register, ...], han_lists: tuple[HanListKind, ...] = HAN_PUSHES["nve"]) -> tuple[
        CosemObject, ...]:
    """One meter's object list: its own objects, then one per register (a peak's time is its Extended Register's
    capture time, not an object of its own), then the loggers' profiles, the calendar, security and a Push Setup per
    HAN list the meter pushes (`han_lists`, push 1 first: `HAN_PUSHES` of its layout)."""
    keys = {r.key for r in registers}
    times = {r.obis.removesuffix(".t"): r.key for r in registers if r.kind is Kind.TIMESTAMP}
    objects = [CosemObject(CosemClass.DATA, LOGICAL_DEVICE_NAME, data_type=DataType.OCTET_STRING),
               CosemObject(CosemClass.ASSOCIATION_LN, CURRENT_ASSOCIATION),
               CosemObject(CosemClass.CLOCK, CLOCK, data_type=DataType.OCTET_STRING),
               CosemObject(CosemClass.IMAGE_TRANSFER, IMAGE_TRANSFER)]
    for r in registers:
        if r.kind is Kind.TIMESTAMP:
            if r.obis.removesuffix(".t") not in {x.obis for x in registers}:
                raise ValueError(f"register {r.key}: a time ({r.obis}) with no value it belongs to")
            continue
        ln = logical_name(r.logical_name)
        if r.key == BREAKER_KEY:
            objects.append(CosemObject(CosemClass.DISCONNECT_CONTROL, ln, r.key, options=r.options))
        elif r.kind is Kind.ENUM:
            objects.append(CosemObject(CosemClass.DATA, ln, r.key, data_type=DataType.ENUM, options=r.options))
        elif r.kind is Kind.INTEGER:
            objects.append(CosemObject(CosemClass.DATA, ln, r.key, data_type=DataType.UNSIGNED))
        elif r.kind is Kind.TEXT:
            objects.append(CosemObject(CosemClass.DATA, ln, r.key, data_type=DataType.VISIBLE_STRING))
        else:
            unit, size, scaler = _KIND_UNITS[r.kind]
            time_key = times.get(r.obis)
            objects.append(CosemObject(
                CosemClass.EXTENDED_REGISTER if time_key in keys else CosemClass.REGISTER, ln, r.key, time_key, unit,
                r.scaler if scaler is None else scaler, size,
                DataType.DOUBLE_LONG if r.kind in _SIGNED else DataType.DOUBLE_LONG_UNSIGNED))
    for lg in LOGGERS:
        if lg.obis is not None:
            objects += [CosemObject(CosemClass.DATA, logical_name_of_field(f, lg), data_type=f.data_type,
                                    logger=lg.name, field=f.name) for f in LOGGER_FIELDS.get(lg.kind, ())]
            objects.append(CosemObject(CosemClass.PROFILE_GENERIC, logical_name(lg.obis), logger=lg.name))
    objects += [CosemObject(CosemClass.SCRIPT_TABLE, TARIFF_SCRIPTS),
                CosemObject(CosemClass.ACTIVITY_CALENDAR, ACTIVITY_CALENDAR),
                CosemObject(CosemClass.SPECIAL_DAYS_TABLE, SPECIAL_DAYS_TABLE),
                CosemObject(CosemClass.SECURITY_SETUP, SECURITY_SETUP)]
    objects += [CosemObject(CosemClass.PUSH_SETUP, bytes((0, n, 25, 9, 0, 255)), push=kind)
                for n, kind in enumerate(han_lists, 1)]
    names = [o.logical_name for o in objects]
    if len(set(names)) != len(names):
        raise ValueError("two objects with one logical name")
    return tuple(objects)


# --- Profile Generic (class 7): the loggers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoggerField:
    """A field a logger's entries keep besides register values, captured from a Data object of its own at
    0.0.96.D.E.255: D as given, E from the logger's own E (its logical name's fifth number) plus `e_offset`, or
    `e` when the field's object does not follow the logger's number."""

    name: str  # the entry's field: LoadProfileEntry.status, Event.type, Event.detail (meter_sim/loggers.py)
    data_type: DataType
    d: int
    e: int | None = None
    e_offset: int = 0


# Which fields each kind of logger keeps (see the module docstring for the logical names' reasons).
LOGGER_FIELDS: dict[LogKind, tuple[LoggerField, ...]] = {
    "load_profile": (LoggerField("status", DataType.LONG_UNSIGNED, 10, e=1),),
    "event": (LoggerField("type", DataType.VISIBLE_STRING, 11),
              LoggerField("detail", DataType.VISIBLE_STRING, 11, e_offset=128)),
}


def logical_name_of_field(field: LoggerField, logger: Logger) -> bytes:
    assert logger.obis is not None
    e = field.e if field.e is not None else logical_name(logger.obis)[4] + field.e_offset
    return bytes((0, 0, 96, field.d, e, 255))


@dataclass(frozen=True, slots=True)
class CaptureObject:
    """capture_object_definition: one column of a profile's buffer (data_index 0: the whole attribute)."""

    class_id: CosemClass
    logical_name: bytes
    attribute: int
    data_index: int = 0


CLOCK_CAPTURE = CaptureObject(CosemClass.CLOCK, CLOCK, 2)
# attribute to capture by what a register key names in an object: its value, or an Extended Register's capture time
_CAPTURED_ATTRIBUTE = {"key": 2, "time_key": 5}


@functools.cache
def capture_objects(objects: tuple[CosemObject, ...], logger: str, captures: tuple[str, ...]) -> tuple[
        CaptureObject, ...]:
    """A profile's columns: the clock, then the objects (of `cosem_objects`) of the registers the logger captures, in
    its order (`captures`: register keys as the meter declares them; a peak's time key names its Extended Register's
    capture time; a key the meter has no object for is left out, as the meter's snapshots leave it out), then the
    logger's fields. Raises ValueError for a logger with no Profile Generic in `objects`."""
    if not any(o.class_id is CosemClass.PROFILE_GENERIC and o.logger == logger for o in objects):
        raise ValueError(f"logger {logger!r}: no Profile Generic in the object list")
    by_key = {(getattr(o, name), name): o for o in objects for name in _CAPTURED_ATTRIBUTE if getattr(o, name)}
    columns = [CLOCK_CAPTURE]
    for key in captures:
        for name, attribute in _CAPTURED_ATTRIBUTE.items():
            obj = by_key.get((key, name))
            if obj is not None:
                columns.append(CaptureObject(obj.class_id, obj.logical_name, attribute))
    columns += [CaptureObject(o.class_id, o.logical_name, 2) for o in objects if o.logger == logger and o.field]
    return tuple(columns)


# --- Push Setup (class 40): the HAN lists --------------------------------------------------------------------------


@functools.cache
def push_objects(objects: tuple[CosemObject, ...], kind: HanListKind) -> tuple[CaptureObject, ...]:
    """A HAN list's push_object_list: the list version, then each object of the list (omnipower/han.py) in its order,
    as the object of that logical name in `objects` has it (a Register, the clock), or a Data object where the meter
    has none (the identifiers the push carries: GS1 number, type, meter number); always attribute 2, the value."""
    classes = {o.logical_name: o.class_id for o in objects} | {logical_name(OBIS_CLOCK): CosemClass.CLOCK}
    names = (LIST_VERSION, *(logical_name(o.obis) for o in HAN_LISTS[kind]))
    return tuple(CaptureObject(classes.get(name, CosemClass.DATA), name, 2) for name in names)
