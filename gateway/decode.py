"""`omnipower-gateway decode KIND DATA`: print what a captured frame says, one JSON object per frame.

DATA is a hex string, or a file holding either hex text or the raw bytes. Readings are keyed by
OBIS code in the register table's units. Any rejected frame (or no frame at all) makes the exit
status 1 with a one-line reason on standard error.
"""

from __future__ import annotations

import dataclasses
import json
import string
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from enum import Enum, IntFlag
from pathlib import Path
from typing import Any

from omnipower import dlms_apdu, mbus, wmbus
from omnipower.dlms import (
    DATA_NOTIFICATION,
    GENERAL_GLO_CIPHERING,
    Data,
    GloKeys,
    decode_data_notification,
    decrypt_glo,
    strip_llc,
)
from omnipower.dlms_wrapper import WrapperReader
from omnipower.errors import CodecError
from omnipower.han import KAMSTRUP_SCALERS, HanScalers, decode_han
from omnipower.hdlc import HdlcReader
from omnipower.iec62056_21 import DataReadout, IdentificationMessage, Iec62056Reader, readings_from_readout
from omnipower.p1 import P1Reader
from omnipower.wmbus_receivers import HCI_START, RECEIVERS

KINDS = ("han", "mbus", "p1", "optical", "dlms", "wmbus")


class DecodeError(Exception):
    """Input that yields no valid frame (the message is the one-line reason)."""


def load_data(data: str) -> bytes:
    """A hex string, or a file with hex text or raw bytes."""
    path = Path(data)
    try:
        is_file = path.is_file()
    except OSError:  # e.g. a long hex string is "a file name too long"
        is_file = False
    if is_file:
        raw = path.read_bytes()
        text = raw.decode("ascii", errors="replace").strip()
        compact = "".join(text.split())
        if compact and all(c in string.hexdigits for c in compact) and len(compact) % 2 == 0:
            return bytes.fromhex(compact)
        return raw
    compact = "".join(data.split())
    try:
        return bytes.fromhex(compact)
    except ValueError:
        raise DecodeError(f"DATA is neither an existing file nor a hex string: {data[:40]!r}") from None


def decode(kind: str, payload: bytes, *, scalers: HanScalers = KAMSTRUP_SCALERS,
           keys: GloKeys | None = None, key: bytes | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """(decoded frames, reasons for rejected frames)."""
    decoders: dict[str, Callable[[bytes], Iterator[dict[str, Any] | str]]] = {
        "han": lambda b: _han(b, scalers, keys),
        "p1": _p1,
        "optical": _optical,
        "mbus": _mbus,
        "dlms": lambda b: _dlms(b, keys),
        "wmbus": lambda b: _wmbus(b, key),
    }
    if kind not in decoders:
        raise DecodeError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    frames: list[dict[str, Any]] = []
    errors: list[str] = []
    for item in decoders[kind](payload):
        (errors if isinstance(item, str) else frames).append(item)  # type: ignore[arg-type]
    return frames, errors


def _han(payload: bytes, scalers: HanScalers, keys: GloKeys | None) -> Iterator[dict[str, Any] | str]:
    reader = HdlcReader()
    for frame in reader.feed(payload):
        try:
            msg = decode_han(frame, scalers, keys=keys)
        except CodecError as exc:
            yield f"HAN frame rejected: {exc}"
            continue
        yield {
            "kind": "han",
            "list": msg.list_kind.value,
            "time": msg.date_time.isoformat() if msg.date_time else None,
            "meter_id": msg.meter_id,
            "meter_type": msg.meter_type,
            "meter_number": msg.meter_number,
            "encrypted": msg.system_title is not None,
            "readings": dict(msg.values),
        }
    for skipped in reader.take_errors():
        yield f"bytes rejected: {skipped}"
    tail = payload[len(payload) - reader.pending:] if reader.pending else b""
    if tail.strip(b"\x7e"):  # a closing flag may stay buffered as the next frame's opening flag
        yield f"{reader.pending} bytes at the end do not complete a frame"


def _dlms(payload: bytes, keys: GloKeys | None) -> Iterator[dict[str, Any] | str]:
    """HDLC frames (a capture starting with the 7E flag), wrapper PDUs (starting with its version 0001) or one bare
    APDU; a general-glo-ciphering APDU deciphered with `keys`."""
    if payload[:1] == b"\x7e":
        reader = HdlcReader()
        for frame in reader.feed(payload):
            head = {"kind": "dlms", "transport": "hdlc", "client": None, "server": None, "control": frame.control,
                    "segmented": frame.segmented}
            head["client"], head["server"] = ((frame.dst_address, frame.src_address)
                                              if frame.information[:3] == b"\xe6\xe7\x00"
                                              else (frame.src_address, frame.dst_address))
            if not frame.information:
                yield head | {"apdu": None}
                continue
            try:
                yield head | _apdu(strip_llc(frame.information), keys)
            except CodecError as exc:
                yield f"DLMS frame rejected: {exc}"
        for skipped in reader.take_errors():
            yield f"bytes rejected: {skipped}"
        return
    if payload[:2] == b"\x00\x01":
        wire = WrapperReader()
        try:
            pdus = wire.feed(payload)
        except CodecError as exc:
            yield f"wrapper rejected: {exc}"
            return
        for pdu in pdus:
            try:
                yield {"kind": "dlms", "transport": "wrapper", "source": pdu.source,
                       "destination": pdu.destination} | _apdu(pdu.apdu, keys)
            except CodecError as exc:
                yield f"DLMS APDU rejected: {exc}"
        if wire.pending:
            yield f"{wire.pending} bytes at the end do not complete a wrapper PDU"
        return
    try:
        yield {"kind": "dlms", "transport": None} | _apdu(payload, keys)
    except CodecError as exc:
        yield f"DLMS APDU rejected: {exc}"


def _apdu(apdu: bytes, keys: GloKeys | None) -> dict[str, Any]:
    ciphered: dict[str, Any] = {}
    if apdu[:1] == bytes((GENERAL_GLO_CIPHERING,)):
        if keys is None:
            raise CodecError("a ciphered APDU (general-glo-ciphering): give --keys EK:AK")
        message = decrypt_glo(apdu, keys.encryption_key, keys.authentication_key)
        ciphered = {"system_title": message.system_title.hex(), "frame_counter": message.frame_counter}
        apdu = message.apdu
    if apdu[:1] == bytes((DATA_NOTIFICATION,)):  # a push (HAN), not a request or a response
        notification = decode_data_notification(apdu)
        return {"apdu": "DataNotification", **ciphered, "fields": _plain(notification)}
    decoded = dlms_apdu.decode_apdu(apdu)
    return {"apdu": type(decoded).__name__, **ciphered, "fields": _plain(decoded)}


def _plain(value: Any) -> Any:
    """An APDU's fields as JSON values: bytes in hex, enumerations by name, A-XDR data as its Python value."""
    if isinstance(value, Data):
        return _plain(value.to_python())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: (".".join(map(str, v)) if f.name == "logical_name" and isinstance(v := getattr(value, f.name),
                                                                                          bytes) else
                         _plain(getattr(value, f.name))) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, IntFlag):
        return [flag.name.lower() for flag in type(value) if flag in value and flag.name]
    if isinstance(value, Enum):
        return value.name.lower()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _p1(payload: bytes) -> Iterator[dict[str, Any] | str]:
    reader = P1Reader()
    for telegram in reader.feed(payload):
        yield {"kind": "p1", "header": telegram.header, "time": telegram.timestamp.isoformat(),
               "time_as_sent": telegram.timestamp_as_sent, "readings": dict(telegram.values)}
    for skipped in reader.take_errors():
        yield f"telegram rejected: {skipped}"


def _optical(payload: bytes) -> Iterator[dict[str, Any] | str]:
    reader = Iec62056Reader()
    identification: str | None = None
    for message in reader.feed(payload):
        if isinstance(message, IdentificationMessage):
            identification = message.encode().decode("ascii").strip()
        elif isinstance(message, DataReadout):
            try:
                readings = readings_from_readout(message)
            except CodecError as exc:
                yield f"readout rejected: {exc}"
                continue
            yield {"kind": "optical", "identification": identification, "readings": readings,
                   "data_sets": [[d.address, d.value, d.unit] for d in message.datasets]}
    for skipped in reader.take_errors():
        yield f"bytes rejected: {skipped}"


def _mbus(payload: bytes) -> Iterator[dict[str, Any] | str]:
    reader = mbus.MbusReader()
    frames = reader.feed(payload) + reader.idle()
    for frame in frames:
        if isinstance(frame, mbus.Ack):
            yield {"kind": "mbus", "frame": "ack"}
            continue
        if isinstance(frame, mbus.ShortFrame | mbus.ControlFrame):
            yield {"kind": "mbus", "frame": type(frame).__name__, "c": frame.c, "a": frame.a,
                   "function": frame.link_function.name if frame.link_function else None}
            continue
        try:
            resp = mbus.decode_rsp_ud(frame)
        except CodecError as exc:
            yield f"M-Bus frame rejected: {exc}"
            continue
        yield {
            "kind": "mbus", "frame": "rsp_ud", "address": frame.a, "id": resp.id_text,
            "manufacturer": resp.manufacturer, "medium": resp.medium, "access_number": resp.access_number,
            "warnings": list(resp.warnings), "readings": mbus.decode_to_readings(resp),
            "records": [
                {"quantity": r.quantity.name.lower(), "function": r.function.name.lower(), "storage": r.storage,
                 "tariff": r.tariff, "subunit": r.subunit, "value": r.value, "unit": r.unit}
                for r in resp.records
            ],
        }
    if reader.discarded and not frames:
        yield f"{reader.discarded} bytes are no M-Bus frame"


_RTL_WMBUS_MODES = (b"C1;", b"T1;", b"S1;")


def _wmbus(payload: bytes, key: bytes | None) -> Iterator[dict[str, Any] | str]:
    """Telegrams as receivers deliver them: iM871A HCI bytes (A5 …), rtl_wmbus lines, or one telegram (without
    format B's CRCs, as wmbusmeters and the receivers print it, or with them, as on the air). Compact frames use
    the OMNIPOWER's format or one learnt from a full frame earlier in the capture; `key` decrypts."""
    if payload[:1] == bytes((HCI_START,)):
        fmt = RECEIVERS["im871a"]
    elif payload[:3] in _RTL_WMBUS_MODES:
        fmt = RECEIVERS["rtl_wmbus"]
    else:
        fmt = None
    frames: list[bytes] = []
    format_b = ""  # why the data is no format B frame, when it is read as a telegram without CRCs
    if fmt is not None:
        reader = fmt.reader()
        frames = [r.frame for r in fmt.receptions(reader, payload + b"\n")]
        for skipped in reader.take_errors():
            yield f"receiver output rejected: {skipped}"
    else:  # format B's CRCs hold (1 in 65536 by chance), or L counts the bytes after it: the receiver form
        try:
            frames = [wmbus.strip_crcs(payload)]
        except CodecError as exc:
            if payload and payload[0] == len(payload) - 1:
                frames, format_b = [payload], f" (as format B: {exc})"
            else:
                yield f"neither a telegram without CRCs (L = {len(payload) - 1}) nor a format B frame: {exc}"
    decoder = wmbus.TelegramDecoder(key=key)
    for frame in frames:
        try:
            t = decoder.decode(frame)
        except CodecError as exc:
            yield f"telegram rejected: {exc}{format_b}"
            continue
        yield {
            "kind": "wmbus", "id": t.address.id_text, "manufacturer": t.address.manufacturer,
            "version": t.address.version, "device_type": t.address.device_type, "c": t.c,
            "access_number": t.access_number, "session": t.session, "encrypted": t.encrypted,
            "frame": "compact" if t.compact else "full",
            "format_signature": None if t.format_signature is None else f"{t.format_signature:04X}",
            "readings": t.readings,
            "records": [{"quantity": r.quantity.name.lower(), "value": r.value, "unit": r.unit, "backward": r.backward}
                        for r in t.records],
        }


def _wmbus_data(data: str) -> bytes:
    """An rtl_wmbus line as it is; a telegram as wmbusmeters writes it (|2D44…78_0404…|) without the bars and the
    underscore; else a hex string or a file, as for every kind."""
    if data.encode()[:3] in _RTL_WMBUS_MODES:
        return data.encode()
    bare = data.strip().strip("|").replace("_", "")
    return load_data(bare if bare and all(c in string.hexdigits or c.isspace() for c in bare) else data)


def _json_default(value: object) -> object:
    """Raw bytes (manufacturer data) as hex; dates and times as ISO 8601; anything else as text."""
    if isinstance(value, bytes | bytearray):
        return value.hex().upper()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def run(kind: str, data: str, *, scalers: HanScalers = KAMSTRUP_SCALERS, keys: GloKeys | None = None,
        key: bytes | None = None, out: Callable[[str], None] = print) -> tuple[int, str | None]:
    """Print the frames; return (exit status, one-line reason or None)."""
    try:
        payload = _wmbus_data(data) if kind == "wmbus" else load_data(data)
        frames, errors = decode(kind, payload, scalers=scalers, keys=keys, key=key)
    except (DecodeError, OSError) as exc:
        return 1, str(exc)
    for frame in frames:
        out(json.dumps(frame, ensure_ascii=False, default=_json_default))
    if errors:
        return 1, errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    if not frames:
        return 1, f"no {kind} frame found in the data"
    return 0, None
