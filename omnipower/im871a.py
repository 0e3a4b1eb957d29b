"""The IMST iM871A's host controller interface (IMST "Wireless M-Bus Host Controller Interface", WMBus HCI
specification v1.6, document 4100/6404/0050), sans-IO: its framing, its table of messages, and the device
management messages a host uses at start-up (ping, device information, configuration, reset).

Where the facts come from (the specification's text was not at hand; its message ids, field order and the
examples below are what these independent readings of it agree on): jMBus (MPL-2.0, WMBusConnectionImst: the
framing, quoting the spec's field list, and SET_CONFIG_REQ "00 03 00 <link mode> 10 01"), pyWirelessMbus
(MIT, sticks/im871a.py: the device information and configuration layouts, link mode and channel tables),
ioBroker.wireless-mbus (ImstReceiver: SET_CONFIG_REQ "00 03 00 <link mode> 08 00" sent with CRC16, CRC and
time stamp little-endian) and wmbusmeters (src/wmbus_im871a.cc, GPL: read, nothing copied: module types,
device modes, the IIFlag groups).

Frame, 57600 Bd 8N1 (iM871A user manual §3.2.1):

    A5 | CF<<4 | EID | MID | LEN | payload (LEN bytes) | [time stamp, 4 bytes LE] | [RSSI] | [CRC16, LE]

CF flags: 0x2 time stamp attached, 0x4 RSSI attached, 0x8 CRC16 attached (bit 0x1 reserved); the same control
field serves both directions, so a host may protect its commands with the CRC16 too. CRC16 is CRC-16/X-25 over
CF|EID through the RSSI. EID, the endpoint: 1 device management, 2 radio link, 3 radio link test, 4 hardware
test (`MESSAGES` names every message id). A received telegram is RADIOLINK_MSG_WMBUSMSG_IND (EID 2, MID 3)
whose payload is the telegram from C on: the stick drops L, and LEN stands in for it.

Device management payloads (each response's message id is its request's plus one):

    PING_REQ / PING_RSP           none / none
    GET_DEVICEINFO_REQ / _RSP     none / module type, device mode, firmware version, HCI protocol version,
                                  device id (4 bytes LE)
    GET_CONFIG_REQ / _RSP         none / IIFlag1, its fields, IIFlag2, its fields (`CONFIG_FIELDS`)
    SET_CONFIG_REQ / _RSP         NVM flag (0 RAM only, 1 also saved), IIFlag1, its fields[, IIFlag2, its
                                  fields] / status
    RESET_REQ / _RSP              none / status (then the stick restarts from its saved configuration)
    FACTORY_RESET_REQ / _RSP      none / status

A status byte is 0x00 (ok) or 0x01 (error), as IMST's other host interfaces number them (the WMBus spec's own
table was not at hand; pyWirelessMbus reads a non-zero status as success, which we take for its error). None
of the readings above knows an "unknown message" status for this interface (IMST's LoRa HCI has one, 0x02),
so a stick answers only the requests it knows; anything else goes unanswered and the host times out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from omnipower.crc import crc16_x25
from omnipower.errors import (
    ChecksumError,
    CodecError,
    EncodeError,
    LengthError,
    TruncatedError,
    UnknownTagError,
)
from omnipower.stream import StreamBuffer

__all__ = [
    "CONFIG_FIELDS",
    "DEVMGMT",
    "HCI_START",
    "LINK_MODES",
    "MESSAGES",
    "RADIOLINK",
    "RADIOLINK_WMBUSMSG_IND",
    "DeviceInfo",
    "HciMessage",
    "Im871aConfig",
    "Im871aReader",
    "SetConfig",
    "StartStep",
    "config_problem",
    "decode_config",
    "decode_status",
    "encode_config",
    "encode_hci",
    "start_up",
]

HCI_START = 0xA5
_CF_TIMESTAMP, _CF_RSSI, _CF_CRC, _CF_RESERVED = 0x2, 0x4, 0x8, 0x1
DEVMGMT, RADIOLINK, RADIOLINKTEST, HWTEST = 1, 2, 3, 4

# Every message of the interface: (endpoint, message id) → name.
MESSAGES: dict[tuple[int, int], str] = {
    (DEVMGMT, 0x01): "PING_REQ", (DEVMGMT, 0x02): "PING_RSP",
    (DEVMGMT, 0x03): "SET_CONFIG_REQ", (DEVMGMT, 0x04): "SET_CONFIG_RSP",
    (DEVMGMT, 0x05): "GET_CONFIG_REQ", (DEVMGMT, 0x06): "GET_CONFIG_RSP",
    (DEVMGMT, 0x07): "RESET_REQ", (DEVMGMT, 0x08): "RESET_RSP",
    (DEVMGMT, 0x09): "FACTORY_RESET_REQ", (DEVMGMT, 0x0A): "FACTORY_RESET_RSP",
    (DEVMGMT, 0x0B): "GET_OPMODE_REQ", (DEVMGMT, 0x0C): "GET_OPMODE_RSP",
    (DEVMGMT, 0x0D): "SET_OPMODE_REQ", (DEVMGMT, 0x0E): "SET_OPMODE_RSP",
    (DEVMGMT, 0x0F): "GET_DEVICEINFO_REQ", (DEVMGMT, 0x10): "GET_DEVICEINFO_RSP",
    (DEVMGMT, 0x11): "GET_SYSSTATUS_REQ", (DEVMGMT, 0x12): "GET_SYSSTATUS_RSP",
    (DEVMGMT, 0x13): "GET_FWINFO_REQ", (DEVMGMT, 0x14): "GET_FWINFO_RSP",
    (DEVMGMT, 0x19): "GET_RTC_REQ", (DEVMGMT, 0x1A): "GET_RTC_RSP",
    (DEVMGMT, 0x1B): "SET_RTC_REQ", (DEVMGMT, 0x1C): "SET_RTC_RSP",
    (DEVMGMT, 0x1D): "ENTER_LPM_REQ", (DEVMGMT, 0x1E): "ENTER_LPM_RSP",
    (DEVMGMT, 0x21): "SET_AES_ENCKEY_REQ", (DEVMGMT, 0x22): "SET_AES_ENCKEY_RSP",
    (DEVMGMT, 0x23): "ENABLE_AES_ENCKEY_REQ", (DEVMGMT, 0x24): "ENABLE_AES_ENCKEY_RSP",
    (DEVMGMT, 0x25): "SET_AES_DECKEY_REQ", (DEVMGMT, 0x26): "SET_AES_DECKEY_RSP",
    (DEVMGMT, 0x27): "AES_DEC_ERROR_IND",
    (RADIOLINK, 0x01): "WMBUSMSG_REQ", (RADIOLINK, 0x02): "WMBUSMSG_RSP", (RADIOLINK, 0x03): "WMBUSMSG_IND",
    (RADIOLINK, 0x04): "DATA_REQ", (RADIOLINK, 0x05): "DATA_RSP",
    (RADIOLINKTEST, 0x01): "START_REQ", (RADIOLINKTEST, 0x02): "START_RSP",
    (RADIOLINKTEST, 0x03): "STOP_REQ", (RADIOLINKTEST, 0x04): "STOP_RSP", (RADIOLINKTEST, 0x07): "STATUS_IND",
    (HWTEST, 0x01): "RADIOTEST_REQ", (HWTEST, 0x02): "RADIOTEST_RSP",
}
_ID = {name: mid for (endpoint, mid), name in MESSAGES.items() if endpoint == DEVMGMT}
PING_REQ, PING_RSP = _ID["PING_REQ"], _ID["PING_RSP"]
SET_CONFIG_REQ, SET_CONFIG_RSP = _ID["SET_CONFIG_REQ"], _ID["SET_CONFIG_RSP"]
GET_CONFIG_REQ, GET_CONFIG_RSP = _ID["GET_CONFIG_REQ"], _ID["GET_CONFIG_RSP"]
RESET_REQ, RESET_RSP = _ID["RESET_REQ"], _ID["RESET_RSP"]
FACTORY_RESET_REQ, FACTORY_RESET_RSP = _ID["FACTORY_RESET_REQ"], _ID["FACTORY_RESET_RSP"]
GET_DEVICEINFO_REQ, GET_DEVICEINFO_RSP = _ID["GET_DEVICEINFO_REQ"], _ID["GET_DEVICEINFO_RSP"]
RADIOLINK_WMBUSMSG_IND = 0x03
# A reader takes any id up to an endpoint's highest, as wmbusmeters' reader does: ids the table does not name
# are still framed messages, and a host or stick that does not know one ignores it.
_MESSAGE_IDS = {endpoint: range(1, max(m for e, m in MESSAGES if e == endpoint) + 1)
                for endpoint in (DEVMGMT, RADIOLINK, RADIOLINKTEST, HWTEST)}

STATUS_OK, STATUS_ERROR = 0x00, 0x01
STATUS = {STATUS_OK: "ok", STATUS_ERROR: "error"}

MODULE_TYPES = {0x33: "iM871A", 0x36: "iM170A"}  # the iM170A is the 169 MHz sibling (N modes)
IM871A = 0x33
DEVICE_MODES = {0x00: "other", 0x01: "meter"}  # "other": a collector, which hears meters
OTHER = 0x00


@dataclass(frozen=True, slots=True)
class LinkMode:
    name: str
    hears_c1: bool  # a collector in this mode receives a C1 meter's frames (868.95 MHz, 100 kcps, NRZ)


# C modes hear both frame formats: the sync word tells A from B (EN 13757-4); C2 collectors listen where C1
# meters send. Ids 0x0A and up are combined or N modes of later firmware and of the iM170A.
LINK_MODES: dict[int, LinkMode] = {
    0x00: LinkMode("S1", False), 0x01: LinkMode("S1-m", False), 0x02: LinkMode("S2", False),
    0x03: LinkMode("T1", False), 0x04: LinkMode("T2", False), 0x05: LinkMode("R2", False),
    0x06: LinkMode("C1-TF-A", True), 0x07: LinkMode("C1-TF-B", True),
    0x08: LinkMode("C2-TF-A", True), 0x09: LinkMode("C2-TF-B", True),
}
C1_TF_B = 0x07


# --- framing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HciMessage:
    endpoint: int
    message_id: int
    payload: bytes = b""
    timestamp: int | None = None  # the stick's 32-bit time stamp
    rssi: int | None = None  # raw RSSI byte
    crc: bool = True  # the CRC16 field is attached

    @property
    def name(self) -> str:
        return MESSAGES.get((self.endpoint, self.message_id), f"message 0x{self.message_id:02X}")


def encode_hci(message: HciMessage) -> bytes:
    m = message
    if m.endpoint not in _MESSAGE_IDS or m.message_id not in _MESSAGE_IDS[m.endpoint]:
        raise EncodeError(f"HCI endpoint {m.endpoint!r} with message id {m.message_id!r} does not exist")
    if not isinstance(m.payload, bytes | bytearray) or len(m.payload) > 0xFF:
        raise EncodeError(f"HCI payload must be at most 255 bytes, got {m.payload!r:.40}")
    flags = (_CF_TIMESTAMP if m.timestamp is not None else 0) | (_CF_RSSI if m.rssi is not None else 0)
    flags |= _CF_CRC if m.crc else 0
    body = bytearray([flags << 4 | m.endpoint, m.message_id, len(m.payload)]) + m.payload
    if m.timestamp is not None:
        if isinstance(m.timestamp, bool) or not isinstance(m.timestamp, int) or not 0 <= m.timestamp <= 0xFFFFFFFF:
            raise EncodeError(f"HCI time stamp must be 32-bit, got {m.timestamp!r}")
        body += m.timestamp.to_bytes(4, "little")
    if m.rssi is not None:
        if isinstance(m.rssi, bool) or not isinstance(m.rssi, int) or not 0 <= m.rssi <= 0xFF:
            raise EncodeError(f"HCI RSSI must be a byte, got {m.rssi!r}")
        body.append(m.rssi)
    crc = crc16_x25(body).to_bytes(2, "little") if m.crc else b""
    return bytes([HCI_START]) + bytes(body) + crc


def _parse_hci(buf: bytearray) -> tuple[HciMessage, int]:
    """The message at the start of `buf` (which starts with A5) and its length; TruncatedError to wait."""
    if len(buf) < 4:
        raise TruncatedError(f"HCI header: {len(buf)} of 4 bytes")
    flags, endpoint, message_id, length = buf[1] >> 4, buf[1] & 0x0F, buf[2], buf[3]
    if flags & _CF_RESERVED:
        raise UnknownTagError(f"HCI control field 0x{flags:X} has the reserved bit set")
    if endpoint not in _MESSAGE_IDS:
        raise UnknownTagError(f"HCI endpoint {endpoint} does not exist (1–4)")
    if message_id not in _MESSAGE_IDS[endpoint]:
        raise UnknownTagError(f"HCI message id 0x{message_id:02X} does not exist on endpoint {endpoint}")
    total = 4 + length + (4 if flags & _CF_TIMESTAMP else 0) + (1 if flags & _CF_RSSI else 0)
    total += 2 if flags & _CF_CRC else 0
    if len(buf) < total:
        raise TruncatedError(f"HCI message: {len(buf)} of {total} bytes")
    i = 4 + length
    timestamp = rssi = None
    if flags & _CF_TIMESTAMP:
        timestamp, i = int.from_bytes(buf[i : i + 4], "little"), i + 4
    if flags & _CF_RSSI:
        rssi, i = buf[i], i + 1
    if flags & _CF_CRC:
        sent, computed = int.from_bytes(buf[i : i + 2], "little"), crc16_x25(buf[1:i])
        if sent != computed:
            raise ChecksumError(f"HCI CRC16 0x{sent:04X}, the message gives 0x{computed:04X}")
    return HciMessage(endpoint, message_id, bytes(buf[4 : 4 + length]), timestamp, rssi, bool(flags & _CF_CRC)), total


class Im871aReader(StreamBuffer):
    """HCI messages from a byte stream in any chunking, in either direction. A bad message (reserved bit,
    unknown endpoint or message, CRC) costs its start byte only, so that a good one behind it is still found;
    `feed` never raises (`take_errors()` has what was rejected)."""

    def feed(self, data: bytes | bytearray) -> list[HciMessage]:
        self._buf += data
        out: list[HciMessage] = []
        buf = self._buf
        while buf:
            start = buf.find(HCI_START)
            if start < 0:
                self.discarded += len(buf)
                buf.clear()
                break
            if start:
                self.discarded += start
                del buf[:start]
            try:
                message, used = _parse_hci(buf)
            except TruncatedError:
                break
            except CodecError as exc:
                self._errors.append(exc)
                self.discarded += 1
                del buf[:1]
                continue
            out.append(message)
            del buf[:used]
        return out


# --- device management payloads ----------------------------------------------------------------------------


def decode_status(payload: bytes) -> int:
    if len(payload) != 1:
        raise LengthError(f"a status answer has 1 byte, got {len(payload)}")
    return payload[0]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """GET_DEVICEINFO_RSP."""

    module_type: int
    device_mode: int
    firmware_version: int
    hci_version: int
    device_id: int  # the module's own unique id

    def encode(self) -> bytes:
        fields = (self.module_type, self.device_mode, self.firmware_version, self.hci_version)
        if not all(isinstance(v, int) and 0 <= v <= 0xFF for v in fields):
            raise EncodeError(f"device information bytes out of range: {fields!r}")
        if not isinstance(self.device_id, int) or not 0 <= self.device_id <= 0xFFFFFFFF:
            raise EncodeError(f"device id must be 32-bit, got {self.device_id!r}")
        return bytes(fields) + self.device_id.to_bytes(4, "little")

    @classmethod
    def decode(cls, payload: bytes) -> DeviceInfo:
        if len(payload) != 8:
            raise LengthError(f"device information has 8 bytes, got {len(payload)}")
        return cls(payload[0], payload[1], payload[2], payload[3], int.from_bytes(payload[4:8], "little"))

    def describe(self) -> str:
        module = MODULE_TYPES.get(self.module_type, f"unknown module type 0x{self.module_type:02X}")
        mode = DEVICE_MODES.get(self.device_mode, f"0x{self.device_mode:02X}")
        return (f"{module}, device mode {mode}, firmware 0x{self.firmware_version:02X}, "
                f"HCI protocol 0x{self.hci_version:02X}, device id {self.device_id:08X}")


@dataclass(frozen=True, slots=True)
class ConfigField:
    name: str
    group: int  # 1: announced by IIFlag1, 2: by IIFlag2
    bit: int  # its bit in that flag byte; fields follow in bit order
    size: int  # bytes, little-endian
    allowed: frozenset[int] | None = None  # the values a stick takes (None: any of `size` bytes)


_FLAG = frozenset({0, 1})
CONFIG_FIELDS: tuple[ConfigField, ...] = (
    ConfigField("device_mode", 1, 0x01, 1, frozenset(DEVICE_MODES)),
    ConfigField("link_mode", 1, 0x02, 1, frozenset(LINK_MODES)),
    ConfigField("c_field", 1, 0x04, 1),  # the stick's own link-layer address, for sending
    ConfigField("manufacturer_id", 1, 0x08, 2),
    ConfigField("device_id", 1, 0x10, 4),
    ConfigField("version", 1, 0x20, 1),
    ConfigField("device_type", 1, 0x40, 1),
    ConfigField("radio_channel", 1, 0x80, 1),
    ConfigField("radio_power_level", 2, 0x01, 1),
    ConfigField("radio_data_rate", 2, 0x02, 1),
    ConfigField("radio_rx_window", 2, 0x04, 1),
    ConfigField("auto_power_saving", 2, 0x08, 1, _FLAG),
    ConfigField("auto_rssi", 2, 0x10, 1, _FLAG),  # RSSI attached to each received telegram
    ConfigField("auto_rx_timestamp", 2, 0x20, 1, _FLAG),  # time stamp attached to each received telegram
    ConfigField("led_control", 2, 0x40, 1, _FLAG),
    ConfigField("rtc_control", 2, 0x80, 1, _FLAG),
)


@dataclass(frozen=True, slots=True)
class Im871aConfig:
    """A configuration, or the part of one a SET_CONFIG_REQ changes: None is a field not given."""

    device_mode: int | None = None
    link_mode: int | None = None
    c_field: int | None = None
    manufacturer_id: int | None = None
    device_id: int | None = None
    version: int | None = None
    device_type: int | None = None
    radio_channel: int | None = None
    radio_power_level: int | None = None
    radio_data_rate: int | None = None
    radio_rx_window: int | None = None
    auto_power_saving: int | None = None
    auto_rssi: int | None = None
    auto_rx_timestamp: int | None = None
    led_control: int | None = None
    rtc_control: int | None = None

    def updated(self, change: Im871aConfig) -> Im871aConfig:
        """This configuration with the fields `change` gives."""
        given = {f.name: v for f in CONFIG_FIELDS if (v := getattr(change, f.name)) is not None}
        return dataclasses.replace(self, **given)

    def describe(self) -> str:
        def text(f: ConfigField, value: int) -> str:
            if f.name == "link_mode":
                return LINK_MODES[value].name if value in LINK_MODES else f"0x{value:02X}"
            if f.name == "device_mode":
                return DEVICE_MODES.get(value, f"0x{value:02X}")
            return str(value)

        return ", ".join(f"{f.name} {text(f, v)}" for f in CONFIG_FIELDS if (v := getattr(self, f.name)) is not None)


def encode_config(config: Im871aConfig) -> bytes:
    """IIFlag1, its fields, IIFlag2, its fields."""
    out = bytearray()
    for group in (1, 2):
        flags, values = 0, bytearray()
        for f in CONFIG_FIELDS:
            value = getattr(config, f.name)
            if f.group != group or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << (8 * f.size):
                raise EncodeError(f"configuration field {f.name} must fit {f.size} byte(s), got {value!r}")
            flags |= f.bit
            values += value.to_bytes(f.size, "little")
        out += bytes([flags]) + values
    return bytes(out)


def decode_config(payload: bytes) -> Im871aConfig:
    """A configuration as GET_CONFIG_RSP carries it, or as SET_CONFIG_REQ does after its NVM flag. A payload
    may end after the first group (hosts that change only group-1 fields send no IIFlag2)."""
    given: dict[str, int] = {}
    i = 0
    for group in (1, 2):
        if i == len(payload) and group == 2:
            break
        if i >= len(payload):
            raise TruncatedError("configuration: IIFlag1 missing")
        flags = payload[i]
        i += 1
        for f in CONFIG_FIELDS:
            if f.group == group and flags & f.bit:
                if i + f.size > len(payload):
                    raise TruncatedError(f"configuration: IIFlag{group} announces {f.name}, the payload ends "
                                         f"at byte {len(payload)}")
                given[f.name] = int.from_bytes(payload[i : i + f.size], "little")
                i += f.size
    if i != len(payload):
        raise LengthError(f"configuration: {len(payload) - i} byte(s) after IIFlag2's fields")
    return Im871aConfig(**given)


def config_problem(config: Im871aConfig) -> str:
    """Why a stick would refuse these values ("" when it takes them)."""
    for f in CONFIG_FIELDS:
        value = getattr(config, f.name)
        if value is not None and f.allowed is not None and value not in f.allowed:
            return f"{f.name} 0x{value:02X} is not one of {sorted(f.allowed)}"
    return ""


@dataclass(frozen=True, slots=True)
class SetConfig:
    """SET_CONFIG_REQ: the fields to change, in RAM only or also saved (NVM)."""

    config: Im871aConfig
    save: bool = False

    def encode(self) -> bytes:
        return bytes([int(self.save)]) + encode_config(self.config)

    @classmethod
    def decode(cls, payload: bytes) -> SetConfig:
        if not payload:
            raise TruncatedError("SET_CONFIG_REQ: the NVM flag is missing")
        if payload[0] not in (0, 1):
            raise UnknownTagError(f"SET_CONFIG_REQ: NVM flag 0x{payload[0]:02X} is neither 0 (RAM) nor 1 (saved)")
        return cls(decode_config(payload[1:]), bool(payload[0]))


# --- what a host says at start-up ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartStep:
    """One request of a host's start-up: the answer it waits for, what makes the answer acceptable, and what
    its absence means. `check` and `silence` finish the sentence "the stick on /dev/ttyUSB0 …"."""

    request: HciMessage
    answer: int  # the response's message id on DEVMGMT
    check: Callable[[bytes], str]  # "" when acceptable, else why not
    describe: Callable[[bytes], str]  # the answer, for the log
    silence: str


def _acceptable(payload: bytes) -> str:
    del payload
    return ""


def _pong(payload: bytes) -> str:
    return "answered PING" if not payload else f"answered PING with {len(payload)} unexpected byte(s)"


def _check_device(payload: bytes) -> str:
    try:
        info = DeviceInfo.decode(payload)
    except CodecError as exc:
        return f"gave device information that does not parse ({exc})"
    if info.module_type != IM871A:
        return f"is no iM871A: {info.describe()} (only the iM871A hears 868 MHz C1 telegrams)"
    return ""


def _describe_device(payload: bytes) -> str:
    try:
        return DeviceInfo.decode(payload).describe()
    except CodecError as exc:
        return f"device information that does not parse ({exc})"


def _check_status(what: str) -> Callable[[bytes], str]:
    def check(payload: bytes) -> str:
        try:
            status = decode_status(payload)
        except CodecError as exc:
            return f"answered {what} with no status ({exc})"
        return "" if status == STATUS_OK else f"refused {what} (status 0x{status:02X}: {STATUS.get(status, '?')})"

    return check


def _describe_status(payload: bytes) -> str:
    return STATUS.get(payload[0], f"status 0x{payload[0]:02X}") if len(payload) == 1 else payload.hex()


def _check_config(wanted: Im871aConfig) -> Callable[[bytes], str]:
    def check(payload: bytes) -> str:
        try:
            got = decode_config(payload)
        except CodecError as exc:
            return f"gave a configuration that does not parse ({exc})"
        wrong = [f"{f.name} is {getattr(got, f.name)!r}, not {getattr(wanted, f.name)!r}" for f in CONFIG_FIELDS
                 if getattr(wanted, f.name) is not None and getattr(got, f.name) != getattr(wanted, f.name)]
        return f"kept another configuration after SET_CONFIG: {'; '.join(wrong)}" if wrong else ""

    return check


def _describe_config(payload: bytes) -> str:
    try:
        return decode_config(payload).describe()
    except CodecError as exc:
        return f"a configuration that does not parse ({exc})"


# A collector hearing C1 frame format B (the OMNIPOWER's radio), RSSI attached, no time stamp (the stick's
# clock is its own, not the meter's), in RAM only: the stick's saved settings stay the owner's.
RECEIVE_C1 = Im871aConfig(device_mode=OTHER, link_mode=C1_TF_B, auto_rssi=1, auto_rx_timestamp=0)


def start_up(wanted: Im871aConfig = RECEIVE_C1) -> tuple[StartStep, ...]:
    """Ping, device information (logged; an iM170A is refused), set the configuration, read it back."""
    def ask(message_id: int, payload: bytes = b"") -> HciMessage:
        return HciMessage(DEVMGMT, message_id, payload)  # with CRC16: a damaged command is dropped, not obeyed

    return (
        StartStep(ask(PING_REQ), PING_RSP, _acceptable, _pong, "answered no PING: is it an iM871A (57600 8N1)?"),
        StartStep(ask(GET_DEVICEINFO_REQ), GET_DEVICEINFO_RSP, _check_device, _describe_device,
                  "answered PING but no GET_DEVICEINFO"),
        StartStep(ask(SET_CONFIG_REQ, SetConfig(wanted).encode()), SET_CONFIG_RSP, _check_status("SET_CONFIG"),
                  _describe_status, "did not answer SET_CONFIG"),
        StartStep(ask(GET_CONFIG_REQ), GET_CONFIG_RSP, _check_config(wanted), _describe_config,
                  "did not answer GET_CONFIG"),
    )
