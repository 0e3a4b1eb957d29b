"""`omnipower-gateway decode KIND DATA`: print what a captured frame says, one JSON object per frame.

DATA is a hex string, or a file holding either hex text or the raw bytes. Readings are keyed by
OBIS code in the register table's units. Any rejected frame (or no frame at all) makes the exit
status 1 with a one-line reason on standard error.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from omnipower import mbus
from omnipower.dlms import GloKeys
from omnipower.errors import CodecError
from omnipower.han import KAMSTRUP_SCALERS, HanScalers, decode_han
from omnipower.hdlc import HdlcReader
from omnipower.iec62056_21 import DataReadout, IdentificationMessage, Iec62056Reader, readings_from_readout
from omnipower.p1 import P1Reader

KINDS = ("han", "mbus", "p1", "optical")


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
           keys: GloKeys | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """(decoded frames, reasons for rejected frames)."""
    decoders: dict[str, Callable[[bytes], Iterator[dict[str, Any] | str]]] = {
        "han": lambda b: _han(b, scalers, keys),
        "p1": _p1,
        "optical": _optical,
        "mbus": _mbus,
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


def _json_default(value: object) -> object:
    """Raw bytes (manufacturer data) as hex; dates and times as ISO 8601; anything else as text."""
    if isinstance(value, bytes | bytearray):
        return value.hex().upper()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def run(kind: str, data: str, *, scalers: HanScalers = KAMSTRUP_SCALERS, keys: GloKeys | None = None,
        out: Callable[[str], None] = print) -> tuple[int, str | None]:
    """Print the frames; return (exit status, one-line reason or None)."""
    try:
        frames, errors = decode(kind, load_data(data), scalers=scalers, keys=keys)
    except (DecodeError, OSError) as exc:
        return 1, str(exc)
    for frame in frames:
        out(json.dumps(frame, ensure_ascii=False, default=_json_default))
    if errors:
        return 1, errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    if not frames:
        return 1, f"no {kind} frame found in the data"
    return 0, None
