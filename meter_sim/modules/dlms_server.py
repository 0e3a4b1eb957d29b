"""The meter's DLMS/COSEM server: associations and the GET, SET and ACTION services on its COSEM objects.

Sans-IO: `DlmsAssociation.handle(apdu) -> response APDU` for one client's connection; `converse_wrapper` is the
IEC 62056-47 TCP transport (the GPRS module's path) around it. The objects are the register table's COSEM face
(`omnipower/cosem.py`); their values are the model's, read when asked.

Associations (logical device 1; the generic DLMS defaults, as no OMNIPOWER document publishes its own, §10.2):
- **public client 16**, lowest-level security: reads every object, writes and operates nothing;
- **management client 1**, low-level security (the `dlms.password` of the meter's settings): reads every object,
  sets the clock (logged as the MQTT `time` command is), operates the breaker through Disconnect Control, writes
  and activates the Activity Calendar's passive calendar (below) and transfers, verifies and activates firmware
  images through Image Transfer (class 18, meter_sim/modules/dlms_image_transfer.py).
A wrong password, a missing one, another mechanism or a ciphered context is refused in the AARE, never answered
with data. A Variant 2 meter (X8 = 2) answers no DLMS query at all, as the data sheet says.

What a refused request gets (the Blue Book's codes): an object the meter does not have `object-undefined`, a
class that is not the object's `object-class-inconsistent`, an attribute the client may not read or write
`read-write-denied`, a value of the wrong type `type-unmatched`, a breaker operation its state does not allow
`temporary-failure`; an APDU before the association or that cannot be decoded an EXCEPTION-Response.

Profiles (Profile Generic, class 7, IEC 62056-6-2 §4.3.6): every logger of the logger table with a logical name (§4)
is read from the meter's own loggers, as MQTT's `get {"log": …}` reads them (meter_sim/log_export.py). A buffer row
is the entry's time stamp in local standard time with its deviation (§4: the loggers keep standard time), then each
captured register as the count its COSEM object uses (a load-profile period's energy, a snapshot's reading, an
analysis value; null-data where the entry has none), then the logger's fields (status; event and its details). The
buffer is read whole, by range of time (selector 1) or by entry (selector 2, entry 1 the oldest). What a selective
access the meter does not answer with data gets: a selector other than 1 or 2, or selective access to anything
but a buffer, `scope-of-access-violated`; parameters not of the selector's shape (a structure of four, the types of
the Blue Book, a date-time with every field given) `type-unmatched`; a restricting or selected object that is not one
of the profile's capture objects, an entry 0, or a range of entries or columns upside down or out of the profile's
columns `scope-of-access-violated`; a range restricted by a column other than the clock `other-reason` (the meter
keeps its entries by time only).

The meter's setup (`omnipower/cosem.py`): the **Activity Calendar** and **Special Days Table** read as the tariff
calendar the meter runs (`CosemCalendar` says how, and what the model cannot express); **Security Setup** gives
suite 0, the current association's policy and client system title, and the meter's system title (no attribute holds
a key); each **Push Setup** gives its HAN list's objects and the HAN port's fixed method (§10.4), all read-only
(the HAN layout, push on/off and encryption are module settings, not remote ones).

Writing configuration: only what stands for a setting the MQTT `configure` command takes, and maps onto it whole —
the passive calendar (attributes 6–9, each SET checked for its shape, `type-unmatched`) and its activation (method 1,
or attribute 10 set to a time not after the meter's), which carries it out as `configure {"tariff_calendar": …}`
through the meter's `reconfigure`, the validated remote reconfiguration that command ends in (its own parser only
checks the settings' names): `success`, or `other-reason` with the refusal logged (for what configure refuses, and
for what the model cannot express). Attribute 10 set to a later time is
checked the same way at once and scheduled in the meter, which activates the calendar at that minute.
Everything else is `read-write-denied`:
legal data (the registers and profiles, the clock's time zone and daylight saving, Z11 and Z15: configure refuses
those too), the active calendar (it changes only by activation), the Special Days Table (the exception days are the
calendar's, which a written calendar keeps), the Push Setups and Security Setup (no remote setting stands for them),
and a profile's capture_period (Z4 is a remote setting, but it is also the demand registers' period, §2.5: a SET of
one object's attribute would change others; the analysis interval comes with its channels' checks).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from meter_sim.breaker import Action
from meter_sim.config import DlmsSettings
from meter_sim.log_export import log_of  # where the meter keeps each logger's entries: one declaration
from meter_sim.meter import (  # the debiting loggers' captures (§4.2, §4.3)
    BILLING_KEYS,
    LOGGER2_KEYS,
    Meter,
    ScheduledChange,
    serial_number,
)
from meter_sim.modules import dlms_image_transfer as image_transfer
from meter_sim.modules.dlms_calendar import (
    CALENDAR_CODECS,
    CALENDAR_PARTS,
    CosemCalendar,
    calendar_of,
    special_days_of,
    tariff_calendar_setting,
)
from meter_sim.modules.dlms_values import Refusal, date_time_of, items_of, reason_of, structure_of, unsigned_of
from meter_sim.modules.han_push import han_layout
from meter_sim.refusals import MeterRefused
from meter_sim.tariffs import TariffCalendar
from omnipower import dlms_apdu as ap
from omnipower.cosem import (
    CLOCK,
    CLOCK_CAPTURE,
    CURRENT_ASSOCIATION,
    LOGICAL_DEVICE_NAME,
    CaptureObject,
    CosemClass,
    CosemObject,
    capture_objects,
    cosem_objects,
    push_objects,
)
from omnipower.dlms import GENERAL_GLO_CIPHERING, INTEGER_TYPES, CosemDateTime, Data, DataType, encode_data
from omnipower.dlms_security import check_hls_gmac, hls_gmac, protect, unprotect
from omnipower.dlms_wrapper import WrapperReader, encode_wrapper
from omnipower.errors import CodecError
from omnipower.han import HAN_PUSHES
from omnipower.loggers import BILLING, DEBITING_LOGGER_2, LOGGERS_BY_NAME, Logger, LogKind
from omnipower.obis import logical_name, logical_name_text
from omnipower.registers import REGISTERS_BY_KEY, REGISTERS_BY_OBIS, Register

log = logging.getLogger(__name__)

LOGICAL_DEVICE = 1  # the server's wrapper port / SAP: the management logical device
PUBLIC_CLIENT = 16
MANAGEMENT_CLIENT = 1
# What the meter receives and sends in one APDU (ciphering included); longer answers go in blocks. Our choice (the
# data sheet gives none): big enough for a head-end's GET-with-list of every reading of an 8-tariff meter (157
# attributes, 2,057 bytes) in one request, ciphered.
SERVER_MAX_PDU = 4096
# What the meter offers (the client's proposal is cut down to it)
CONFORMANCE = (ap.Conformance.GET | ap.Conformance.SET | ap.Conformance.ACTION
               | ap.Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ | ap.Conformance.MULTIPLE_REFERENCES)
CIPHERED_SERVICE_TAGS = frozenset({GENERAL_GLO_CIPHERING, 0xC8, 0xC9, 0xCB})  # glo-get, glo-set, glo-action requests
_BLOCK_OVERHEAD = 16  # a GET-Response-With-Datablock's header, at most (tag, choice, invoke, flag, number, length)
_UNSPECIFIED_DEVIATION = 0x8000


def system_title(meter_id: str) -> bytes:
    """"KAME" and the serial number (four bytes), as on the meter's ciphered HAN frames (§10.2)."""
    return b"KAME" + serial_number(meter_id).to_bytes(4, "big")


class ServerSecurity:
    """The meter's side of security suite 0, shared by its connections: its system title and keys, the invocation
    counter of what it ciphers, and the last counter accepted from each client system title (a replayed or older
    counter is refused, §10.2)."""

    def __init__(self, meter_id: str, settings: DlmsSettings) -> None:
        self.title = bytes.fromhex(settings.system_title) if settings.system_title else system_title(meter_id)
        self.keys = settings.keys
        self._counter = 0
        self._seen: dict[bytes, int] = {}

    def next_counter(self) -> int:
        self._counter += 1
        return self._counter

    def fresh(self, client_title: bytes, counter: int) -> bool:
        """Whether `counter` is newer than any accepted from that client (and accept it)."""
        if counter <= self._seen.get(client_title, -1):
            return False
        self._seen[client_title] = counter
        return True

    def expected(self, client_title: bytes) -> int:
        return self._seen.get(client_title, -1) + 1


@dataclass
class _Blocks:
    """A long GET answer being read block by block."""

    invoke: ap.InvokeIdAndPriority
    data: bytes
    size: int
    sent: int = 0  # the blocks sent so far; block n is data[(n-1)·size : n·size]


class DlmsAssociation:
    """One client's connection: at most one association at a time, released by RLRQ or by the connection's end."""

    def __init__(self, meter: Meter, client: int, on_change: Callable[[], None] = lambda: None,
                 security: ServerSecurity | None = None) -> None:
        """`client`: the client's SAP (its wrapper port or HDLC address); `on_change` is called after the meter was
        changed (a clock set, a breaker operation), for its owner to save it; `security` is the meter's (shared by
        its connections, so that a counter replayed on another connection is refused too)."""
        self.meter = meter
        self.client = client
        self.on_change = on_change
        self.security = security if security is not None else ServerSecurity(meter.id, meter.settings.dlms)
        self.associated = False
        # HLS-GMAC: the association is ciphered; until the client's proof arrives only that proof is taken
        self.ciphered = False
        self._client_title = b""
        self._challenges: tuple[bytes, bytes] | None = None  # (StoC, CtoS) while the proof is pending
        self.max_pdu = SERVER_MAX_PDU
        self.conformance = ap.Conformance(0)
        self._blocks: _Blocks | None = None
        self._base: dict[str, float | int | str | None] | None = None  # the model's values, for one request
        self._passive: CosemCalendar | None = None  # the passive calendar written (None: it reads as the active one)
        self._load_objects()

    def _load_objects(self) -> None:
        """The object list of the meter as configured now (its registers follow its tariff configuration; its Push
        Setups the HAN layout it pushes, `han_layout`)."""
        meter = self.meter
        self._object_list = cosem_objects(meter.registers, HAN_PUSHES[han_layout(meter.settings)])
        self._objects = {(o.logical_name): o for o in self._object_list}

    # --- association ---------------------------------------------------------------------------------------
    def handle(self, apdu: bytes) -> bytes:
        """The answer to one APDU from the client."""
        if apdu[:1] and apdu[0] in CIPHERED_SERVICE_TAGS:
            return self._handle_ciphered(apdu)
        if self.ciphered and apdu[:1] not in (b"\x60", b"\x62"):  # a plain service in a ciphered association
            return _exception(ap.StateError.SERVICE_NOT_ALLOWED, ap.ServiceError.OPERATION_NOT_POSSIBLE)
        return self.handle_plain(apdu)

    def handle_plain(self, apdu: bytes) -> bytes:
        """The answer to a plain (or deciphered) APDU."""
        self._base = None  # read afresh for each request, once (see _base_values)
        try:
            request = ap.decode_apdu(apdu)
        except CodecError as exc:
            log.debug("client %d: undecodable APDU: %s", self.client, exc)
            return _exception(ap.StateError.SERVICE_UNKNOWN, ap.ServiceError.SERVICE_NOT_SUPPORTED)
        if isinstance(request, ap.Aarq):
            return self._associate(request).to_bytes()
        if isinstance(request, ap.ReleaseRequest):
            self.associated = self.ciphered = False
            self._blocks = self._challenges = None
            return ap.ReleaseResponse(reason=ap.ReleaseResponseReason.NORMAL).to_bytes()
        if not self.associated:
            return _exception(ap.StateError.SERVICE_NOT_ALLOWED, ap.ServiceError.OPERATION_NOT_POSSIBLE)
        service = _SERVICES.get(type(request))
        if service is None:  # a response, or a service this meter does not offer
            return _exception(ap.StateError.SERVICE_UNKNOWN, ap.ServiceError.SERVICE_NOT_SUPPORTED)
        return service(self, request)

    def _associate(self, aarq: ap.Aarq) -> ap.Aare:
        self.associated = self.ciphered = False
        self._blocks = self._challenges = None

        def refuse(diagnostic: ap.AcseUserDiagnostic) -> ap.Aare:
            log.info("client %d: association refused (%s)", self.client, diagnostic.name.lower())
            return ap.Aare(result=ap.AssociationResult.REJECTED_PERMANENT, diagnostic=diagnostic)

        if aarq.application_context is ap.ApplicationContext.LN_CIPHERED:
            return self._associate_hls(aarq, refuse)
        if aarq.application_context is not ap.ApplicationContext.LN:
            return refuse(ap.AcseUserDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)
        mechanism = aarq.mechanism if aarq.authentication else ap.AuthenticationMechanism.LOWEST
        if self.client == PUBLIC_CLIENT:
            if mechanism is not ap.AuthenticationMechanism.LOWEST:
                return refuse(ap.AcseUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)
        elif self.client == MANAGEMENT_CLIENT:
            if mechanism is ap.AuthenticationMechanism.LOWEST:
                return refuse(ap.AcseUserDiagnostic.AUTHENTICATION_REQUIRED)
            if mechanism is not ap.AuthenticationMechanism.LLS:
                return refuse(ap.AcseUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)
            password = self.meter.settings.dlms.password
            given = aarq.calling_authentication_value
            if password is None or given is None or given != password.get_secret_value().encode():
                return refuse(ap.AcseUserDiagnostic.AUTHENTICATION_FAILURE)
        else:
            return refuse(ap.AcseUserDiagnostic.CALLING_AP_TITLE_NOT_RECOGNIZED)
        initiate = aarq.user_information
        if not isinstance(initiate, ap.InitiateRequest):  # absent, or ciphered (no keys in this association)
            return refuse(ap.AcseUserDiagnostic.NO_REASON_GIVEN)
        if initiate.proposed_dlms_version < 6:
            too_low = ap.ConfirmedServiceError(service=ap.ConfirmedService.INITIATE_ERROR,
                                               error_class=ap.ServiceErrorClass.INITIATE,
                                               error=ap.InitiateError.DLMS_VERSION_TOO_LOW)
            return ap.Aare(result=ap.AssociationResult.REJECTED_PERMANENT,
                           diagnostic=ap.AcseUserDiagnostic.NO_REASON_GIVEN, user_information=too_low)
        response = self._accept(initiate)
        self.associated = True
        log.info("client %d associated (%s)", self.client, "public" if self.client == PUBLIC_CLIENT else "management")
        return ap.Aare(result=ap.AssociationResult.ACCEPTED, diagnostic=ap.AcseUserDiagnostic.NULL,
                       user_information=response)

    def _accept(self, initiate: ap.InitiateRequest) -> ap.InitiateResponse:
        client_pdu = initiate.client_max_receive_pdu_size or 0xFFFF  # 0: no limit
        self.max_pdu = max(64, min(SERVER_MAX_PDU, client_pdu))
        self.conformance = initiate.proposed_conformance & CONFORMANCE
        return ap.InitiateResponse(negotiated_conformance=self.conformance, server_max_receive_pdu_size=SERVER_MAX_PDU)

    def _associate_hls(self, aarq: ap.Aarq, refuse: Callable[[ap.AcseUserDiagnostic], ap.Aare]) -> ap.Aare:
        """HLS-GMAC, pass 1 and 2: the ciphered AARQ with the client's challenge (CtoS) and system title, answered
        with the meter's challenge (StoC); the association is usable once the client's proof of StoC arrived."""
        keys = self.security.keys
        if keys is None or self.client != MANAGEMENT_CLIENT:
            return refuse(ap.AcseUserDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED)
        if not aarq.authentication or aarq.mechanism is not ap.AuthenticationMechanism.HLS_GMAC:
            return refuse(ap.AcseUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED)
        title, ctos = aarq.calling_ap_title, aarq.calling_authentication_value
        if title is None or len(title) != 8:
            return refuse(ap.AcseUserDiagnostic.CALLING_AP_TITLE_NOT_RECOGNIZED)
        if ctos is None or not 8 <= len(ctos) <= 64:
            return refuse(ap.AcseUserDiagnostic.AUTHENTICATION_REQUIRED)
        ciphered = aarq.user_information
        if not isinstance(ciphered, ap.CipheredInitiate):
            return refuse(ap.AcseUserDiagnostic.NO_REASON_GIVEN)
        try:
            plain = unprotect(ciphered.to_bytes(), title, *keys)
            initiate = ap.InitiateRequest.from_bytes(plain.apdu)
        except CodecError as exc:  # a wrong key, a tampered or malformed initiate
            log.info("client %d: ciphered AARQ refused: %s", self.client, exc)
            return refuse(ap.AcseUserDiagnostic.AUTHENTICATION_FAILURE)
        if not self.security.fresh(title, plain.invocation_counter):
            return refuse(ap.AcseUserDiagnostic.AUTHENTICATION_FAILURE)  # a replayed AARQ
        response = self._accept(initiate)
        stoc = secrets.token_bytes(16)
        self._client_title, self._challenges, self.ciphered = title, (stoc, ctos), True
        answer = protect(response.to_bytes(), self.security.title, self.security.next_counter(), *keys, 0x28)
        return ap.Aare(result=ap.AssociationResult.ACCEPTED, diagnostic=ap.AcseUserDiagnostic.AUTHENTICATION_REQUIRED,
                       application_context=ap.ApplicationContext.LN_CIPHERED, responding_ap_title=self.security.title,
                       authentication=True, mechanism=ap.AuthenticationMechanism.HLS_GMAC,
                       responding_authentication_value=stoc, user_information=ap.CipheredInitiate.from_bytes(answer))

    def _handle_ciphered(self, apdu: bytes) -> bytes:
        """A ciphered service request: deciphered with the client's title, refused when replayed, answered in the
        form it came in. Before the proof of StoC only that proof (ACTION reply_to_HLS_authentication) is taken."""
        keys = self.security.keys
        if not self.ciphered or keys is None:
            return _exception(ap.StateError.SERVICE_NOT_ALLOWED, ap.ServiceError.OPERATION_NOT_POSSIBLE)
        try:
            plain = unprotect(apdu, self._client_title, *keys)
        except CodecError as exc:
            log.info("client %d: ciphered APDU refused: %s", self.client, exc)
            return _exception(ap.StateError.SERVICE_NOT_ALLOWED, ap.ServiceError.DECIPHERING_ERROR)
        if not self.security.fresh(self._client_title, plain.invocation_counter):
            return ap.ExceptionResponse(state_error=ap.StateError.SERVICE_NOT_ALLOWED,
                                        service_error=ap.ServiceError.INVOCATION_COUNTER_ERROR,
                                        invocation_counter=self.security.expected(self._client_title)).to_bytes()
        answer = self._prove(plain.apdu) if self._challenges is not None else self.handle_plain(plain.apdu)
        if answer[:1] == bytes((0xD8,)):  # an EXCEPTION-Response is never ciphered
            return answer
        return protect(answer, self.security.title, self.security.next_counter(), *keys, plain.form)

    def _prove(self, apdu: bytes) -> bytes:
        """Pass 3 and 4: the client's f(StoC) checked, the meter's f(CtoS) returned; anything else refused."""
        assert self._challenges is not None and self.security.keys is not None
        stoc, ctos = self._challenges
        try:
            request = ap.decode_apdu(apdu)
        except CodecError:
            request = None
        if not (isinstance(request, ap.ActionRequestNormal) and request.method.logical_name == CURRENT_ASSOCIATION
                and request.method.class_id == CosemClass.ASSOCIATION_LN and request.method.method_id == 1
                and request.parameters is not None and isinstance(request.parameters.value, bytes)):
            return _exception(ap.StateError.SERVICE_NOT_ALLOWED, ap.ServiceError.OPERATION_NOT_POSSIBLE)
        try:
            check_hls_gmac(request.parameters.value, stoc, self._client_title, *self.security.keys)
        except CodecError as exc:
            log.info("client %d: HLS-GMAC proof refused: %s", self.client, exc)
            self.ciphered, self._challenges = False, None
            return ap.ActionResponseNormal(result=ap.ActionResult.OTHER_REASON, invoke=request.invoke).to_bytes()
        self._challenges, self.associated = None, True
        log.info("client %d associated (management, HLS-GMAC)", self.client)
        proof = hls_gmac(ctos, self.security.title, self.security.next_counter(), *self.security.keys)
        return ap.ActionResponseNormal(result=ap.ActionResult.SUCCESS, return_parameters=Data(DataType.OCTET_STRING,
                                                                                               proof),
                                       invoke=request.invoke).to_bytes()

    # --- GET -----------------------------------------------------------------------------------------------
    def _get(self, request: ap.GetRequestNormal) -> bytes:
        self._blocks = None
        result = self._read(request.attribute, request.access)
        response = ap.GetResponseNormal(result=result, invoke=request.invoke).to_bytes()
        if len(response) <= self.max_pdu or not isinstance(result, Data):
            return response
        if not self.conformance & ap.Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ:
            return ap.GetResponseNormal(result=ap.DataAccessResult.OTHER_REASON, invoke=request.invoke).to_bytes()
        self._blocks = _Blocks(request.invoke, encode_data(result), self.max_pdu - _BLOCK_OVERHEAD)
        return self._next_block(request.invoke)

    def _get_next(self, request: ap.GetRequestNext) -> bytes:
        blocks = self._blocks
        if blocks is None:
            return ap.GetResponseWithBlock(last_block=True, block_number=request.block_number,
                                           result=ap.DataAccessResult.NO_LONG_GET_IN_PROGRESS,
                                           invoke=request.invoke).to_bytes()
        if request.block_number != blocks.sent:
            self._blocks = None
            return ap.GetResponseWithBlock(last_block=True, block_number=request.block_number,
                                           result=ap.DataAccessResult.DATA_BLOCK_NUMBER_INVALID,
                                           invoke=request.invoke).to_bytes()
        return self._next_block(request.invoke)

    def _next_block(self, invoke: ap.InvokeIdAndPriority) -> bytes:
        blocks = self._blocks
        assert blocks is not None
        start = blocks.sent * blocks.size
        chunk = blocks.data[start:start + blocks.size]
        blocks.sent += 1
        last = start + blocks.size >= len(blocks.data)
        if last:
            self._blocks = None
        return ap.GetResponseWithBlock(last_block=last, block_number=blocks.sent, result=chunk,
                                       invoke=invoke).to_bytes()

    def _get_list(self, request: ap.GetRequestWithList) -> bytes:
        self._blocks = None
        if not self.conformance & ap.Conformance.MULTIPLE_REFERENCES:
            return _exception(ap.StateError.SERVICE_NOT_ALLOWED, ap.ServiceError.SERVICE_NOT_SUPPORTED)
        results = tuple(self._read(item.attribute, item.access) for item in request.attributes)
        response = ap.GetResponseWithList(results=results, invoke=request.invoke).to_bytes()
        if len(response) <= self.max_pdu:
            return response
        if not self.conformance & ap.Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ:  # ask for fewer at a time
            return _exception(ap.StateError.SERVICE_NOT_ALLOWED, ap.ServiceError.PDU_TOO_LONG)
        # the list's results in blocks: their raw data is the SEQUENCE OF Get-Data-Result (Green Book 9.3.5)
        self._blocks = _Blocks(request.invoke, ap.encode_result_list(results), self.max_pdu - _BLOCK_OVERHEAD)
        return self._next_block(request.invoke)

    def _read(self, attribute: ap.AttributeDescriptor,
              access: ap.AccessSelection | None) -> Data | ap.DataAccessResult:
        obj = self._objects.get(attribute.logical_name)
        if obj is None:
            return ap.DataAccessResult.OBJECT_UNDEFINED
        if attribute.class_id != obj.class_id:
            return ap.DataAccessResult.OBJECT_CLASS_INCONSISTENT
        if attribute.attribute_id not in obj.attributes:
            return ap.DataAccessResult.OBJECT_UNDEFINED
        if access is not None and not (obj.class_id is CosemClass.PROFILE_GENERIC and attribute.attribute_id == 2):
            return ap.DataAccessResult.SCOPE_OF_ACCESS_VIOLATED  # only a profile's buffer is read selectively
        if attribute.attribute_id == 1:
            return Data(DataType.OCTET_STRING, obj.logical_name)
        if obj.class_id is CosemClass.PROFILE_GENERIC:
            return self._profile(obj, attribute.attribute_id, access)
        value = self._value(obj, attribute.attribute_id)
        return ap.DataAccessResult.TEMPORARY_FAILURE if value is None else value

    def _value(self, obj: CosemObject, attribute: int) -> Data | None:
        """Attribute 2 and up of an object, as the model has it now (None: no value to give, e.g. not a number)."""
        meter = self.meter
        setup = _SETUP_READERS.get(obj.class_id)
        if setup is not None:
            return setup(self, obj, attribute)
        if obj.logical_name == LOGICAL_DEVICE_NAME:
            return Data(DataType.OCTET_STRING, f"KAM{serial_number(meter.id):08d}".encode())
        if obj.logical_name == CLOCK:
            return self._clock(attribute)
        if obj.logical_name == CURRENT_ASSOCIATION:
            return self._association(attribute)
        if obj.field is not None:
            return self._field_now(obj)
        assert obj.key is not None
        if obj.class_id is CosemClass.DISCONNECT_CONTROL:
            return self._disconnect_control(attribute)
        value = self._base_values().get(obj.key)
        if obj.class_id is CosemClass.DATA:
            if obj.options:
                return Data(DataType.ENUM, obj.options.index(str(value))) if value in obj.options else None
            if isinstance(value, str):  # a text: the firmware's version and checksum
                return _cell(obj, value)
            return Data(obj.data_type, int(value)) if isinstance(value, int | float) and math.isfinite(value) else None
        # Register / Extended Register
        if attribute == 3:
            return Data.structure(Data(DataType.INTEGER, obj.scaler), Data(DataType.ENUM, int(obj.unit)))
        if attribute == 2:
            if not isinstance(value, int | float) or not math.isfinite(value):
                return None
            return _integer(obj.data_type, obj.count(value))
        if attribute == 4:  # status: none kept
            return Data(DataType.NULL_DATA)
        assert obj.time_key is not None  # attribute 5: capture time
        return self._date_time(self._base_values().get(obj.time_key))

    def _base_values(self) -> dict[str, float | int | str | None]:
        """The model's values, built once per request: a GET-with-list of a whole meter asks for ~120 of them."""
        if self._base is None:
            self._base = self.meter.base_values()
        return self._base

    def _date_time(self, iso: object) -> Data:
        """An ISO time of the model (None before the first peak) as a COSEM date-time, with the meter's deviation."""
        if not isinstance(iso, str):
            return Data(DataType.OCTET_STRING, CosemDateTime(None, None, None, None, None, None, None,
                                                             None, None).to_bytes())
        when = datetime.fromisoformat(iso)
        return self._cosem_time(when.timestamp())

    def _cosem_time(self, t: float) -> Data:
        rtc = self.meter.rtc
        wall = rtc.wall_time(t)
        # DLMS deviation: minutes from local time to UTC (UTC = local + deviation), so CET is -60.
        return Data.date_time(CosemDateTime.from_datetime(wall.replace(tzinfo=None), hundredths=0,
                                                          deviation=-rtc.utc_offset(t) // 60,
                                                          clock_status=0x80 if rtc.dst_active(t) else 0x00))

    def _clock(self, attribute: int) -> Data | None:
        rtc, t = self.meter.rtc, self.meter.t
        return {
            2: lambda: self._cosem_time(t),
            3: lambda: Data(DataType.LONG, -rtc.standard_offset // 60),  # time_zone: as the deviation, standard time
            4: lambda: Data(DataType.UNSIGNED, 0x80 if rtc.dst_active(t) else 0x00),  # status
            5: lambda: self._dst_bound(0),  # daylight_savings_begin
            6: lambda: self._dst_bound(1),  # daylight_savings_end
            7: lambda: Data(DataType.INTEGER, 60 if rtc.eu_dst else 0),  # daylight_savings_deviation
            8: lambda: Data(DataType.BOOLEAN, rtc.eu_dst),  # daylight_savings_enabled
            9: lambda: Data(DataType.ENUM, 1),  # clock_base: internal crystal
        }[attribute]()

    def _dst_bound(self, which: int) -> Data:
        """The EU rule (last Sunday of March and of October, 01:00 UTC) as a recurring date-time: any year, the
        last Sunday (day 0xFE, weekday 7), at the local time of the switch."""
        rtc = self.meter.rtc
        if not rtc.eu_dst:
            return Data.date_time(CosemDateTime(None, None, None, None, None, None, None, None, None))
        month, offset = ((3, rtc.standard_offset), (10, rtc.standard_offset + 3600))[which]
        local = datetime(2000, 1, 1, 1, tzinfo=UTC) + timedelta(seconds=offset)
        raw = bytearray(CosemDateTime(2000, month, 1, 7, local.hour, 0, 0, 0, -offset // 60).to_bytes())
        raw[0:2] = b"\xff\xff"  # any year
        raw[3] = 0xFE  # the last day of the month that is a Sunday
        return Data(DataType.OCTET_STRING, bytes(raw))

    def _association(self, attribute: int) -> Data | None:
        if attribute == 2:
            return Data.array(*(self._list_entry(o) for o in self._objects.values()))
        if attribute == 3:  # associated_partners_id: client SAP, server SAP
            return Data.structure(Data(DataType.INTEGER, self.client), Data(DataType.LONG_UNSIGNED, LOGICAL_DEVICE))
        if attribute == 4:  # application_context_name: LN, no ciphering
            return Data(DataType.OCTET_STRING, bytes((0x60, 0x85, 0x74, 0x05, 0x08, 0x01, 0x01)))
        if attribute == 5:  # xdlms_context_info
            return Data.structure(
                Data(DataType.BIT_STRING, tuple(bool(CONFORMANCE & (1 << (23 - n))) for n in range(24))),
                Data(DataType.LONG_UNSIGNED, SERVER_MAX_PDU), Data(DataType.LONG_UNSIGNED, SERVER_MAX_PDU),
                Data(DataType.UNSIGNED, 6), Data(DataType.INTEGER, 0), Data(DataType.OCTET_STRING, b""))
        if attribute == 6:  # authentication_mechanism_name
            mechanism = 0 if self.client == PUBLIC_CLIENT else 1
            return Data(DataType.OCTET_STRING, bytes((0x60, 0x85, 0x74, 0x05, 0x08, 0x02, mechanism)))
        if attribute == 7:  # secret: never read
            return None
        return Data(DataType.ENUM, 2 if self.associated else 0)  # association_status

    def _list_entry(self, obj: CosemObject) -> Data:
        """object_list element: class, version, logical name and this client's access rights."""
        management = self.client == MANAGEMENT_CLIENT
        attributes = tuple(Data.structure(Data(DataType.INTEGER, a),
                                          Data(DataType.ENUM, self._access(obj, a, management)),
                                          Data(DataType.NULL_DATA)) for a in obj.attributes)
        methods = tuple(Data.structure(Data(DataType.INTEGER, m), Data(DataType.ENUM, 1 if management else 0))
                        for m in obj.methods)
        return Data.structure(Data(DataType.LONG_UNSIGNED, int(obj.class_id)), Data(DataType.UNSIGNED, obj.version),
                              Data(DataType.OCTET_STRING, obj.logical_name),
                              Data.structure(Data.array(*attributes), Data.array(*methods)))

    @staticmethod
    def _access(obj: CosemObject, attribute: int, management: bool) -> int:
        """attribute_access: 0 none, 1 read, 3 read and write: what `_WRITERS` writes, for the management client
        (the association's secret is never readable)."""
        if obj.logical_name == CURRENT_ASSOCIATION and attribute == 7:
            return 0
        return 3 if management and _writer(obj, attribute) is not None else 1

    def _disconnect_control(self, attribute: int) -> Data:
        """§5.6: control_state 0 disconnected, 1 connected, 2 ready for reconnection; output_state TRUE when
        connected; control_mode 4 (remote reconnection releases, the button reconnects) or 2 (remote reconnects)."""
        breaker = self.meter.breaker
        state = {"disconnected": 0, "connected": 1, "ready_for_reconnection": 2}[breaker.state]
        return {
            2: lambda: Data(DataType.BOOLEAN, state == 1),
            3: lambda: Data(DataType.ENUM, state),
            4: lambda: Data(DataType.ENUM, 4 if breaker.push_button_requires_release else 2),
        }[attribute]()

    # --- Profile Generic -----------------------------------------------------------------------------------
    def _profile(self, obj: CosemObject, attribute: int,
                 access: ap.AccessSelection | None) -> Data | ap.DataAccessResult:
        """Attributes 2–8 of a logger's Profile Generic, from the logger as the meter has it now."""
        assert obj.logger is not None
        logger = LOGGERS_BY_NAME[obj.logger]
        captures, period, depth = _SETUPS[logger.kind](self.meter, logger)
        columns = capture_objects(self._object_list, logger.name, captures)
        answers: dict[int, Callable[[], Data | ap.DataAccessResult]] = {
            2: lambda: self._buffer(logger, columns, access),
            3: lambda: Data.array(*(_definition(c) for c in columns)),
            4: lambda: Data(DataType.DOUBLE_LONG_UNSIGNED, period),
            5: lambda: Data(DataType.ENUM, _FIFO),
            6: lambda: _NO_SORT_OBJECT,
            7: lambda: Data(DataType.DOUBLE_LONG_UNSIGNED, len(log_of(self.meter, logger)[0])),
            8: lambda: Data(DataType.DOUBLE_LONG_UNSIGNED, depth),
        }
        return answers[attribute]()

    def _buffer(self, logger: Logger, columns: tuple[CaptureObject, ...],
                access: ap.AccessSelection | None) -> Data | ap.DataAccessResult:
        try:
            selection = _selection(access, columns, self.meter.rtc.standard_offset)
        except Refusal as refusal:
            log.info("client %d: %s buffer refused (%s): %s", self.client, logger.name, refusal.result.name.lower(),
                     refusal)
            return refusal.result
        cells = [self._cell_reader(columns[i]) for i in selection.columns]
        fields_of = _ENTRY_FIELDS[logger.kind]
        registers = {r.obis: r for r in self.meter.registers}
        rows = []
        for entry in selection.rows(log_of(self.meter, logger)[0].entries()):
            fields = fields_of(entry, registers)
            rows.append(Data.structure(*(cell(entry, fields) for cell in cells)))
        return Data.array(*rows)

    def _cell_reader(self, column: CaptureObject) -> Callable[[Any, Mapping[str, object]], Data]:
        """How one column's cell is read from an entry (and its fields, `_ENTRY_FIELDS`)."""
        obj = self._objects[column.logical_name]
        if column == CLOCK_CAPTURE:
            return lambda entry, _: self._standard_time(entry.t)
        if column.attribute == 5:  # an Extended Register's capture time: a peak's time stamp, as attribute 5 gives it
            return lambda _, fields: self._date_time(fields.get(obj.time_key or ""))
        name = obj.field or obj.key or ""
        return lambda _, fields: _cell(obj, fields.get(name))

    def _standard_time(self, t: int) -> Data:
        """An entry's time stamp: local standard time, as the loggers keep it (§4), with the standard offset as its
        deviation and no daylight-saving flag."""
        rtc = self.meter.rtc
        return Data.date_time(CosemDateTime.from_datetime(rtc.standard_time(t).replace(tzinfo=None), hundredths=0,
                                                          deviation=-rtc.standard_offset // 60))

    def _field_now(self, obj: CosemObject) -> Data:
        """A logger's field object: the load profile's flags so far in the period in progress; an event logger's
        newest event (an empty string before the first)."""
        assert obj.logger is not None and obj.field is not None
        if obj.field == "status":
            return _cell(obj, self.meter.load_profile.pending_status)
        logger = LOGGERS_BY_NAME[obj.logger]
        newest = log_of(self.meter, logger)[0].last()
        fields = _ENTRY_FIELDS[logger.kind](newest, {}) if newest is not None else {}
        return _cell(obj, fields.get(obj.field, ""))

    # --- the meter's setup: tariff calendar, security, HAN push ------------------------------------------
    def _active_calendar(self) -> CosemCalendar:
        tariffs = self.meter.tariffs
        return calendar_of(tariffs.calendar, tariffs.plan)

    def _scheduled_calendar(self) -> ScheduledChange | None:
        """The meter's scheduled change when it is a calendar (set by any association), with its time."""
        scheduled = self.meter.scheduled
        return scheduled if scheduled is not None and "tariff_calendar" in scheduled.changes else None

    def _passive_calendar(self) -> CosemCalendar:
        """The passive calendar: as this association is writing it, else the one the meter has scheduled, else
        the active one."""
        if self._passive is not None:
            return self._passive
        scheduled = self._scheduled_calendar()
        if scheduled is None:
            return self._active_calendar()
        return calendar_of(TariffCalendar.model_validate(scheduled.changes["tariff_calendar"]), 1)

    def _activity_calendar(self, obj: CosemObject, attribute: int) -> Data:
        """Attributes 2–5 the calendar the meter runs (its active plan), 6–9 the passive one (`_passive_calendar`),
        10 when the meter activates it (never: nothing scheduled)."""
        if attribute == 10:
            scheduled = self._scheduled_calendar()
            return Data(DataType.OCTET_STRING, _NEVER if scheduled is None else self._cosem_time(scheduled.at).value)
        calendar = self._active_calendar() if attribute <= 5 else self._passive_calendar()
        part = CALENDAR_PARTS[(attribute - 2) % len(CALENDAR_PARTS)]
        return CALENDAR_CODECS[part][0](getattr(calendar, part))

    def _special_days(self, obj: CosemObject, attribute: int) -> Data:
        tariffs = self.meter.tariffs
        return special_days_of(tariffs.calendar, tariffs.plan)

    def _security_setup(self, obj: CosemObject, attribute: int) -> Data:
        """Suite 0 (AES-GCM-128, §10.2); the policy and the client's title are the current association's: every
        APDU authenticated and encrypted under HLS-GMAC, nothing otherwise. No attribute holds a key."""
        hls = self.ciphered
        return {2: Data(DataType.ENUM, _AUTHENTICATED_AND_ENCRYPTED if hls else 0),
                3: Data(DataType.ENUM, 0),
                4: Data(DataType.OCTET_STRING, self._client_title if hls else b""),
                5: Data(DataType.OCTET_STRING, self.security.title)}[attribute]

    def _scripts(self, obj: CosemObject, attribute: int) -> Data:
        """The tariffication Script Table's scripts: script n (1 … the tariffs the meter has registers for) one
        action, write attribute 2 of the active tariff's Data object with n (service 1 = write attribute)."""
        tariff = logical_name(REGISTERS_BY_KEY["tariff"].logical_name)
        return Data.array(*(Data.structure(Data(DataType.LONG_UNSIGNED, n), Data.array(Data.structure(
            Data(DataType.ENUM, 1), Data(DataType.LONG_UNSIGNED, CosemClass.DATA), Data(DataType.OCTET_STRING, tariff),
            Data(DataType.INTEGER, 2), Data(DataType.UNSIGNED, n))))
            for n in range(1, self.meter.tariffs.tariff_count + 1)))

    def _push_setup(self, obj: CosemObject, attribute: int) -> Data:
        assert obj.push is not None
        if attribute == 2:
            return Data.array(*(_definition(c) for c in push_objects(self._object_list, obj.push)))
        return _PUSH_FIXED[attribute]

    def _write_passive(self, part: str, value: Data) -> None:
        """One part of the passive calendar, checked for its shape only: whether the whole makes a calendar the
        meter takes is for the activation (or the activation time) to say (the parts are written one SET at a
        time). It is this association's until then; a calendar already scheduled stays scheduled as it was."""
        parsed = CALENDAR_CODECS[part][1](value)
        self._passive = replace(self._passive_calendar(), **{part: parsed})

    def _set_activation_time(self, value: Data) -> None:
        """activate_passive_calendar_time: a time not after the meter's activates the passive calendar now; a later
        one schedules it (`Meter.schedule_change`: checked now as configure checks it, carried out by the meter at
        that minute, connected or not, and kept by the meter for every association to read); one with no field
        given ("never") cancels a scheduled calendar's activation (it stays this association's passive one). A
        wildcard time (every year, every day …) is refused: the meter schedules one activation."""
        when = date_time_of(value, "activate_passive_calendar_time")
        fields = (when.year, when.month, when.day, when.hour, when.minute, when.second)
        if all(f is None for f in fields):
            if self._scheduled_calendar() is not None:
                self._passive = self._passive_calendar()  # still the passive calendar, with no time to activate
                self.meter.scheduled = None
                log.info("client %d: scheduled calendar cancelled", self.client)
                self.on_change()
            return
        local = when.to_datetime()
        if local is None:
            raise Refusal(ap.DataAccessResult.OTHER_REASON, "activate_passive_calendar_time: a recurring activation "
                           "is not modelled; give every date and time field, or none (never)")
        at = self._instant(local, when.deviation)
        if at <= self.meter.t:
            self._activate()
            return
        setting = self._calendar_setting()
        try:
            self.meter.schedule_change(math.ceil(at), {"tariff_calendar": setting}, "dlms")
        except ValueError as exc:
            raise Refusal(ap.DataAccessResult.OTHER_REASON, f"configure refused: {reason_of(exc)}") from None
        log.info("client %d: passive calendar scheduled for %s", self.client, self.meter.rtc.iso(math.ceil(at)))
        self._passive = None  # the meter holds it now
        self.on_change()

    def _calendar_setting(self) -> dict[str, Any]:
        return tariff_calendar_setting(self._passive_calendar(), self.meter.settings.calendar)

    def _activate_passive(self, method_id: int, parameters: Data | None) -> ap.ActionResult:
        """activate_passive_calendar (method 1)."""
        try:
            self._activate()
        except Refusal as refusal:
            log.info("client %d: activate_passive_calendar refused (%s): %s", self.client,
                     refusal.result.name.lower(), refusal)
            return ap.ActionResult[refusal.result.name]
        return ap.ActionResult.SUCCESS

    def _activate(self) -> None:
        """The passive calendar made the meter's as `tariff_calendar`, by the meter's `reconfigure` (what MQTT
        `configure` carries out): what configure refuses is refused here with its message, and a refused calendar
        leaves the meter as it was. Activating a scheduled calendar carries it out now."""
        if self._passive is None and self._scheduled_calendar() is None:
            return  # nothing written or scheduled: the passive calendar is the active one
        setting = {"tariff_calendar": self._calendar_setting()}
        try:
            self.meter.reconfigure(setting)
        except (MeterRefused, ValueError) as exc:
            raise Refusal(ap.DataAccessResult.OTHER_REASON, f"configure refused: {reason_of(exc)}") from None
        log.info("client %d: passive calendar activated", self.client)
        if self._passive is None:
            self.meter.scheduled = None  # it was the scheduled one
        self._passive = None
        self._load_objects()  # T5–T8 have registers when the calendar names them
        self.on_change()

    # --- SET -----------------------------------------------------------------------------------------------
    def _set(self, request: ap.SetRequestNormal) -> bytes:
        self._blocks = None
        return ap.SetResponseNormal(result=self._write(request), invoke=request.invoke).to_bytes()

    def _write(self, request: ap.SetRequestNormal) -> ap.DataAccessResult:
        attribute = request.attribute
        obj = self._objects.get(attribute.logical_name)
        if obj is None or attribute.attribute_id not in obj.attributes:
            return ap.DataAccessResult.OBJECT_UNDEFINED
        if attribute.class_id != obj.class_id:
            return ap.DataAccessResult.OBJECT_CLASS_INCONSISTENT
        writer = _writer(obj, attribute.attribute_id)
        if self.client != MANAGEMENT_CLIENT or writer is None:  # the public client, legal data, what is read-only
            return ap.DataAccessResult.READ_WRITE_DENIED
        try:
            writer(self, request.value)
        except Refusal as refusal:
            log.info("client %d: SET of %d/%s/%d refused (%s): %s", self.client, obj.class_id,
                     logical_name_text(obj.logical_name), attribute.attribute_id, refusal.result.name.lower(), refusal)
            return refusal.result
        return ap.DataAccessResult.SUCCESS

    def _set_clock(self, value: Data) -> None:
        """The clock's time (logged as the MQTT `time` command is)."""
        when = date_time_of(value, "time")
        local = when.to_datetime()
        if local is None:
            raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, "time: a date-time with every field given")
        self.meter.set_time(self._instant(local, when.deviation), source="dlms")
        self.on_change()

    def _set_tariff(self, value: Data) -> None:
        """The active tariff's Data object (0.0.96.14.0.255) written: what the MQTT `tariff` command carries out
        (`Meter.set_tariff`, which checks the tariff against the meter's configuration), 1–8 forcing that tariff, 0
        following the calendar again (`auto`: COSEM has no word for it)."""
        if value.type not in INTEGER_TYPES or not isinstance(value.value, int) or isinstance(value.value, bool):
            raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, "tariff: an unsigned integer, 0 (auto) or 1–8")
        try:
            self.meter.set_tariff(value.value or None)
        except (MeterRefused, ValueError) as exc:
            raise Refusal(ap.DataAccessResult.OTHER_REASON, f"tariff refused: {reason_of(exc)}") from None
        self.on_change()

    def _instant(self, local: datetime, deviation: int | None) -> float:
        """The instant a date-time names: with its deviation (UTC = local + deviation), or else as the meter's
        own local time then."""
        if deviation is not None and deviation != _UNSPECIFIED_DEVIATION:
            return (local.replace(tzinfo=UTC) + timedelta(minutes=deviation)).timestamp()
        return self.meter.rtc.from_wall(local.replace(tzinfo=UTC).timestamp())

    # --- ACTION --------------------------------------------------------------------------------------------
    def _action(self, request: ap.ActionRequestNormal) -> bytes:
        self._blocks = None
        return ap.ActionResponseNormal(result=self._operate(request.method, request.parameters),
                                       invoke=request.invoke).to_bytes()

    def _operate(self, method: ap.MethodDescriptor, parameters: Data | None) -> ap.ActionResult:
        obj = self._objects.get(method.logical_name)
        if obj is None or method.method_id not in obj.methods:
            return ap.ActionResult.OBJECT_UNDEFINED
        if method.class_id != obj.class_id:
            return ap.ActionResult.OBJECT_CLASS_INCONSISTENT
        if self.client != MANAGEMENT_CLIENT:
            return ap.ActionResult.READ_WRITE_DENIED
        operation = _OPERATIONS.get(obj.class_id)
        if operation is None:  # reply_to_HLS_authentication once the association stands: nothing left to prove
            return ap.ActionResult.OTHER_REASON
        return operation(self, method.method_id, parameters)

    def _execute_script(self, method_id: int, parameters: Data | None) -> ap.ActionResult:
        """execute (method 1) of the tariffication Script Table: script n runs its action, the write of n to the
        active tariff (`_set_tariff`: the meter's own check, as the MQTT `tariff` command's; it holds until `auto`, as a
        forced tariff does); a script the table does not hold is `object-unavailable`."""
        if parameters is None or parameters.type is not DataType.LONG_UNSIGNED or not isinstance(parameters.value, int):
            return ap.ActionResult.TYPE_UNMATCHED
        script = parameters.value
        if not 1 <= script <= self.meter.tariffs.tariff_count:
            log.info("client %d: script %d is not in the tariffication script table", self.client, script)
            return ap.ActionResult.OBJECT_UNAVAILABLE
        try:
            self._set_tariff(Data(DataType.UNSIGNED, script))
        except Refusal as refusal:
            log.info("client %d: script %d refused: %s", self.client, script, refusal)
            return ap.ActionResult[refusal.result.name]
        return ap.ActionResult.SUCCESS

    def _operate_breaker(self, method_id: int, parameters: Data | None) -> ap.ActionResult:
        # remote_disconnect (1); remote_reconnect (2): a release where the button must reconnect (§5.6)
        breaker = self.meter.breaker
        action: Action = "disconnect" if method_id == 1 else (
            "release" if breaker.push_button_requires_release else "connect")
        try:
            self.meter.breaker_command(action)
        except MeterRefused as exc:
            log.info("client %d: %s refused: %s", self.client, action, exc)
            return ap.ActionResult.TEMPORARY_FAILURE
        self.on_change()
        return ap.ActionResult.SUCCESS


# --- Profile Generic: the loggers' setups, their entries and selective access -----------------------------------

_Setup = tuple[tuple[str, ...], int, int]  # the register keys captured, capture_period (s), profile_entries
# The debiting loggers: their captured registers (the meter's own declarations) and capture period: the monthly one is
# written at debiting stops (schedule or command, §4.2), debiting logger 2 daily or weekly by Z25 (§4.3; monthly has
# no fixed period: 0, as for a profile captured on events).
_DEBITING: dict[str, tuple[tuple[str, ...], Callable[[Meter], int]]] = {
    BILLING.name: (BILLING_KEYS, lambda meter: 0),
    DEBITING_LOGGER_2.name: (LOGGER2_KEYS, lambda meter: {1: 86400, 2: 7 * 86400, 3: 0}[meter.settings.z25]),
}
# Per kind of logger, what the meter's configuration says of it now.
_SETUPS: dict[LogKind, Callable[[Meter, Logger], _Setup]] = {
    "load_profile": lambda meter, _: (tuple(REGISTERS_BY_OBIS[c].key for c in meter.load_profile.channels),
                                      meter.load_profile.period_s, meter.load_profile.capacity),
    "analysis": lambda meter, _: (meter.analysis.channels, meter.analysis.interval_s, meter.analysis.capacity),
    "debiting": lambda meter, lg: (_DEBITING[lg.name][0], _DEBITING[lg.name][1](meter), lg.fixed_capacity),
    "event": lambda _, lg: ((), 0, lg.fixed_capacity),  # captured on events
}


def _in_base_units(values: Mapping[str, object], registers: Mapping[str, Register]) -> dict[str, object]:
    """A logger's values by OBIS code in published units (kWh, h …, as the load profile and the snapshots keep
    them) → by register key in the model's base units (what `CosemObject.count` takes); times stay ISO strings."""
    out: dict[str, object] = {}
    for code, value in values.items():
        register = registers.get(code)
        if register is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = value * register.kind.spec.base_per_unit
        out[register.key] = value
    return out


# Per kind of logger, an entry's captured values by register key (base units) and its fields by name.
_ENTRY_FIELDS: dict[LogKind, Callable[[Any, Mapping[str, Register]], Mapping[str, object]]] = {
    "load_profile": lambda e, registers: {**_in_base_units(e.values, registers), "status": e.status},
    "debiting": lambda e, registers: _in_base_units(e.registers, registers),
    "analysis": lambda e, _: e.values,  # the model's values and means, in base units
    "event": lambda e, _: {"type": e.type, "detail": json.dumps(e.detail, separators=(",", ":"), sort_keys=True)},
}
_FIFO = 1  # sort_method: entries in the order they were written (the loggers are rings)
_NO_SORT_OBJECT = Data.structure(Data(DataType.LONG_UNSIGNED, 0), Data(DataType.OCTET_STRING, bytes(6)),
                                 Data(DataType.INTEGER, 0), Data(DataType.LONG_UNSIGNED, 0))  # fifo needs none
_BOUNDS = {DataType.DOUBLE_LONG: (-(2**31), 2**31 - 1), DataType.DOUBLE_LONG_UNSIGNED: (0, 2**32 - 1),
           DataType.LONG_UNSIGNED: (0, 0xFFFF), DataType.UNSIGNED: (0, 0xFF)}
_STRINGS = frozenset({DataType.VISIBLE_STRING, DataType.UTF8_STRING})


def _integer(kind: DataType, value: int) -> Data:
    """An integer of the object's type, held at the type's bounds (a count past them is the most it can say)."""
    lo, hi = _BOUNDS[kind]
    return Data(kind, min(max(value, lo), hi))


def _cell(obj: CosemObject, value: object) -> Data:
    """A captured value as the object's attribute 2 gives it: a Register's count, a Data object's number, state or
    text; null-data where the entry has none (a register the snapshot lacks, an analysis channel with no mean)."""
    if isinstance(value, str):
        if obj.options:
            return Data(DataType.ENUM, obj.options.index(value)) if value in obj.options else Data(DataType.NULL_DATA)
        return Data(obj.data_type, value) if obj.data_type in _STRINGS else Data(DataType.NULL_DATA)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return Data(DataType.NULL_DATA)
    if obj.class_id in (CosemClass.REGISTER, CosemClass.EXTENDED_REGISTER):
        return _integer(obj.data_type, obj.count(value))
    return _integer(obj.data_type, round(value)) if obj.data_type in _BOUNDS else Data(DataType.NULL_DATA)


def _definition(column: CaptureObject) -> Data:
    """capture_object_definition: {class_id, logical_name, attribute_index, data_index}."""
    return Data.structure(Data(DataType.LONG_UNSIGNED, int(column.class_id)),
                          Data(DataType.OCTET_STRING, column.logical_name),
                          Data(DataType.INTEGER, column.attribute), Data(DataType.LONG_UNSIGNED, column.data_index))


@dataclass(frozen=True, slots=True)
class _Selection:
    """What a buffer read asks for: its columns (indexes into the capture objects, in the order asked), the
    entries `first`…`last` (1 = the oldest; `last` None = the newest) and of those the ones with since ≤ t ≤ until."""

    columns: tuple[int, ...]
    first: int = 1
    last: int | None = None
    since: float = -math.inf
    until: float = math.inf

    def rows(self, entries: Sequence[Any]) -> list[Any]:
        return [e for e in entries[self.first - 1:self.last] if self.since <= e.t <= self.until]


def _selection(access: ap.AccessSelection | None, columns: tuple[CaptureObject, ...],
               standard_offset: int) -> _Selection:
    """The selection a Selective-Access-Descriptor makes; raises Refusal when it makes none."""
    if access is None:
        return _Selection(tuple(range(len(columns))))
    parse = _SELECTORS.get(access.selector)
    if parse is None:
        raise Refusal(ap.DataAccessResult.SCOPE_OF_ACCESS_VIOLATED,
                       f"access selector {access.selector}: 1 (range) or 2 (entry)")
    return parse(access.parameters, columns, standard_offset)


def _by_range(parameters: Data, columns: tuple[CaptureObject, ...], standard_offset: int) -> _Selection:
    """range_descriptor {restricting_object, from_value, to_value, selected_values}: the entries whose time lies in
    [from_value, to_value], both ends included; a date-time without deviation is the loggers' standard time."""
    restricting, start, end, selected = structure_of(parameters, 4, "range_descriptor")
    if columns[_column(restricting, columns, "restricting_object")] != CLOCK_CAPTURE:
        raise Refusal(ap.DataAccessResult.OTHER_REASON, "restricting_object: the buffer is kept by its clock only")
    since = _range_instant(start, "from_value", standard_offset)
    until = _range_instant(end, "to_value", standard_offset)
    if selected.type is not DataType.ARRAY or not isinstance(selected.value, tuple):
        raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, "selected_values: an array of capture object definitions")
    chosen = tuple(_column(d, columns, "selected_values") for d in items_of(selected, "selected_values"))
    return _Selection(chosen or tuple(range(len(columns))), since=since, until=until)


def _by_entry(parameters: Data, columns: tuple[CaptureObject, ...], standard_offset: int) -> _Selection:
    """entry_descriptor {from_entry, to_entry, from_selected_value, to_selected_value}: entries and columns numbered
    from 1, a `to` of 0 meaning the last."""
    items = structure_of(parameters, 4, "entry_descriptor")
    first, last, first_column, last_column = (
        unsigned_of(d, name, high) for d, (name, high) in zip(items, _ENTRY_FIELDS_RANGES, strict=True))
    scope = ap.DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
    if first == 0 or (last and last < first):
        raise Refusal(scope, f"entries {first}–{last}: from 1, and to 0 (the last) or not below from")
    last_column = last_column or len(columns)
    if not 1 <= first_column <= last_column <= len(columns):
        raise Refusal(scope, f"columns {first_column}–{last_column}: the profile has {len(columns)}")
    return _Selection(tuple(range(first_column - 1, last_column)), first=first, last=last or None)


_ENTRY_FIELDS_RANGES = (("from_entry", 2**32 - 1), ("to_entry", 2**32 - 1), ("from_selected_value", 0xFFFF),
                        ("to_selected_value", 0xFFFF))
_SELECTORS: dict[int, Callable[[Data, tuple[CaptureObject, ...], int], _Selection]] = {1: _by_range, 2: _by_entry}


def _column(definition: Data, columns: tuple[CaptureObject, ...], what: str) -> int:
    """The index of the capture object a capture_object_definition names."""
    class_id, name, attribute, data_index = structure_of(definition, 4, what)
    if name.type is not DataType.OCTET_STRING or not isinstance(name.value, bytes) or len(name.value) != 6:
        raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, f"{what}: a logical name of six bytes")
    wanted = (unsigned_of(class_id, f"{what} class_id", 0xFFFF), name.value,
              unsigned_of(attribute, f"{what} attribute_index", 127, -128),
              unsigned_of(data_index, f"{what} data_index", 0xFFFF))
    for i, c in enumerate(columns):
        if (int(c.class_id), c.logical_name, c.attribute, c.data_index) == wanted:
            return i
    raise Refusal(ap.DataAccessResult.SCOPE_OF_ACCESS_VIOLATED,
                   f"{what}: {wanted[0]}/{name.value.hex()}/{wanted[2]}/{wanted[3]}: not one of the profile's columns")


def _range_instant(data: Data, what: str, standard_offset: int) -> float:
    """A range bound: a date-time with every date and time field given → UTC seconds (deviation: UTC = local +
    deviation; none: local standard time, as the buffer is)."""
    when = date_time_of(data, what)
    local = when.to_datetime()
    if local is None:
        raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED,
                       f"{what}: {when.to_bytes().hex()} leaves a date or time field open")
    minutes = when.deviation if when.deviation is not None else -standard_offset // 60
    return (local - datetime(1970, 1, 1)).total_seconds() + minutes * 60  # no datetime overflow at year 9999


def _exception(state: ap.StateError, service: ap.ServiceError) -> bytes:
    return ap.ExceptionResponse(state_error=state, service_error=service).to_bytes()


_NEVER = CosemDateTime(None, None, None, None, None, None, None, None, None, 0xFF).to_bytes()
_AUTHENTICATED_AND_ENCRYPTED = 3  # Security Setup version 0 security_policy


# --- Push Setup: the HAN push (§10.4) ------------------------------------------------------------------------------

# send_destination_and_method: service 5 (HDLC) to client 21 (its SAP as text, the destination's printable form),
# A-XDR encoded xDLMS APDUs (message 0); the communication window always open (an empty array); no randomisation,
# retries or repetition delay.
_PUSH_FIXED = {
    3: Data.structure(Data(DataType.ENUM, 5), Data(DataType.OCTET_STRING, b"21"), Data(DataType.ENUM, 0)),
    4: Data.array(),
    5: Data(DataType.LONG_UNSIGNED, 0),
    6: Data(DataType.UNSIGNED, 0),
    7: Data(DataType.LONG_UNSIGNED, 0),
}


def _passive_writer(part: str) -> Callable[[DlmsAssociation, Data], None]:
    return lambda association, value: association._write_passive(part, value)


# What the management client may write: a SET of each goes to its writer, which raises Refusal for what it refuses.
_WRITERS: dict[tuple[CosemClass, int], Callable[[DlmsAssociation, Data], None]] = {
    (CosemClass.CLOCK, 2): DlmsAssociation._set_clock,
    **{(CosemClass.ACTIVITY_CALENDAR, 6 + i): _passive_writer(part) for i, part in enumerate(CALENDAR_PARTS)},
    (CosemClass.ACTIVITY_CALENDAR, 10): DlmsAssociation._set_activation_time,
}
# What the management client may write of a register's own Data object (attribute 2), by register key.
_KEY_WRITERS: dict[str, Callable[[DlmsAssociation, Data], None]] = {"tariff": DlmsAssociation._set_tariff}


def _writer(obj: CosemObject, attribute: int) -> Callable[[DlmsAssociation, Data], None] | None:
    if obj.class_id is CosemClass.DATA and attribute == 2 and obj.key is not None:
        return _KEY_WRITERS.get(obj.key)
    return _WRITERS.get((obj.class_id, attribute))


# What the management client may operate, by class (the method id as the ACTION names it).
_OPERATIONS: dict[CosemClass, Callable[[DlmsAssociation, int, Data | None], ap.ActionResult]] = {
    CosemClass.DISCONNECT_CONTROL: DlmsAssociation._operate_breaker,
    CosemClass.ACTIVITY_CALENDAR: DlmsAssociation._activate_passive,
    CosemClass.SCRIPT_TABLE: DlmsAssociation._execute_script,
    CosemClass.IMAGE_TRANSFER: image_transfer.act,  # meter_sim/modules/dlms_image_transfer.py
}
# The setup objects' attributes 2 and up, by class.
_SETUP_READERS: dict[CosemClass, Callable[[DlmsAssociation, CosemObject, int], Data]] = {
    CosemClass.ACTIVITY_CALENDAR: DlmsAssociation._activity_calendar,
    CosemClass.SPECIAL_DAYS_TABLE: DlmsAssociation._special_days,
    CosemClass.SECURITY_SETUP: DlmsAssociation._security_setup,
    CosemClass.PUSH_SETUP: DlmsAssociation._push_setup,
    CosemClass.SCRIPT_TABLE: DlmsAssociation._scripts,
    CosemClass.IMAGE_TRANSFER: lambda association, obj, attribute: image_transfer.read(association, attribute),
}


_SERVICES: dict[type, Callable[[DlmsAssociation, ap.Apdu], bytes]] = {
    ap.GetRequestNormal: DlmsAssociation._get,  # type: ignore[dict-item]
    ap.GetRequestNext: DlmsAssociation._get_next,  # type: ignore[dict-item]
    ap.GetRequestWithList: DlmsAssociation._get_list,  # type: ignore[dict-item]
    ap.SetRequestNormal: DlmsAssociation._set,  # type: ignore[dict-item]
    ap.ActionRequestNormal: DlmsAssociation._action,  # type: ignore[dict-item]
}


async def converse_wrapper(meter: Meter, reader: asyncio.StreamReader, write: Callable[[bytes], None],
                           on_change: Callable[[], None] = lambda: None,
                           security: ServerSecurity | None = None) -> None:
    """One TCP connection of the wrapper transport: a client's APDUs (source port = its SAP) to logical device 1,
    answered in order. A PDU to another logical device is not answered; a malformed header ends the connection
    (the stream has no marker to find the next PDU by). `security`: the meter's, shared by its connections (else
    the counters a client used are remembered for this connection only)."""
    if not meter.settings.type.supports_dlms_query:
        await reader.read()  # Variant 2: it listens, and says nothing
        return
    wire = WrapperReader(max_apdu=SERVER_MAX_PDU)
    associations: dict[int, DlmsAssociation] = {}
    while data := await reader.read(4096):
        try:
            pdus = wire.feed(data)
        except CodecError as exc:
            log.info("dlms wrapper: %s; closing the connection", exc)
            return
        for pdu in pdus:
            if pdu.destination != LOGICAL_DEVICE:
                log.debug("dlms wrapper: PDU for logical device %d ignored", pdu.destination)
                continue
            association = associations.get(pdu.source)
            if association is None:
                association = associations[pdu.source] = DlmsAssociation(meter, pdu.source, on_change, security)
            meter.update()
            write(encode_wrapper(LOGICAL_DEVICE, pdu.source, association.handle(pdu.apdu)))
