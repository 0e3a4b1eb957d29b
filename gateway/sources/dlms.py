"""The master side of DLMS/COSEM: a head-end client of the meter, over the IEC 62056-47 wrapper (TCP, the GPRS
module's path) or HDLC (a serial line or an optical head after the mode E sign-on; gateway/sources/dlms_wires.py).

Each read opens the line, associates (public client 16 without authentication, or management client 1 with the LLS
password or with HLS-GMAC, every APDU then ciphered), reads, and releases: a meter serves few associations, and a
head-end that holds one blocks the others.
What the meter has is learnt once from its association's object list (the registers whose logical names the register
table knows) with their scalers and units; after that a publication is the clock, the breaker and every register in
GET-with-list requests as large as the negotiated PDU allows (one request for a meter's ~110 values at a 2 KB PDU).
The breaker goes through Disconnect Control (class 70), `time` through a SET of the clock and `tariff` through a SET of
the active tariff's Data object, with the management client, and `firmware_update` through Image Transfer
(gateway/sources/dlms_firmware.py); anything else gets a clear error.

With HLS-GMAC the gateway's invocation counter must only grow, across restarts too (a meter refuses a counter it has
seen): it is kept in `<data_dir>/<meter>.dlms-counter`, reserved a thousand at a time so that a crash never reuses
one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from gateway.command_table import DLMS_COMMANDS
from gateway.commands import Command, CommandError
from gateway.config import MeterConfig
from gateway.firmware_folder import FirmwareFolder
from gateway.sources.base import AlarmNotice, BreakerStatus, MeterInfo, Readings, Source, SourceError, local_now
from gateway.sources.dlms_configure import calendar_writes
from gateway.sources.dlms_firmware import COMMAND as FIRMWARE_UPDATE
from gateway.sources.dlms_firmware import DlmsFirmware
from gateway.sources.dlms_wires import HdlcWire, Wire, WireRefused, WrapperWire
from gateway.sources.lines import open_line
from meter_sim.persistence import replace_file
from omnipower import dlms_apdu as ap
from omnipower.address import parse_address
from omnipower.cosem import (
    ACTIVITY_CALENDAR,
    BREAKER_KEY,
    CLOCK,
    CURRENT_ASSOCIATION,
    CosemClass,
    CosemObject,
    cosem_objects,
)
from omnipower.dlms import GENERAL_GLO_CIPHERING, CosemDateTime, Data, DataType, decode_data
from omnipower.dlms_security import CIPHERED_TAGS, check_hls_gmac, hls_gmac, protect, unprotect
from omnipower.errors import CodecError
from omnipower.loggers import Logger, logger_named
from omnipower.obis import logical_name, logical_name_text
from omnipower.registers import ALL_REGISTERS, REGISTERS_BY_KEY

log = logging.getLogger(__name__)
T = TypeVar("T")

REPLY_TIMEOUT_S = 5.0
CLIENT_MAX_PDU = 2048
_CIPHERING_OVERHEAD = 32  # general-glo-ciphering: tag, length, system title, security byte, counter, GMAC tag
CONFORMANCE = (ap.Conformance.GET | ap.Conformance.SET | ap.Conformance.ACTION
               | ap.Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ | ap.Conformance.MULTIPLE_REFERENCES)
_CONTROL_STATES = ("disconnected", "connected", "ready_for_reconnection")  # class 70 control_state 0, 1, 2
_UNSPECIFIED_DEVIATION = 0x8000
# Every object the register table can have, by logical name: what a meter's object list is matched against.
_KNOWN = {o.logical_name: o for o in cosem_objects(ALL_REGISTERS)}
_KNOWN_BY_KEY = {o.key: o for o in _KNOWN.values() if o.key is not None}


COUNTER_RESERVE = 1000


class InvocationCounter:
    """The client's invocation counter: strictly increasing, persisted a reserve ahead of use (None: in memory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.value = 0
        if path is not None and path.exists():
            text = path.read_text().strip()
            if not text.isdigit():
                raise ValueError(f"{path}: not an invocation counter ({text[:20]!r})")
            self.value = int(text)
        self._reserved = self.value

    def next(self) -> int:
        self.value += 1
        if self.value > 0xFFFFFFFF:
            raise _Refused("the invocation counter is exhausted: the keys must be renewed")
        if self.value > self._reserved and self.path is not None:
            self._reserved = self.value + COUNTER_RESERVE
            replace_file(self.path, str(self._reserved).encode())
        return self.value


class DlmsSource(Source):
    def __init__(self, config: MeterConfig, data_dir: Path | None = None,
                 firmware: FirmwareFolder | None = None) -> None:
        super().__init__()
        if config.transport is None:
            raise ValueError(f"meter {config.id}: a dlms source needs a transport")
        self.config = config
        self.address = parse_address(config.transport)
        self.settings = config.dlms
        self.counter = InvocationCounter(data_dir / f"{config.id}.dlms-counter" if data_dir is not None else None)
        self.title = (bytes.fromhex(self.settings.system_title) if self.settings.system_title
                      else b"OMG" + zlib.crc32(config.id.encode()).to_bytes(4, "big") + b"\x01")
        self.info = MeterInfo(
            meter_id=config.id, name=config.name or f"OMNIPOWER {config.id}", source="dlms",
            model="OMNIPOWER (DLMS/COSEM)", serial_number="unknown", sw_version="unknown",
            registers=(), commands=DLMS_COMMANDS if self.settings.client == 1 else frozenset(),
        )
        self._objects: tuple[CosemObject, ...] | None = None  # the meter's registers, once learnt
        self._scalers: dict[bytes, tuple[int, int]] = {}
        self._lock = asyncio.Lock()  # one association on the line at a time
        self.firmware = DlmsFirmware(firmware or FirmwareFolder(None), self._session, self.read, self.events,
                                     REPLY_TIMEOUT_S)  # Image Transfer: gateway/sources/dlms_firmware.py

    async def run(self) -> None:
        await asyncio.Event().wait()  # the bridge's publish interval is the polling schedule

    async def read(self) -> Readings:
        if self.firmware.busy:  # the line carries an image: the meter is busy, not gone
            return self.firmware.meanwhile
        return await self._session(self._read_all)

    async def breaker(self) -> BreakerStatus | None:
        return self.polled_breaker

    async def alarms(self) -> tuple[str, list[AlarmNotice]]:
        return local_now(), []  # the registers carry no alarms (the event logs will)

    async def execute(self, command: Command) -> dict[str, Any]:
        if command.name not in self.info.commands:
            why = "the public client 16 may not" if self.settings.client == 16 else "DLMS does not carry it"
            raise CommandError(command.name, f"not supported over DLMS ({why})")
        try:
            if command.name == FIRMWARE_UPDATE:
                return await self.firmware.update(str(command.value))
            return await self._session(lambda association: self._carry_out(association, command))
        except SourceError as exc:
            raise CommandError(command.name, str(exc)) from None

    async def close(self) -> None:
        return None

    async def log(self, name: str, start: int | None, end: int | None, offset: int,
                  limit: int) -> tuple[list[dict[str, Any]], int]:
        """A logger read as its Profile Generic: the buffer by range of time (start ≤ t < end; the meter's range
        includes its end, so the last second is dropped here), or whole; entries as the in-process source renders
        them (meter_sim/log_export.py): load-profile and analysis values in the registers' units, billing snapshots
        by OBIS code, events with their type and details."""
        try:
            logger = logger_named(name)
        except ValueError as exc:
            raise CommandError("log", str(exc)) from None
        if logger.obis is None:
            raise CommandError("log", f"the {name} log has no COSEM object: it cannot be read over DLMS")
        try:
            rows = await self._session(lambda association: self._read_log(association, logical_name(logger.obis or ""),
                                                                           start, end))
        except SourceError as exc:
            raise CommandError("log", str(exc)) from None
        entries = [self._entry(logger, row) for row in rows]
        if end is not None:
            entries = [e for e in entries if e.pop("_t") < end]
        else:
            for e in entries:
                e.pop("_t")
        return entries[offset:offset + limit], len(entries)

    async def _read_log(self, association: _Association, profile: bytes, start: int | None,
                        end: int | None) -> list[list[tuple[str, Any]]]:
        await self._learn(association)
        columns = _items(await association.get(ap.AttributeDescriptor(CosemClass.PROFILE_GENERIC, profile, 3)))
        access = None
        if start is not None or end is not None:
            def bound(t: float) -> Data:
                when = datetime.fromtimestamp(t, UTC).replace(tzinfo=None)
                return Data.date_time(CosemDateTime.from_datetime(when, hundredths=0, deviation=0))

            access = ap.AccessSelection(1, Data.structure(
                Data.structure(Data(DataType.LONG_UNSIGNED, CosemClass.CLOCK), Data(DataType.OCTET_STRING, CLOCK),
                               Data(DataType.INTEGER, 2), Data(DataType.LONG_UNSIGNED, 0)),
                bound(start if start is not None else 0), bound(end if end is not None else 4_102_444_799),
                Data.array()))
        buffer = await association.get(ap.AttributeDescriptor(CosemClass.PROFILE_GENERIC, profile, 2), access)
        names = [self._column(column) for column in columns]
        return [list(zip(names, (item.value for item in _items(row)), strict=False)) for row in _items(buffer)]

    def _column(self, column: Data) -> str:
        """A capture object definition as the field it fills: time, a register key (a peak's time key), status,
        type or detail."""
        class_id, ln, attribute = _item(column, 0), bytes(_item(column, 1)), _item(column, 2)
        if class_id == CosemClass.CLOCK:
            return "time"
        obj = _KNOWN.get(ln)
        if obj is not None and obj.key is not None:
            return obj.time_key if attribute == 5 and obj.time_key else obj.key
        return {10: "status", 11: "type" if ln[4] < 128 else "detail"}.get(ln[3], logical_name_text(ln))

    def _entry(self, logger: Logger, row: list[tuple[str, Any]]) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        values: dict[str, Any] = {}
        for field, raw in row:
            if field == "time":
                when = _time(Data(DataType.OCTET_STRING, raw))
                entry["time"] = when
                entry["_t"] = datetime.fromisoformat(when).timestamp() if when else 0.0
            elif field == "detail" and isinstance(raw, str):
                with contextlib.suppress(ValueError):
                    entry.update(json.loads(raw))
            elif field in ("status", "type"):
                entry[field] = raw
            elif field in REGISTERS_BY_KEY:
                values[field] = self._value(field, raw)
        if logger.kind == "debiting":
            entry["registers"] = {REGISTERS_BY_KEY[k].obis: v for k, v in values.items()}
        elif logger.kind == "load_profile":  # its channels by OBIS code, as the meter's own export has them
            entry.update({REGISTERS_BY_KEY[k].obis: v for k, v in values.items()})
        elif logger.kind == "event":
            entry["log"] = logger.name
        else:
            entry.update(values)
        return entry

    def _value(self, key: str, raw: Any) -> Any:
        if isinstance(raw, bytes):  # a capture time
            return _time(Data(DataType.OCTET_STRING, raw))
        obj = _KNOWN_BY_KEY.get(key)
        scaled = self._scaled(obj, raw) if obj is not None and isinstance(raw, int) else None
        return raw if scaled is None else scaled

    def _scaled(self, obj: CosemObject, count: int) -> float | None:
        """A register's count in its published unit, by the scaler the meter gave for it (None: it gave none)."""
        known = self._scalers.get(obj.logical_name)
        if known is None or obj.key is None:
            return None
        scaler, _unit = known
        return REGISTERS_BY_KEY[obj.key].publish(count * 10.0**scaler * obj.unit_size)

    # --- a session -----------------------------------------------------------------------------------------
    async def _session(self, work: Callable[[_Association], Awaitable[T]], timeout: float = REPLY_TIMEOUT_S * 8) -> T:
        try:
            async with self._lock, asyncio.timeout(timeout):
                options = self.settings
                # An optical head signs on at 300 Bd 7E1 (IEC 62056-21); HDLC on a serial line runs 9600 8N1.
                reader, writer = await open_line(self.address, 300 if options.mode_e else 9600,
                                                 "7E1" if options.mode_e else "8N1")
                try:
                    wire: Wire = (HdlcWire(reader, writer, options.client, options.physical_address, options.mode_e,
                                           REPLY_TIMEOUT_S) if options.hdlc
                                  else WrapperWire(reader, writer, options.client))
                    await wire.open()
                    association = _Association(wire, self.settings.client)
                    if self.settings.security == "high_gmac":
                        keys = self.settings.keys
                        assert keys is not None  # the configuration says so
                        await association.open_hls(self.title, keys, self.counter.next)
                    else:
                        await association.open(self.settings.password.get_secret_value().encode()
                                               if self.settings.password is not None else None)
                    result = await work(association)
                    await association.release()
                    await wire.close()
                    return result
                finally:
                    writer.close()
        except (OSError, CodecError, TimeoutError, _Refused, WireRefused, asyncio.IncompleteReadError) as exc:
            self.online = False
            reason = str(exc) or ("no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__)
            raise SourceError(f"DLMS exchange with {self.address} failed: {reason}") from None

    async def _learn(self, association: _Association) -> tuple[CosemObject, ...]:
        """The meter's registers: its object list matched against the register table, their scalers and units."""
        if self._objects is not None:
            return self._objects
        listed = await association.get(ap.AttributeDescriptor(CosemClass.ASSOCIATION_LN, CURRENT_ASSOCIATION, 2))
        names = {bytes(_item(entry, 2)) for entry in _items(listed)}
        objects = tuple(o for ln, o in _KNOWN.items() if ln in names and o.key is not None)
        scaled = [o for o in objects if o.class_id in (CosemClass.REGISTER, CosemClass.EXTENDED_REGISTER)]
        results = await association.get_many([ap.AttributeDescriptor(o.class_id, o.logical_name, 3) for o in scaled])
        for obj, result in zip(scaled, results, strict=True):
            if isinstance(result, Data):
                scaler, unit = (item.value for item in _items(result))
                if isinstance(scaler, int) and isinstance(unit, int):
                    self._scalers[obj.logical_name] = (scaler, unit)
        self._objects = objects
        keys = {o.key for o in objects} | {o.time_key for o in objects if o.time_key}
        self.info = replace(self.info, registers=tuple(r for r in ALL_REGISTERS if r.key in keys))
        return objects

    async def _read_all(self, association: _Association) -> Readings:
        objects = await self._learn(association)
        wanted: list[tuple[CosemObject, int]] = [(_CLOCK, 2)]
        for obj in objects:
            if obj.class_id is CosemClass.DISCONNECT_CONTROL:
                wanted.append((obj, 3))
            else:
                wanted.append((obj, 2))
                if obj.time_key:
                    wanted.append((obj, 5))
        results = await association.get_many([ap.AttributeDescriptor(o.class_id, o.logical_name, a) for o, a in wanted])
        readings: Readings = {"time": local_now()}
        for (obj, attribute), result in zip(wanted, results, strict=True):
            if not isinstance(result, Data):
                continue  # a value the meter could not give now: left out, as a wire source does
            self._note(obj, attribute, result, readings)
        self.online = True
        if BREAKER_KEY in readings:
            self.note_polled_breaker(str(readings[BREAKER_KEY]), str(readings["time"]))
        version = readings.get("firmware_version")
        if isinstance(version, str) and version and version != self.info.sw_version:  # the device's firmware in HA
            self.info = replace(self.info, sw_version=version)
        return readings

    def _note(self, obj: CosemObject, attribute: int, result: Data, readings: Readings) -> None:
        if obj is _CLOCK:
            when = _time(result)
            if when is not None:
                readings["time"] = when
        elif obj.class_id is CosemClass.DISCONNECT_CONTROL:
            if isinstance(result.value, int) and 0 <= result.value < len(_CONTROL_STATES):
                readings[BREAKER_KEY] = _CONTROL_STATES[result.value]
        elif attribute == 5:
            assert obj.time_key is not None
            readings[obj.time_key] = _time(result)
        elif obj.options:
            if isinstance(result.value, int) and 0 <= result.value < len(obj.options):
                readings[obj.key or ""] = obj.options[result.value]
        elif obj.class_id is CosemClass.DATA:
            readings[obj.key or ""] = result.value if isinstance(result.value, int | str) else None
        elif isinstance(result.value, int) and (scaled := self._scaled(obj, result.value)) is not None:
            readings[obj.key or ""] = scaled

    async def _carry_out(self, association: _Association, command: Command) -> dict[str, Any]:
        objects = await self._learn(association)
        carry_out = _CARRIERS.get(command.name, DlmsSource._operate_breaker)
        return await carry_out(self, association, objects, command)

    async def _set_time(self, association: _Association, objects: tuple[CosemObject, ...],
                        command: Command) -> dict[str, Any]:
        if not isinstance(command.value, int | float):
            raise CommandError("time", f"{command.value!r} is not a time")
        t = float(command.value)
        local = datetime.fromtimestamp(t, UTC)
        when = CosemDateTime.from_datetime(local.replace(tzinfo=None), hundredths=0, deviation=0)
        result = await association.set(ap.AttributeDescriptor(CosemClass.CLOCK, CLOCK, 2), Data.date_time(when))
        if result is not ap.DataAccessResult.SUCCESS:
            raise CommandError("time", f"the meter refused the clock ({result.name.lower()})")
        return {"time": datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")}

    async def _set_tariff(self, association: _Association, objects: tuple[CosemObject, ...],
                          command: Command) -> dict[str, Any]:
        tariff = next((o for o in objects if o.key == "tariff"), None)
        if tariff is None:
            raise CommandError("tariff", "the meter has no active-tariff object")
        value = command.value if isinstance(command.value, int) else 0  # 0: follow the calendar (auto)
        result = await association.set(ap.AttributeDescriptor(CosemClass.DATA, tariff.logical_name, 2),
                                       Data(DataType.UNSIGNED, value))
        if result is not ap.DataAccessResult.SUCCESS:
            raise CommandError("tariff", f"the meter refused it ({result.name.lower()})")
        active = await association.get(ap.AttributeDescriptor(CosemClass.DATA, tariff.logical_name, 2))
        return {"tariff": active.value, "tariff_control": "auto" if command.value is None else str(command.value)}

    async def _configure(self, association: _Association, objects: tuple[CosemObject, ...],
                         command: Command) -> dict[str, Any]:
        """The tariff calendar written as the passive calendar and activated (gateway/sources/dlms_configure.py);
        the meter checks it as MQTT configure does and says why it refuses (its log has the reason)."""
        setting, writes = calendar_writes(command.value)
        for attribute, value in writes.items():
            result = await association.set(ap.AttributeDescriptor(CosemClass.ACTIVITY_CALENDAR, ACTIVITY_CALENDAR,
                                                                  attribute), value)
            if result is not ap.DataAccessResult.SUCCESS:
                raise CommandError("configure.tariff_calendar", f"the meter refused the passive calendar's attribute "
                                   f"{attribute} ({result.name.lower()})")
        outcome = await association.action(ap.MethodDescriptor(CosemClass.ACTIVITY_CALENDAR, ACTIVITY_CALENDAR, 1))
        if outcome is not ap.ActionResult.SUCCESS:
            raise CommandError("configure.tariff_calendar", f"the meter refused to activate it ({outcome.name.lower()}"
                               "; its log says why)")
        return {"configured": {"tariff_calendar": setting}}

    async def _operate_breaker(self, association: _Association, objects: tuple[CosemObject, ...],
                               command: Command) -> dict[str, Any]:
        control = next((o for o in objects if o.class_id is CosemClass.DISCONNECT_CONTROL), None)
        if control is None:
            raise CommandError(command.name, "the meter has no Disconnect Control object (no breaker)")
        method = 1 if command.value == "disconnect" else 2  # remote_disconnect / remote_reconnect
        outcome = await association.action(ap.MethodDescriptor(CosemClass.DISCONNECT_CONTROL, control.logical_name,
                                                               method))
        state = await association.get(ap.AttributeDescriptor(CosemClass.DISCONNECT_CONTROL, control.logical_name, 3))
        now = _CONTROL_STATES[state.value] if isinstance(state.value, int) and 0 <= state.value < 3 else None
        if outcome is not ap.ActionResult.SUCCESS:
            raise CommandError(command.name, f"the meter refused it ({outcome.name.lower()}); the breaker is {now}")
        if now is not None:
            self.note_polled_breaker(now, local_now())
        return {BREAKER_KEY: now}


_Carrier = Callable[[DlmsSource, "_Association", tuple[CosemObject, ...], Command], Awaitable[dict[str, Any]]]
# How each command of the table's DLMS ones goes (gateway/command_table.py `dlms=True`); the breaker's by default.
_CARRIERS: dict[str, _Carrier] = {
    "time": DlmsSource._set_time,
    "tariff": DlmsSource._set_tariff,
    "configure": DlmsSource._configure,
}


_CLOCK = CosemObject(CosemClass.CLOCK, CLOCK)


class _Refused(Exception):
    """The meter refused the association or a request as a whole."""


class _Association:
    """One association over the wrapper: requests in order, one answer each."""

    def __init__(self, wire: Wire, client: int) -> None:
        self.wire, self.client = wire, client
        self.max_pdu = CLIENT_MAX_PDU
        # HLS-GMAC: (own title, meter's title, EK, AK, the counter's next) once the AARE named the meter
        self._cipher: tuple[bytes, bytes, bytes, bytes, Callable[[], int]] | None = None
        self._meter_counter = -1

    def _protect(self, request: ap.Apdu) -> bytes:
        plain = request.to_bytes()
        if self._cipher is None or isinstance(request, ap.Aarq | ap.ReleaseRequest):
            return plain
        title, _, ek, ak, counter = self._cipher
        return protect(plain, title, counter(), ek, ak, GENERAL_GLO_CIPHERING)

    def _unprotect(self, apdu: bytes) -> bytes:
        if self._cipher is None or not apdu or apdu[0] not in CIPHERED_TAGS:
            return apdu
        _, meter_title, ek, ak, _ = self._cipher
        plain = unprotect(apdu, meter_title, ek, ak)
        if plain.invocation_counter <= self._meter_counter:  # a replayed answer
            raise _Refused(f"the meter's invocation counter went back to {plain.invocation_counter}")
        self._meter_counter = plain.invocation_counter
        return plain.apdu

    async def exchange(self, request: ap.Apdu) -> ap.Apdu:
        answer = ap.decode_apdu(self._unprotect(await self.wire.exchange(self._protect(request), REPLY_TIMEOUT_S)))
        if isinstance(answer, ap.ExceptionResponse):
            raise _Refused(f"the meter answered {answer.state_error.name.lower()}, "
                           f"{answer.service_error.name.lower()}")
        return answer

    async def open(self, password: bytes | None) -> None:
        lls = self.client == 1
        if lls and password is None:
            raise _Refused("the management client 1 needs `dlms.password`")
        aarq = ap.Aarq(user_information=ap.InitiateRequest(proposed_conformance=CONFORMANCE,
                                                           client_max_receive_pdu_size=CLIENT_MAX_PDU),
                       authentication=lls, mechanism=ap.AuthenticationMechanism.LLS if lls else None,
                       calling_authentication_value=password if lls else None)
        aare = await self.exchange(aarq)
        if not isinstance(aare, ap.Aare) or aare.result is not ap.AssociationResult.ACCEPTED:
            diagnostic = getattr(aare, "diagnostic", None)
            raise _Refused(f"association refused ({getattr(diagnostic, 'name', 'no reason').lower()})")
        if isinstance(aare.user_information, ap.InitiateResponse):
            self.max_pdu = aare.user_information.server_max_receive_pdu_size or CLIENT_MAX_PDU

    async def open_hls(self, title: bytes, keys: tuple[bytes, bytes], counter: Callable[[], int]) -> None:
        """HLS-GMAC: the ciphered AARQ with our challenge, then our proof of the meter's challenge, and the check of
        the meter's proof of ours (a meter that cannot prove the key is not read)."""
        ek, ak = keys
        ctos = secrets.token_bytes(32)
        initiate = ap.InitiateRequest(proposed_conformance=CONFORMANCE, client_max_receive_pdu_size=CLIENT_MAX_PDU)
        aarq = ap.Aarq(application_context=ap.ApplicationContext.LN_CIPHERED, calling_ap_title=title,
                       authentication=True, mechanism=ap.AuthenticationMechanism.HLS_GMAC,
                       calling_authentication_value=ctos,
                       user_information=ap.CipheredInitiate.from_bytes(
                           protect(initiate.to_bytes(), title, counter(), ek, ak, 0x21)))
        aare = await self.exchange(aarq)
        if not isinstance(aare, ap.Aare) or aare.result is not ap.AssociationResult.ACCEPTED:
            diagnostic = getattr(aare, "diagnostic", None)
            raise _Refused(f"association refused ({getattr(diagnostic, 'name', 'no reason').lower()})")
        meter_title, stoc, ciphered = aare.responding_ap_title, aare.responding_authentication_value, \
            aare.user_information
        if meter_title is None or stoc is None or not isinstance(ciphered, ap.CipheredInitiate):
            raise _Refused("the meter's AARE lacks its system title, challenge or ciphered initiate")
        response = ap.InitiateResponse.from_bytes(unprotect(ciphered.to_bytes(), meter_title, ek, ak).apdu)
        self.max_pdu = response.server_max_receive_pdu_size or CLIENT_MAX_PDU
        self._cipher = (title, meter_title, ek, ak, counter)
        proof = hls_gmac(stoc, title, counter(), ek, ak)
        answer = await self.exchange(ap.ActionRequestNormal(
            method=ap.MethodDescriptor(CosemClass.ASSOCIATION_LN, CURRENT_ASSOCIATION, 1),
            parameters=Data(DataType.OCTET_STRING, proof)))
        if not isinstance(answer, ap.ActionResponseNormal) or answer.result is not ap.ActionResult.SUCCESS:
            raise _Refused("the meter did not accept our HLS-GMAC proof")
        theirs = answer.return_parameters
        if not isinstance(theirs, Data) or not isinstance(theirs.value, bytes):
            raise _Refused("the meter sent no HLS-GMAC proof")
        check_hls_gmac(theirs.value, ctos, meter_title, ek, ak)  # DecryptionError: the meter is not who it says

    async def release(self) -> None:
        await self.exchange(ap.ReleaseRequest(reason=ap.ReleaseRequestReason.NORMAL))

    async def get(self, attribute: ap.AttributeDescriptor, access: ap.AccessSelection | None = None) -> Data:
        answer = await self.exchange(ap.GetRequestNormal(attribute=attribute, access=access))
        if isinstance(answer, ap.GetResponseWithBlock):
            return decode_data(await self._rest(answer, attribute))
        if not isinstance(answer, ap.GetResponseNormal):
            raise CodecError(f"expected a GET response, got {type(answer).__name__}")
        if isinstance(answer.result, ap.DataAccessResult):
            raise _Refused(f"reading {attribute} failed ({answer.result.name.lower()})")
        return answer.result

    async def get_many(self, attributes: list[ap.AttributeDescriptor]) -> list[Data | ap.DataAccessResult]:
        """As few GET-with-list requests as the meter's PDU allows (one for a whole publication from our simulator:
        13 bytes an attribute); an answer longer than ours comes in blocks."""
        room = self.max_pdu - 16 - (_CIPHERING_OVERHEAD if self._cipher is not None else 0)
        per_request = max(1, room // 13)
        results: list[Data | ap.DataAccessResult] = []
        for start in range(0, len(attributes), per_request):
            chunk = attributes[start:start + per_request]
            answer = await self.exchange(ap.GetRequestWithList(
                attributes=tuple(ap.AttributeWithSelection(a) for a in chunk)))
            if isinstance(answer, ap.GetResponseWithBlock):
                answer = ap.GetResponseWithList(results=ap.decode_result_list(await self._rest(answer, "the list")))
            if not isinstance(answer, ap.GetResponseWithList) or len(answer.results) != len(chunk):
                raise CodecError("the meter's GET-with-list answer does not match the request")
            results.extend(answer.results)
        return results

    async def _rest(self, answer: ap.GetResponseWithBlock, what: object) -> bytes:
        """The raw data of an answer in blocks, from its first block on."""
        data = bytearray()
        while True:
            if isinstance(answer.result, ap.DataAccessResult):
                raise _Refused(f"reading {what} failed ({answer.result.name.lower()})")
            data += answer.result
            if answer.last_block:
                return bytes(data)
            following = await self.exchange(ap.GetRequestNext(block_number=answer.block_number))
            if not isinstance(following, ap.GetResponseWithBlock):
                raise CodecError(f"expected the next block, got {type(following).__name__}")
            answer = following

    async def set(self, attribute: ap.AttributeDescriptor, value: Data) -> ap.DataAccessResult:
        answer = await self.exchange(ap.SetRequestNormal(attribute=attribute, value=value))
        if not isinstance(answer, ap.SetResponseNormal):
            raise CodecError(f"expected a SET response, got {type(answer).__name__}")
        return answer.result

    async def action(self, method: ap.MethodDescriptor) -> ap.ActionResult:
        answer = await self.exchange(ap.ActionRequestNormal(method=method, parameters=Data(DataType.INTEGER, 0)))
        if not isinstance(answer, ap.ActionResponseNormal):
            raise CodecError(f"expected an ACTION response, got {type(answer).__name__}")
        return answer.result


def _items(data: Data) -> tuple[Data, ...]:
    return data.value if isinstance(data.value, tuple) else ()  # type: ignore[return-value]


def _item(data: Data, index: int) -> Any:
    items = _items(data)
    return items[index].value if index < len(items) else b""


def _time(data: Data) -> str | None:
    """A COSEM date-time as ISO 8601 with its offset (the deviation: minutes from local time to UTC)."""
    if not isinstance(data.value, bytes) or len(data.value) != 12:
        return None
    try:
        when = CosemDateTime.from_bytes(data.value)
    except CodecError:
        return None
    local = when.to_datetime()
    if local is None:
        return None
    if when.deviation is None or when.deviation == _UNSPECIFIED_DEVIATION:
        return local.isoformat(timespec="seconds")
    return local.replace(tzinfo=timezone(timedelta(minutes=-when.deviation))).isoformat(timespec="seconds")
