"""xDLMS and ACSE APDUs with logical-name referencing (IEC 62056-5-3, DLMS UA 1000-2 "Green Book"
§9 services and §11 ASN.1 module). Sans-IO: every APDU is a frozen dataclass with `to_bytes()` and
`from_bytes(apdu)`; `decode_apdu` picks the class from the tag. The meter simulator uses the
request decoders and response encoders, the gateway the other half, so both directions live here.

Two encodings meet in this module, as they do on the wire:

* ACSE (AARQ 60, AARE 61, RLRQ 62, RLRE 63) is BER (ISO/IEC 8650-1): tag, length, content, with
  the fields in any order. Fields a DLMS association never uses (called-/calling-AE-qualifier,
  AP/AE invocation identifiers, implementation-information, protocol-version) are accepted and
  dropped, because a server must not refuse a client for sending them; an unknown tag is refused.
* xDLMS (Initiate, GET C0/C4, SET C1/C5, ACTION C3/C7, EXCEPTION D8, confirmed-service-error 0E)
  is A-XDR: fixed order, one presence byte per OPTIONAL field, values as `omnipower.dlms.Data`.
  The conformance block inside Initiate is the one BER island (`5F 1F 04 00` + 3 bytes).

A ciphered Initiate (glo-initiateRequest 21 / glo-initiateResponse 28) is carried through as
`CipheredInitiate` without deciphering: that needs the keys and the peer's system title, which
belong to the association, not to the codec. General-glo-ciphering (DB) is `omnipower.dlms`'s job;
decode its plaintext here.

Only the service variants named in `decode_apdu`'s tables are implemented; any other choice (e.g.
set-request-with-first-datablock) raises UnknownTagError, so a server can answer it with an
ExceptionResponse(service-not-supported) instead of mis-parsing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import ClassVar, Generic, Protocol, Self, TypeAlias, TypeVar

from omnipower.dlms import Data, decode_data_prefix, encode_data, encode_length
from omnipower.errors import CodecError, EncodeError, LengthError, TruncatedError, UnknownTagError

__all__ = [
    "DEFAULT_INVOKE",
    "VAA_NAME_LN",
    "Aare",
    "Aarq",
    "AccessSelection",
    "AcseProviderDiagnostic",
    "AcseUserDiagnostic",
    "ActionRequestNormal",
    "ActionResponseNormal",
    "ActionResult",
    "Apdu",
    "ApplicationContext",
    "AssociationResult",
    "AttributeDescriptor",
    "AttributeWithSelection",
    "AuthenticationMechanism",
    "CipheredInitiate",
    "ConfirmedService",
    "ConfirmedServiceError",
    "Conformance",
    "DataAccessResult",
    "Diagnostic",
    "ExceptionResponse",
    "GetRequestNext",
    "GetRequestNormal",
    "GetRequestWithList",
    "GetResponseNormal",
    "GetResponseWithBlock",
    "GetResponseWithList",
    "InitiateError",
    "InitiateRequest",
    "InitiateResponse",
    "InvokeIdAndPriority",
    "MethodDescriptor",
    "ReleaseRequest",
    "ReleaseRequestReason",
    "ReleaseResponse",
    "ReleaseResponseReason",
    "ServiceError",
    "ServiceErrorClass",
    "SetRequestNormal",
    "SetResponseNormal",
    "StateError",
    "decode_apdu",
    "decode_result_list",
    "encode_apdu",
    "encode_result_list",
]


# --- enumerations (Green Book §11 names, lower-case-hyphenated there) ---------------------------------


class ApplicationContext(IntEnum):
    """Last arc of the application-context-name OID 2.16.756.5.8.1.x (`60 85 74 05 08 01 x`)."""

    LN = 1  # logical-name referencing, no ciphering
    SN = 2
    LN_CIPHERED = 3
    SN_CIPHERED = 4


class AuthenticationMechanism(IntEnum):
    """Last arc of the mechanism-name OID 2.16.756.5.8.2.x (`60 85 74 05 08 02 x`)."""

    LOWEST = 0  # no authentication; the mechanism-name is then normally absent
    LLS = 1  # low level security: a password in calling-authentication-value
    HLS = 2  # manufacturer specific
    HLS_MD5 = 3
    HLS_SHA1 = 4
    HLS_GMAC = 5
    HLS_SHA256 = 6
    HLS_ECDSA = 7


class AssociationResult(IntEnum):
    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class AcseUserDiagnostic(IntEnum):
    """result-source-diagnostic, acse-service-user [1] (what a DLMS server reports)."""

    NULL = 0
    NO_REASON_GIVEN = 1
    APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 2
    CALLING_AP_TITLE_NOT_RECOGNIZED = 3
    CALLING_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 4
    CALLING_AE_QUALIFIER_NOT_RECOGNIZED = 5
    CALLING_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 6
    CALLED_AP_TITLE_NOT_RECOGNIZED = 7
    CALLED_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 8
    CALLED_AE_QUALIFIER_NOT_RECOGNIZED = 9
    CALLED_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 10
    AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED = 11
    AUTHENTICATION_MECHANISM_NAME_REQUIRED = 12
    AUTHENTICATION_FAILURE = 13
    AUTHENTICATION_REQUIRED = 14


class AcseProviderDiagnostic(IntEnum):
    """result-source-diagnostic, acse-service-provider [2]."""

    NULL = 0
    NO_REASON_GIVEN = 1
    NO_COMMON_ACSE_VERSION = 2


class ReleaseRequestReason(IntEnum):
    NORMAL = 0
    URGENT = 1
    USER_DEFINED = 30


class ReleaseResponseReason(IntEnum):
    NORMAL = 0
    NOT_FINISHED = 1
    USER_DEFINED = 30


def _bit(number: int) -> int:
    """Value of ASN.1 BIT STRING bit `number` in the 24-bit conformance block read as a big-endian
    integer: ASN.1 numbers bits from the most significant bit of the first byte."""
    return 1 << (23 - number)


class Conformance(IntFlag):
    """The xDLMS conformance block (Green Book §9.4.6.1, BIT STRING (SIZE(24))), valued as the three
    bytes read big-endian, so `Conformance(int.from_bytes(raw, "big"))` decodes it."""

    RESERVED_ZERO = _bit(0)
    GENERAL_PROTECTION = _bit(1)
    GENERAL_BLOCK_TRANSFER = _bit(2)
    READ = _bit(3)  # SN referencing only
    WRITE = _bit(4)  # SN
    UNCONFIRMED_WRITE = _bit(5)  # SN
    DELTA_VALUE_ENCODING = _bit(6)
    RESERVED_SEVEN = _bit(7)
    ATTRIBUTE0_SUPPORTED_WITH_SET = _bit(8)
    PRIORITY_MGMT_SUPPORTED = _bit(9)
    ATTRIBUTE0_SUPPORTED_WITH_GET = _bit(10)
    BLOCK_TRANSFER_WITH_GET_OR_READ = _bit(11)
    BLOCK_TRANSFER_WITH_SET_OR_WRITE = _bit(12)
    BLOCK_TRANSFER_WITH_ACTION = _bit(13)
    MULTIPLE_REFERENCES = _bit(14)
    INFORMATION_REPORT = _bit(15)  # SN
    DATA_NOTIFICATION = _bit(16)
    ACCESS = _bit(17)
    PARAMETERIZED_ACCESS = _bit(18)  # SN
    GET = _bit(19)
    SET = _bit(20)
    SELECTIVE_ACCESS = _bit(21)
    EVENT_NOTIFICATION = _bit(22)
    ACTION = _bit(23)


class DataAccessResult(IntEnum):
    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_GET_ABORTED = 15
    NO_LONG_GET_IN_PROGRESS = 16
    LONG_SET_ABORTED = 17
    NO_LONG_SET_IN_PROGRESS = 18
    DATA_BLOCK_NUMBER_INVALID = 19
    OTHER_REASON = 250


class ActionResult(IntEnum):
    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_ACTION_ABORTED = 15
    NO_LONG_ACTION_IN_PROGRESS = 16
    OTHER_REASON = 250


class StateError(IntEnum):
    """EXCEPTION-Response state-error."""

    SERVICE_NOT_ALLOWED = 1
    SERVICE_UNKNOWN = 2


class ServiceError(IntEnum):
    """EXCEPTION-Response service-error; INVOCATION_COUNTER_ERROR carries the expected counter (u32)."""

    OPERATION_NOT_POSSIBLE = 1
    SERVICE_NOT_SUPPORTED = 2
    OTHER_REASON = 3
    PDU_TOO_LONG = 4
    DECIPHERING_ERROR = 5
    INVOCATION_COUNTER_ERROR = 6


class ConfirmedService(IntEnum):
    """ConfirmedServiceError: which service failed. LN servers use INITIATE_ERROR (refused AARQ)."""

    INITIATE_ERROR = 1
    GET_STATUS = 2
    GET_NAME_LIST = 3
    GET_VARIABLE_ATTRIBUTE = 4
    READ = 5
    WRITE = 6
    GET_DATA_SET_ATTRIBUTE = 7
    GET_TI_ATTRIBUTE = 8
    CHANGE_SCOPE = 9
    START = 10
    STOP = 11
    RESUME = 12
    MAKE_USABLE = 13
    INITIATE_LOAD = 14
    LOAD_SEGMENT = 15
    TERMINATE_LOAD = 16
    INITIATE_UPLOAD = 17
    UPLOAD_SEGMENT = 18
    TERMINATE_UPLOAD = 19


class ServiceErrorClass(IntEnum):
    """ConfirmedServiceError: the ServiceError CHOICE; the value within it is a small ENUMERATED."""

    APPLICATION_REFERENCE = 0
    HARDWARE_RESOURCE = 1
    VDE_STATE_ERROR = 2
    SERVICE = 3
    DEFINITION = 4
    ACCESS = 5
    INITIATE = 6
    LOAD_DATA_SET = 7
    CHANGE_SCOPE = 8
    TASK = 9
    OTHER = 10


class InitiateError(IntEnum):
    """Values of ServiceErrorClass.INITIATE: why the xDLMS context was refused."""

    OTHER = 0
    DLMS_VERSION_TOO_LOW = 1
    INCOMPATIBLE_CONFORMANCE = 2
    PDU_SIZE_TOO_SHORT = 3
    REFUSED_BY_THE_VDE_HANDLER = 4


_E = TypeVar("_E", bound=IntEnum)
_T = TypeVar("_T")


def _enum(kind: type[_E], value: int, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(f"{member.value} {member.name.lower()}" for member in kind)
        raise UnknownTagError(f"{what} {value} is not defined (allowed: {allowed})") from None


# --- reading and writing bytes ------------------------------------------------------------------


class _Reader:
    """A cursor over one APDU. Every read names its field, so a short or malformed APDU raises a
    CodecError saying what is wrong and where, never IndexError."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.buf)

    def take(self, count: int, what: str) -> bytes:
        left = len(self.buf) - self.pos
        if count > left:
            raise TruncatedError(f"{what} at offset {self.pos} needs {count} bytes, {left} left")
        raw = self.buf[self.pos : self.pos + count]
        self.pos += count
        return raw

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")

    def int8(self, what: str) -> int:
        return int.from_bytes(self.take(1, what), "big", signed=True)

    def boolean(self, what: str) -> bool:
        return self.uint(1, what) != 0  # A-XDR: 00 is FALSE, any other value TRUE

    def present(self, what: str) -> bool:
        """The presence byte of an A-XDR OPTIONAL or DEFAULT field."""
        flag = self.uint(1, f"{what} presence")
        if flag > 1:
            raise CodecError(f"{what} presence byte {flag:02X} at offset {self.pos - 1} (00 absent or 01 present)")
        return flag == 1

    def axdr_length(self, what: str) -> int:
        first = self.uint(1, f"{what} length")
        if first < 0x80:
            return first
        size = first & 0x7F
        if not 1 <= size <= 4:
            raise LengthError(f"{what} length form {first:02X} at offset {self.pos - 1} (1 to 4 length bytes allowed)")
        return self.uint(size, f"{what} length")

    def data(self) -> Data:
        value, self.pos = decode_data_prefix(self.buf, self.pos)
        return value

    def end(self, what: str) -> None:
        if self.pos != len(self.buf):
            raise LengthError(f"{len(self.buf) - self.pos} bytes after the {what}")


def _uint(value: int, size: int, what: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << (8 * size):
        raise EncodeError(f"{what} {value!r} is not an unsigned {8 * size}-bit integer")
    return value.to_bytes(size, "big")


def _int8(value: int, what: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not -128 <= value <= 127:
        raise EncodeError(f"{what} {value!r} is not an Integer8 (-128..127)")
    return value.to_bytes(1, "big", signed=True)


def _member(value: object, kind: type[_E], what: str) -> int:
    """The wire value of an enum field, refusing ints the enum does not define."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in {m.value for m in kind}:
        raise EncodeError(f"{what} {value!r} is not a {kind.__name__}")
    return int(value)


# --- shared xDLMS parts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvokeIdAndPriority:
    """Invoke-Id-And-Priority, one byte: bits 0-3 invoke-id, bit 6 service-class (1 = confirmed),
    bit 7 priority (1 = high). Bits 4-5 are reserved: sent as 0, dropped when received. A server
    echoes the request's value in its response."""

    invoke_id: int = 1
    confirmed: bool = True
    high_priority: bool = True

    def to_byte(self) -> int:
        if isinstance(self.invoke_id, bool) or not isinstance(self.invoke_id, int) or not 0 <= self.invoke_id <= 15:
            raise EncodeError(f"invoke-id {self.invoke_id!r} is not 0..15")
        return self.invoke_id | (0x40 if self.confirmed else 0) | (0x80 if self.high_priority else 0)

    @classmethod
    def from_byte(cls, value: int) -> InvokeIdAndPriority:
        return cls(value & 0x0F, bool(value & 0x40), bool(value & 0x80))


DEFAULT_INVOKE = InvokeIdAndPriority()


def _read_descriptor(r: _Reader, member: str) -> tuple[int, bytes, int]:
    class_id = r.uint(2, "class-id")
    logical_name = r.take(6, "logical name")
    return class_id, logical_name, r.int8(member)


def _descriptor_bytes(class_id: int, logical_name: bytes, member_id: int, member: str) -> bytes:
    if not isinstance(logical_name, bytes) or len(logical_name) != 6:
        raise EncodeError(f"logical name {logical_name!r} is not 6 bytes")
    return _uint(class_id, 2, "class-id") + logical_name + _int8(member_id, member)


@dataclass(frozen=True, slots=True)
class AttributeDescriptor:
    """Cosem-Attribute-Descriptor: class-id (u16), logical name (6-byte OBIS code), attribute-id
    (Integer8: negative ids are manufacturer specific)."""

    class_id: int
    logical_name: bytes
    attribute_id: int

    def to_bytes(self) -> bytes:
        return _descriptor_bytes(self.class_id, self.logical_name, self.attribute_id, "attribute-id")

    @classmethod
    def read(cls, r: _Reader) -> AttributeDescriptor:
        return cls(*_read_descriptor(r, "attribute-id"))


@dataclass(frozen=True, slots=True)
class MethodDescriptor:
    """Cosem-Method-Descriptor: class-id (u16), logical name (6 bytes), method-id (Integer8)."""

    class_id: int
    logical_name: bytes
    method_id: int

    def to_bytes(self) -> bytes:
        return _descriptor_bytes(self.class_id, self.logical_name, self.method_id, "method-id")

    @classmethod
    def read(cls, r: _Reader) -> MethodDescriptor:
        return cls(*_read_descriptor(r, "method-id"))


@dataclass(frozen=True, slots=True)
class AccessSelection:
    """Selective-Access-Descriptor: access-selector (u8; 1 = range, 2 = entry for profiles) and its
    parameters, kept as A-XDR Data because their shape depends on the selector and the class."""

    selector: int
    parameters: Data


def _access_bytes(access: AccessSelection | None) -> bytes:
    if access is None:
        return b"\x00"
    return b"\x01" + _uint(access.selector, 1, "access-selector") + encode_data(access.parameters)


def _read_access(r: _Reader) -> AccessSelection | None:
    if not r.present("access-selection"):
        return None
    selector = r.uint(1, "access-selector")
    return AccessSelection(selector, r.data())


@dataclass(frozen=True, slots=True)
class AttributeWithSelection:
    """Cosem-Attribute-Descriptor-With-Selection, one item of a get-request-with-list."""

    attribute: AttributeDescriptor
    access: AccessSelection | None = None


GetDataResult: TypeAlias = "Data | DataAccessResult"


def _get_data_result_bytes(result: GetDataResult, what: str) -> bytes:
    """Get-Data-Result ::= CHOICE { data [0] Data, data-access-result [1] Data-Access-Result }."""
    if isinstance(result, DataAccessResult):
        return bytes([1, result])
    if isinstance(result, Data):
        return b"\x00" + encode_data(result)
    raise EncodeError(f"{what} {result!r} is neither Data nor a DataAccessResult")


def _read_get_data_result(r: _Reader, what: str) -> GetDataResult:
    choice = r.uint(1, f"{what} choice")
    if choice == 0:
        return r.data()
    if choice == 1:
        return _enum(DataAccessResult, r.uint(1, "data-access-result"), "data-access-result")
    raise UnknownTagError(f"{what} choice {choice} (0 data or 1 data-access-result)")


def encode_result_list(results: Sequence[GetDataResult]) -> bytes:
    """SEQUENCE OF Get-Data-Result: the body of a get-response-with-list, and what the raw data of a
    get-response-with-datablock holds when the answer to a GET-with-list goes in blocks (Green Book 9.3.5)."""
    return encode_length(len(results)) + b"".join(_get_data_result_bytes(r, "result") for r in results)


def decode_result_list(raw: bytes) -> tuple[GetDataResult, ...]:
    """The inverse of `encode_result_list`, for the whole of `raw` (bytes after the list are an error)."""
    r = _Reader(bytes(raw))
    results = _read_result_list(r)
    if not r.at_end():
        raise CodecError(f"{len(r.buf) - r.pos} bytes after the result list")
    return results


def _read_result_list(r: _Reader) -> tuple[GetDataResult, ...]:
    count = r.axdr_length("result list")
    return tuple(_read_get_data_result(r, "get-data-result") for _ in range(count))


class _Service:
    """What every GET, SET and ACTION APDU shares: `tag choice invoke-id-and-priority`, then the
    variant's fields in A-XDR order (`_body`, `_read`) and nothing after them."""

    __slots__ = ()

    TAG: ClassVar[int]
    CHOICE: ClassVar[int]
    NAME: ClassVar[str]
    invoke: InvokeIdAndPriority

    def to_bytes(self) -> bytes:
        return bytes([self.TAG, self.CHOICE, self.invoke.to_byte()]) + self._body()

    def _body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        r = _Reader(bytes(data))
        got = r.uint(1, "APDU tag")
        if got != cls.TAG:
            raise UnknownTagError(f"APDU tag {got:02X} is not {cls.NAME} ({cls.TAG:02X})")
        got = r.uint(1, f"{cls.NAME} choice")
        if got != cls.CHOICE:
            raise UnknownTagError(f"{cls.NAME} choice {got} (expected {cls.CHOICE})")
        apdu = cls._read(r, InvokeIdAndPriority.from_byte(r.uint(1, "invoke-id-and-priority")))
        r.end(cls.NAME)
        return apdu

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        """The variant's fields, after the invoke-id byte."""
        raise NotImplementedError


# --- xDLMS Initiate and confirmed-service-error (inside ACSE user-information) ---------------------------

# negotiated/proposed-conformance: [APPLICATION 31] IMPLICIT BIT STRING, 4 content bytes, 0 unused bits
_CONFORMANCE_HEADER = b"\x5f\x1f\x04\x00"
VAA_NAME_LN = 0x0007  # the vaa-name a logical-name server always returns


def _conformance_bytes(value: Conformance) -> bytes:
    return _CONFORMANCE_HEADER + _uint(int(value), 3, "conformance")


def _read_conformance(r: _Reader) -> Conformance:
    header = r.take(4, "conformance header")
    if header != _CONFORMANCE_HEADER:
        raise CodecError(f"conformance block header {header.hex()} (expected {_CONFORMANCE_HEADER.hex()})")
    return Conformance(r.uint(3, "conformance"))


def _open_xdlms(data: bytes, tag: int, name: str) -> _Reader:
    r = _Reader(bytes(data))
    got = r.uint(1, f"{name} tag")
    if got != tag:
        raise UnknownTagError(f"xDLMS tag {got:02X} is not {name} ({tag:02X})")
    return r


_Negotiation: TypeAlias = "tuple[int | None, int, Conformance, int]"


def _negotiation_bytes(side: str, peer: str, fields: _Negotiation) -> bytes:
    """`<quality-of-service?> <dlms-version-number> <conformance> <max-receive-pdu-size>`, the run both
    Initiate APDUs share; `side` is "proposed" or "negotiated", `peer` "client" or "server" (the field names)."""
    qos, version, conformance, max_pdu = fields
    out = b"\x00" if qos is None else b"\x01" + _int8(qos, f"{side}-quality-of-service")
    out += _uint(version, 1, f"{side}-dlms-version-number")
    out += _conformance_bytes(conformance)
    return out + _uint(max_pdu, 2, f"{peer}-max-receive-pdu-size")


def _read_negotiation(r: _Reader, side: str, peer: str) -> _Negotiation:
    qos = r.int8(f"{side}-quality-of-service") if r.present(f"{side}-quality-of-service") else None
    version = r.uint(1, f"{side}-dlms-version-number")
    conformance = _read_conformance(r)
    return qos, version, conformance, r.uint(2, f"{peer}-max-receive-pdu-size")


@dataclass(frozen=True, slots=True, kw_only=True)
class InitiateRequest:
    """xDLMS InitiateRequest (01), the AARQ's user-information:
    `01 <dedicated-key?> <response-allowed, DEFAULT TRUE> <quality-of-service?> <version 06>
    5F 1F 04 00 <conformance 3> <client-max-receive-pdu-size u16>`."""

    TAG: ClassVar[int] = 0x01

    proposed_conformance: Conformance
    client_max_receive_pdu_size: int = 0xFFFF
    proposed_dlms_version: int = 6
    dedicated_key: bytes | None = None
    response_allowed: bool = True
    proposed_quality_of_service: int | None = None

    def to_bytes(self) -> bytes:
        out = bytearray([self.TAG])
        if self.dedicated_key is None:
            out += b"\x00"
        else:
            out += b"\x01" + encode_length(len(self.dedicated_key)) + self.dedicated_key
        out += b"\x00" if self.response_allowed else b"\x01\x00"  # DEFAULT TRUE: only FALSE is sent
        negotiation = (
            self.proposed_quality_of_service,
            self.proposed_dlms_version,
            self.proposed_conformance,
            self.client_max_receive_pdu_size,
        )
        return bytes(out + _negotiation_bytes("proposed", "client", negotiation))

    @classmethod
    def from_bytes(cls, data: bytes) -> InitiateRequest:
        r = _open_xdlms(data, cls.TAG, "initiateRequest")
        key = r.take(r.axdr_length("dedicated-key"), "dedicated-key") if r.present("dedicated-key") else None
        response_allowed = r.boolean("response-allowed") if r.present("response-allowed") else True
        qos, version, conformance, max_pdu = _read_negotiation(r, "proposed", "client")
        r.end("initiateRequest")
        return cls(
            proposed_conformance=conformance,
            client_max_receive_pdu_size=max_pdu,
            proposed_dlms_version=version,
            dedicated_key=key,
            response_allowed=response_allowed,
            proposed_quality_of_service=qos,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class InitiateResponse:
    """xDLMS InitiateResponse (08), the AARE's user-information: `08 <quality-of-service?>
    <version 06> 5F 1F 04 00 <conformance 3> <server-max-receive-pdu-size u16> <vaa-name 00 07>`."""

    TAG: ClassVar[int] = 0x08

    negotiated_conformance: Conformance
    server_max_receive_pdu_size: int
    negotiated_dlms_version: int = 6
    negotiated_quality_of_service: int | None = None
    vaa_name: int = VAA_NAME_LN

    def to_bytes(self) -> bytes:
        negotiation = (
            self.negotiated_quality_of_service,
            self.negotiated_dlms_version,
            self.negotiated_conformance,
            self.server_max_receive_pdu_size,
        )
        return (
            bytes([self.TAG])
            + _negotiation_bytes("negotiated", "server", negotiation)
            + _uint(self.vaa_name, 2, "vaa-name")
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> InitiateResponse:
        r = _open_xdlms(data, cls.TAG, "initiateResponse")
        qos, version, conformance, max_pdu = _read_negotiation(r, "negotiated", "server")
        vaa_name = r.uint(2, "vaa-name")
        r.end("initiateResponse")
        return cls(
            negotiated_conformance=conformance,
            server_max_receive_pdu_size=max_pdu,
            negotiated_dlms_version=version,
            negotiated_quality_of_service=qos,
            vaa_name=vaa_name,
        )


_GLO_INITIATE_NAMES = {0x21: "glo-initiateRequest", 0x28: "glo-initiateResponse"}


@dataclass(frozen=True, slots=True)
class CipheredInitiate:
    """glo-initiateRequest (21) or glo-initiateResponse (28): `tag <length> SC IC(u32) <ciphered>`,
    where `ciphered` is the ciphertext plus, when authenticated, its 12-byte tag. Kept as sent: the
    IV is the sender's system title (calling/responding-AP-title) + IC, known to the association."""

    tag: int
    security_control: int
    invocation_counter: int
    ciphered: bytes

    def to_bytes(self) -> bytes:
        if self.tag not in _GLO_INITIATE_NAMES:
            raise EncodeError(f"ciphered initiate tag {self.tag!r} (21 glo-initiateRequest or 28 glo-initiateResponse)")
        body = (
            _uint(self.security_control, 1, "security control")
            + _uint(self.invocation_counter, 4, "invocation counter")
            + self.ciphered
        )
        return bytes([self.tag]) + encode_length(len(body)) + body

    @classmethod
    def from_bytes(cls, data: bytes) -> CipheredInitiate:
        r = _Reader(bytes(data))
        tag = r.uint(1, "ciphered initiate tag")
        name = _GLO_INITIATE_NAMES.get(tag)
        if name is None:
            raise UnknownTagError(f"xDLMS tag {tag:02X} is not a ciphered initiate (21 or 28)")
        length = r.axdr_length(name)
        if length < 5:
            raise LengthError(f"{name} of {length} bytes has no security header (5 bytes)")
        security_control = r.uint(1, "security control")
        invocation_counter = r.uint(4, "invocation counter")
        ciphered = r.take(length - 5, f"{name} content")
        r.end(name)
        return cls(tag, security_control, invocation_counter, ciphered)


@dataclass(frozen=True, slots=True)
class ConfirmedServiceError:
    """confirmedServiceError (0E): `0E <service> <error class> <error>`, e.g. `0E 01 06 01` =
    initiateError, initiate, dlms-version-too-low. `error` is the ENUMERATED value within
    `error_class` (InitiateError for ServiceErrorClass.INITIATE)."""

    TAG: ClassVar[int] = 0x0E

    service: ConfirmedService
    error_class: ServiceErrorClass
    error: int

    def to_bytes(self) -> bytes:
        return bytes(
            [
                self.TAG,
                _member(self.service, ConfirmedService, "confirmed service"),
                _member(self.error_class, ServiceErrorClass, "service error class"),
            ]
        ) + _uint(self.error, 1, "service error")

    @classmethod
    def from_bytes(cls, data: bytes) -> ConfirmedServiceError:
        r = _open_xdlms(data, cls.TAG, "confirmedServiceError")
        service = _enum(ConfirmedService, r.uint(1, "confirmed service"), "confirmed service")
        error_class = _enum(ServiceErrorClass, r.uint(1, "service error class"), "service error class")
        error = r.uint(1, "service error")
        r.end("confirmedServiceError")
        return cls(service, error_class, error)


# --- BER for ACSE ---------------------------------------------------------------------------------------

_CONTEXT_NAME_PREFIX = bytes.fromhex("608574050801")  # 2.16.756.5.8.1 (DLMS UA application contexts)
_MECHANISM_NAME_PREFIX = bytes.fromhex("608574050802")  # 2.16.756.5.8.2 (DLMS UA mechanism names)
_ACSE_AUTHENTICATION = b"\x07\x80"  # ACSE-requirements BIT STRING: 7 unused bits, bit 0 (authentication) set
_OCTET_STRING = 0x04
_INTEGER = 0x02
_OBJECT_IDENTIFIER = 0x06
_CHARSTRING = 0x80  # Authentication-value charstring [0] IMPLICIT GraphicString


def _ber_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _ber_length(len(content)) + content


def _read_tlv(r: _Reader, what: str) -> tuple[int, bytes]:
    tag = r.uint(1, f"{what} tag")
    if tag & 0x1F == 0x1F:
        raise UnknownTagError(f"{what}: multi-byte BER tag {tag:02X} at offset {r.pos - 1} (ACSE uses one-byte tags)")
    first = r.uint(1, f"{what} length")
    if first == 0x80:
        raise LengthError(f"{what}: indefinite BER length at offset {r.pos - 1} (DLMS uses definite lengths)")
    length = first
    if first > 0x80:
        size = first & 0x7F
        if size > 4:
            raise LengthError(f"{what}: BER length of {size} bytes at offset {r.pos - 1} (at most 4)")
        length = r.uint(size, f"{what} length")
    return tag, r.take(length, f"{what} content")


def _expect_tlv(content: bytes, tag: int, what: str) -> bytes:
    """The content of the single TLV that `content` must consist of."""
    r = _Reader(content)
    got, inner = _read_tlv(r, what)
    if got != tag:
        raise UnknownTagError(f"{what} is tagged {got:02X} (expected {tag:02X})")
    r.end(what)
    return inner


def _open_acse(data: bytes, tag: int, name: str) -> _Reader:
    """A reader over the body of the ACSE APDU `data`, which must be exactly one `tag` TLV."""
    return _Reader(_expect_tlv(bytes(data), tag, name))


def _ber_fields(r: _Reader, names: Mapping[int, str], what: str) -> dict[int, bytes]:
    """Split an ACSE body into {tag: content}, refusing tags outside `names` and repeats."""
    fields: dict[int, bytes] = {}
    while not r.at_end():
        tag, content = _read_tlv(r, what)
        if tag not in names:
            allowed = ", ".join(f"{t:02X} {n}" for t, n in names.items())
            raise UnknownTagError(f"{what} field tag {tag:02X} (allowed: {allowed})")
        if tag in fields:
            raise CodecError(f"{what} {names[tag]} ({tag:02X}) appears twice")
        fields[tag] = content
    return fields


def _required(fields: dict[int, bytes], tag: int, names: Mapping[int, str], what: str) -> bytes:
    if tag not in fields:
        raise CodecError(f"{what} has no {names[tag]} ({tag:02X}), which is mandatory")
    return fields[tag]


def _optional(fields: dict[int, bytes], tag: int, decode: Callable[[bytes], _T]) -> _T | None:
    return decode(fields[tag]) if tag in fields else None


def _ber_integer(content: bytes, what: str) -> int:
    raw = _expect_tlv(content, _INTEGER, what)
    if not 1 <= len(raw) <= 4:
        raise LengthError(f"{what} INTEGER of {len(raw)} bytes (1 to 4)")
    return int.from_bytes(raw, "big", signed=True)


def _oid_last_arc(oid: bytes, prefix: bytes, what: str) -> int:
    if len(oid) != len(prefix) + 1 or not oid.startswith(prefix):
        raise UnknownTagError(f"{what} {oid.hex()} is not a DLMS UA name ({prefix.hex()} + one arc)")
    return oid[-1]


def _context_name(content: bytes) -> ApplicationContext:
    oid = _expect_tlv(content, _OBJECT_IDENTIFIER, "application-context-name")
    arc = _oid_last_arc(oid, _CONTEXT_NAME_PREFIX, "application-context-name")
    return _enum(ApplicationContext, arc, "application context")


def _context_name_bytes(context: ApplicationContext) -> bytes:
    arc = _member(context, ApplicationContext, "application context")
    return _tlv(_OBJECT_IDENTIFIER, _CONTEXT_NAME_PREFIX + bytes([arc]))


def _mechanism_name(content: bytes) -> AuthenticationMechanism:
    arc = _oid_last_arc(content, _MECHANISM_NAME_PREFIX, "mechanism-name")  # IMPLICIT: the OID bytes themselves
    return _enum(AuthenticationMechanism, arc, "authentication mechanism")


def _mechanism_name_bytes(mechanism: AuthenticationMechanism) -> bytes:
    return _MECHANISM_NAME_PREFIX + bytes([_member(mechanism, AuthenticationMechanism, "authentication mechanism")])


def _ap_title(content: bytes) -> bytes:
    return _expect_tlv(content, _OCTET_STRING, "AP-title")  # AP-title-form2: an OCTET STRING (system title)


def _acse_requirements(content: bytes) -> bool:
    """ACSE-requirements BIT STRING: the authentication functional unit is bit 0."""
    if not content:
        raise LengthError("ACSE-requirements BIT STRING has no unused-bits byte")
    if content[0] > 7:
        raise CodecError(f"ACSE-requirements unused-bits count {content[0]} (0..7)")
    return len(content) > 1 and bool(content[1] & 0x80)


def _authentication_value(content: bytes) -> bytes:
    return _expect_tlv(content, _CHARSTRING, "authentication-value")  # DLMS sends the charstring [0] form


def _user_information(fields: dict[int, bytes], table: Mapping[int, Callable[[bytes], _T]], what: str) -> _T | None:
    """user-information (BE), if sent: an OCTET STRING holding one A-XDR xDLMS APDU, chosen by `table`."""
    content = fields.get(0xBE)
    if content is None:
        return None
    inner = _expect_tlv(content, _OCTET_STRING, f"{what} user-information")
    if not inner:
        raise TruncatedError(f"{what} user-information is empty")
    decode = table.get(inner[0])
    if decode is None:
        allowed = ", ".join(f"{tag:02X}" for tag in table)
        raise UnknownTagError(f"{what} user-information holds xDLMS tag {inner[0]:02X} (allowed: {allowed})")
    return decode(inner)


class _Encodable(Protocol):
    def to_bytes(self) -> bytes: ...


def _user_information_bytes(information: _Encodable | None, table: Mapping[int, object], what: str) -> bytes:
    """The user-information field (BE) holding `information`, or nothing when it is None."""
    if information is None:
        return b""
    apdu = information.to_bytes()
    if apdu[0] not in table:
        allowed = ", ".join(f"{tag:02X}" for tag in table)
        raise EncodeError(f"{what} user-information cannot hold xDLMS tag {apdu[0]:02X} (allowed: {allowed})")
    return _tlv(0xBE, _tlv(_OCTET_STRING, apdu))


# --- ACSE APDUs -------------------------------------------------------------------------------------------

_AARQ_FIELDS: dict[int, str] = {
    0x80: "protocol-version",
    0xA1: "application-context-name",
    0xA2: "called-AP-title",
    0xA3: "called-AE-qualifier",
    0xA4: "called-AP-invocation-identifier",
    0xA5: "called-AE-invocation-identifier",
    0xA6: "calling-AP-title",
    0xA7: "calling-AE-qualifier",
    0xA8: "calling-AP-invocation-identifier",
    0xA9: "calling-AE-invocation-identifier",
    0x8A: "sender-acse-requirements",
    0x8B: "mechanism-name",
    0xAC: "calling-authentication-value",
    0x9D: "implementation-information",
    0xBE: "user-information",
}

_AARE_FIELDS: dict[int, str] = {
    0x80: "protocol-version",
    0xA1: "application-context-name",
    0xA2: "result",
    0xA3: "result-source-diagnostic",
    0xA4: "responding-AP-title",
    0xA5: "responding-AE-qualifier",
    0xA6: "responding-AP-invocation-identifier",
    0xA7: "responding-AE-invocation-identifier",
    0x88: "responder-acse-requirements",
    0x89: "mechanism-name",
    0xAA: "responding-authentication-value",
    0x9D: "implementation-information",
    0xBE: "user-information",
}

_RELEASE_FIELDS: dict[int, str] = {0x80: "reason", 0xBE: "user-information"}


@dataclass(frozen=True, slots=True)
class _AuthenticationTags:
    """Where AARQ (calling-…) and AARE (responding-…) put the four fields they share."""

    ap_title: int
    requirements: int
    mechanism: int
    value: int


_AARQ_TAGS = _AuthenticationTags(ap_title=0xA6, requirements=0x8A, mechanism=0x8B, value=0xAC)
_AARE_TAGS = _AuthenticationTags(ap_title=0xA4, requirements=0x88, mechanism=0x89, value=0xAA)
_Authentication: TypeAlias = "tuple[bytes | None, bool, AuthenticationMechanism | None, bytes | None]"


def _authentication_bytes(tags: _AuthenticationTags, fields: _Authentication) -> bytes:
    """AP-title, ACSE-requirements, mechanism-name and authentication-value, each only when given."""
    ap_title, authentication, mechanism, value = fields
    body = b"" if ap_title is None else _tlv(tags.ap_title, _tlv(_OCTET_STRING, ap_title))
    if authentication:
        body += _tlv(tags.requirements, _ACSE_AUTHENTICATION)
    if mechanism is not None:
        body += _tlv(tags.mechanism, _mechanism_name_bytes(mechanism))
    if value is not None:
        body += _tlv(tags.value, _tlv(_CHARSTRING, value))
    return body


def _read_authentication(tags: _AuthenticationTags, fields: dict[int, bytes]) -> _Authentication:
    return (
        _optional(fields, tags.ap_title, _ap_title),
        bool(_optional(fields, tags.requirements, _acse_requirements)),
        _optional(fields, tags.mechanism, _mechanism_name),
        _optional(fields, tags.value, _authentication_value),
    )


RequestInformation: TypeAlias = "InitiateRequest | CipheredInitiate"
ResponseInformation: TypeAlias = "InitiateResponse | ConfirmedServiceError | CipheredInitiate"

_REQUEST_INFORMATION: dict[int, Callable[[bytes], RequestInformation]] = {
    0x01: InitiateRequest.from_bytes,
    0x21: CipheredInitiate.from_bytes,
}
_RESPONSE_INFORMATION: dict[int, Callable[[bytes], ResponseInformation]] = {
    0x08: InitiateResponse.from_bytes,
    0x0E: ConfirmedServiceError.from_bytes,
    0x28: CipheredInitiate.from_bytes,
}
_RELEASE_RESPONSE_INFORMATION: dict[int, Callable[[bytes], InitiateResponse | CipheredInitiate]] = {
    0x08: InitiateResponse.from_bytes,
    0x28: CipheredInitiate.from_bytes,
}

Diagnostic: TypeAlias = "AcseUserDiagnostic | AcseProviderDiagnostic"

# result-source-diagnostic CHOICE: acse-service-user [1] or acse-service-provider [2], each an INTEGER
_DIAGNOSTICS: dict[int, tuple[str, Callable[[int], Diagnostic]]] = {
    0xA1: ("acse-service-user", AcseUserDiagnostic),
    0xA2: ("acse-service-provider", AcseProviderDiagnostic),
}
_DIAGNOSTIC_TAGS: dict[type, int] = {AcseUserDiagnostic: 0xA1, AcseProviderDiagnostic: 0xA2}


def _diagnostic(content: bytes) -> Diagnostic:
    r = _Reader(content)
    tag, inner = _read_tlv(r, "result-source-diagnostic")
    r.end("result-source-diagnostic")
    if tag not in _DIAGNOSTICS:
        raise UnknownTagError(
            f"result-source-diagnostic choice {tag:02X} (A1 acse-service-user or A2 acse-service-provider)"
        )
    name, kind = _DIAGNOSTICS[tag]
    value = _ber_integer(inner, name)
    try:
        return kind(value)
    except ValueError:
        raise UnknownTagError(f"{name} diagnostic {value} is not defined") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Aarq:
    """AARQ (60), the client's association request. `authentication` is the sender-acse-requirements
    field (8A) with its authentication bit; LLS and HLS clients send it with `mechanism` (8B) and
    `calling_authentication_value` (AC: the LLS password or the HLS client challenge).
    `calling_ap_title` (A6) is the client system title, needed for ciphering and HLS-GMAC.
    Fields are decoded as sent, consistent or not (a mechanism without the authentication bit, an
    SN context): judging them is the association's job, which answers with a refusing AARE. For the
    same reason `user_information` may be None."""

    TAG: ClassVar[int] = 0x60

    user_information: InitiateRequest | CipheredInitiate | None
    application_context: ApplicationContext = ApplicationContext.LN
    calling_ap_title: bytes | None = None
    authentication: bool = False
    mechanism: AuthenticationMechanism | None = None
    calling_authentication_value: bytes | None = None

    @property
    def ciphered(self) -> bool:
        """The xDLMS InitiateRequest came ciphered (glo-initiateRequest)."""
        return isinstance(self.user_information, CipheredInitiate)

    def to_bytes(self) -> bytes:
        body = _tlv(0xA1, _context_name_bytes(self.application_context))
        body += _authentication_bytes(
            _AARQ_TAGS, (self.calling_ap_title, self.authentication, self.mechanism, self.calling_authentication_value)
        )
        body += _user_information_bytes(self.user_information, _REQUEST_INFORMATION, "AARQ")
        return _tlv(self.TAG, body)

    @classmethod
    def from_bytes(cls, data: bytes) -> Aarq:
        fields = _ber_fields(_open_acse(data, cls.TAG, "AARQ"), _AARQ_FIELDS, "AARQ")
        context = _context_name(_required(fields, 0xA1, _AARQ_FIELDS, "AARQ"))
        ap_title, authentication, mechanism, value = _read_authentication(_AARQ_TAGS, fields)
        return cls(
            application_context=context,
            calling_ap_title=ap_title,
            authentication=authentication,
            mechanism=mechanism,
            calling_authentication_value=value,
            user_information=_user_information(fields, _REQUEST_INFORMATION, "AARQ"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Aare:
    """AARE (61), the server's answer. `diagnostic` is the result-source-diagnostic: an
    AcseUserDiagnostic (acse-service-user, what a server sends) or an AcseProviderDiagnostic.
    For HLS the server sends `authentication` (88), `mechanism` (89) and its own challenge in
    `responding_authentication_value` (AA); `responding_ap_title` (A4) is its system title.
    `user_information` is the InitiateResponse, or a ConfirmedServiceError when the xDLMS context
    is refused."""

    TAG: ClassVar[int] = 0x61

    result: AssociationResult
    diagnostic: Diagnostic
    application_context: ApplicationContext = ApplicationContext.LN
    responding_ap_title: bytes | None = None
    authentication: bool = False
    mechanism: AuthenticationMechanism | None = None
    responding_authentication_value: bytes | None = None
    user_information: InitiateResponse | ConfirmedServiceError | CipheredInitiate | None = None

    @property
    def ciphered(self) -> bool:
        return isinstance(self.user_information, CipheredInitiate)

    def to_bytes(self) -> bytes:
        if type(self.diagnostic) not in _DIAGNOSTIC_TAGS:
            raise EncodeError(f"diagnostic {self.diagnostic!r} is not an AcseUserDiagnostic or AcseProviderDiagnostic")
        body = _tlv(0xA1, _context_name_bytes(self.application_context))
        body += _tlv(0xA2, _tlv(_INTEGER, bytes([_member(self.result, AssociationResult, "association result")])))
        body += _tlv(0xA3, _tlv(_DIAGNOSTIC_TAGS[type(self.diagnostic)], _tlv(_INTEGER, bytes([self.diagnostic]))))
        body += _authentication_bytes(
            _AARE_TAGS,
            (self.responding_ap_title, self.authentication, self.mechanism, self.responding_authentication_value),
        )
        body += _user_information_bytes(self.user_information, _RESPONSE_INFORMATION, "AARE")
        return _tlv(self.TAG, body)

    @classmethod
    def from_bytes(cls, data: bytes) -> Aare:
        fields = _ber_fields(_open_acse(data, cls.TAG, "AARE"), _AARE_FIELDS, "AARE")
        result = _ber_integer(_required(fields, 0xA2, _AARE_FIELDS, "AARE"), "result")
        context = _context_name(_required(fields, 0xA1, _AARE_FIELDS, "AARE"))
        association = _enum(AssociationResult, result, "association result")
        diagnostic = _diagnostic(_required(fields, 0xA3, _AARE_FIELDS, "AARE"))
        ap_title, authentication, mechanism, value = _read_authentication(_AARE_TAGS, fields)
        return cls(
            application_context=context,
            result=association,
            diagnostic=diagnostic,
            responding_ap_title=ap_title,
            authentication=authentication,
            mechanism=mechanism,
            responding_authentication_value=value,
            user_information=_user_information(fields, _RESPONSE_INFORMATION, "AARE"),
        )


def _reason(fields: dict[int, bytes], kind: type[_E]) -> _E | None:
    """reason [0] IMPLICIT INTEGER: the content is the integer's bytes."""
    raw = fields.get(0x80)
    if raw is None:
        return None
    if len(raw) != 1:
        raise LengthError(f"release reason of {len(raw)} bytes (1 expected)")
    return _enum(kind, raw[0], "release reason")


_Info = TypeVar("_Info", bound=InitiateRequest | InitiateResponse | CipheredInitiate)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Release(Generic[_E, _Info]):
    """RLRQ and RLRE have one shape, `tag { reason [0] OPTIONAL, user-information [30] OPTIONAL }`;
    each names its tag, its reason enum and the xDLMS APDUs its user-information may hold (`_kinds`)."""

    TAG: ClassVar[int]
    NAME: ClassVar[str]

    reason: _E | None = None
    user_information: _Info | None = None

    @classmethod
    def _kinds(cls) -> tuple[type[_E], Mapping[int, Callable[[bytes], _Info]]]:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        kind, table = self._kinds()
        body = b"" if self.reason is None else _tlv(0x80, bytes([_member(self.reason, kind, "release reason")]))
        body += _user_information_bytes(self.user_information, table, self.NAME)
        return _tlv(self.TAG, body)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        kind, table = cls._kinds()
        fields = _ber_fields(_open_acse(data, cls.TAG, cls.NAME), _RELEASE_FIELDS, cls.NAME)
        return cls(
            reason=_reason(fields, kind),
            user_information=_user_information(fields, table, cls.NAME),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseRequest(_Release[ReleaseRequestReason, RequestInformation]):
    """RLRQ (62). A ciphered association may carry an InitiateRequest in user-information."""

    TAG: ClassVar[int] = 0x62
    NAME: ClassVar[str] = "RLRQ"

    @classmethod
    def _kinds(cls) -> tuple[type[ReleaseRequestReason], Mapping[int, Callable[[bytes], RequestInformation]]]:
        return ReleaseRequestReason, _REQUEST_INFORMATION


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseResponse(_Release[ReleaseResponseReason, InitiateResponse | CipheredInitiate]):
    """RLRE (63). A ciphered association may carry an InitiateResponse in user-information."""

    TAG: ClassVar[int] = 0x63
    NAME: ClassVar[str] = "RLRE"

    @classmethod
    def _kinds(
        cls,
    ) -> tuple[type[ReleaseResponseReason], Mapping[int, Callable[[bytes], InitiateResponse | CipheredInitiate]]]:
        return ReleaseResponseReason, _RELEASE_RESPONSE_INFORMATION


# --- GET ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRequestNormal(_Service):
    """get-request-normal (C0 01): one attribute, optionally with selective access."""

    TAG: ClassVar[int] = 0xC0
    CHOICE: ClassVar[int] = 0x01
    NAME: ClassVar[str] = "get-request-normal"

    attribute: AttributeDescriptor
    access: AccessSelection | None = None
    invoke: InvokeIdAndPriority = DEFAULT_INVOKE

    def _body(self) -> bytes:
        return self.attribute.to_bytes() + _access_bytes(self.access)

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        attribute = AttributeDescriptor.read(r)
        return cls(invoke=invoke, attribute=attribute, access=_read_access(r))


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRequestNext(_Service):
    """get-request-next (C0 02): ask for the block after `block_number` of a long GET."""

    TAG: ClassVar[int] = 0xC0
    CHOICE: ClassVar[int] = 0x02
    NAME: ClassVar[str] = "get-request-next"

    block_number: int
    invoke: InvokeIdAndPriority = DEFAULT_INVOKE

    def _body(self) -> bytes:
        return _uint(self.block_number, 4, "block-number")

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        return cls(invoke=invoke, block_number=r.uint(4, "block-number"))


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRequestWithList(_Service):
    """get-request-with-list (C0 03): several attributes in one request (multiple-references)."""

    TAG: ClassVar[int] = 0xC0
    CHOICE: ClassVar[int] = 0x03
    NAME: ClassVar[str] = "get-request-with-list"

    attributes: tuple[AttributeWithSelection, ...]
    invoke: InvokeIdAndPriority = DEFAULT_INVOKE

    def _body(self) -> bytes:
        items = (item.attribute.to_bytes() + _access_bytes(item.access) for item in self.attributes)
        return encode_length(len(self.attributes)) + b"".join(items)

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        count = r.axdr_length("attribute-descriptor-list")
        items = []
        for _ in range(count):  # each item takes 10 bytes or more, so a lying count is cut short by TruncatedError
            attribute = AttributeDescriptor.read(r)
            items.append(AttributeWithSelection(attribute, _read_access(r)))
        return cls(invoke=invoke, attributes=tuple(items))


@dataclass(frozen=True, slots=True, kw_only=True)
class GetResponseNormal(_Service):
    """get-response-normal (C4 01): the value, or why it cannot be read."""

    TAG: ClassVar[int] = 0xC4
    CHOICE: ClassVar[int] = 0x01
    NAME: ClassVar[str] = "get-response-normal"

    result: Data | DataAccessResult
    invoke: InvokeIdAndPriority = DEFAULT_INVOKE

    def _body(self) -> bytes:
        return _get_data_result_bytes(self.result, "result")

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        return cls(invoke=invoke, result=_read_get_data_result(r, "get-data-result"))


@dataclass(frozen=True, slots=True, kw_only=True)
class GetResponseWithBlock(_Service):
    """get-response-with-datablock (C4 02): DataBlock-G = last-block, block-number (u32) and either
    `raw-data` (a slice of the encoded Data, as bytes) or a data-access-result that ends the GET."""

    TAG: ClassVar[int] = 0xC4
    CHOICE: ClassVar[int] = 0x02
    NAME: ClassVar[str] = "get-response-with-datablock"

    last_block: bool
    block_number: int
    result: bytes | DataAccessResult
    invoke: InvokeIdAndPriority = DEFAULT_INVOKE

    def _body(self) -> bytes:
        out = bytes([1 if self.last_block else 0]) + _uint(self.block_number, 4, "block-number")
        if isinstance(self.result, DataAccessResult):
            return out + bytes([1, self.result])
        if isinstance(self.result, bytes):
            return out + b"\x00" + encode_length(len(self.result)) + self.result
        raise EncodeError(f"datablock result {self.result!r} is neither raw-data bytes nor a DataAccessResult")

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        last_block = r.boolean("last-block")
        block_number = r.uint(4, "block-number")
        choice = r.uint(1, "datablock result choice")
        result: bytes | DataAccessResult
        if choice == 0:
            result = r.take(r.axdr_length("raw-data"), "raw-data")
        elif choice == 1:
            result = _enum(DataAccessResult, r.uint(1, "data-access-result"), "data-access-result")
        else:
            raise UnknownTagError(f"datablock result choice {choice} (0 raw-data or 1 data-access-result)")
        return cls(invoke=invoke, last_block=last_block, block_number=block_number, result=result)


@dataclass(frozen=True, slots=True, kw_only=True)
class GetResponseWithList(_Service):
    """get-response-with-list (C4 03): one Get-Data-Result per requested attribute, in order."""

    TAG: ClassVar[int] = 0xC4
    CHOICE: ClassVar[int] = 0x03
    NAME: ClassVar[str] = "get-response-with-list"

    results: tuple[Data | DataAccessResult, ...]
    invoke: InvokeIdAndPriority = DEFAULT_INVOKE

    def _body(self) -> bytes:
        return encode_result_list(self.results)

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        return cls(invoke=invoke, results=_read_result_list(r))


# --- SET and ACTION ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SetRequestNormal(_Service):
    """set-request-normal (C1 01): write `value` to one attribute."""

    TAG: ClassVar[int] = 0xC1
    CHOICE: ClassVar[int] = 0x01
    NAME: ClassVar[str] = "set-request-normal"

    attribute: AttributeDescriptor
    value: Data
    access: AccessSelection | None = None
    invoke: InvokeIdAndPriority = DEFAULT_INVOKE

    def _body(self) -> bytes:
        return self.attribute.to_bytes() + _access_bytes(self.access) + encode_data(self.value)

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        attribute = AttributeDescriptor.read(r)
        access = _read_access(r)
        return cls(invoke=invoke, attribute=attribute, access=access, value=r.data())


@dataclass(frozen=True, slots=True, kw_only=True)
class SetResponseNormal(_Service):
    """set-response-normal (C5 01)."""

    TAG: ClassVar[int] = 0xC5
    CHOICE: ClassVar[int] = 0x01
    NAME: ClassVar[str] = "set-response-normal"

    result: DataAccessResult
    invoke: InvokeIdAndPriority = DEFAULT_INVOKE

    def _body(self) -> bytes:
        return bytes([_member(self.result, DataAccessResult, "data-access-result")])

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        return cls(invoke=invoke, result=_enum(DataAccessResult, r.uint(1, "data-access-result"), "data-access-result"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionRequestNormal(_Service):
    """action-request-normal (C3 01): invoke a method, with optional invocation parameters."""

    TAG: ClassVar[int] = 0xC3
    CHOICE: ClassVar[int] = 0x01
    NAME: ClassVar[str] = "action-request-normal"

    method: MethodDescriptor
    parameters: Data | None = None
    invoke: InvokeIdAndPriority = DEFAULT_INVOKE

    def _body(self) -> bytes:
        return self.method.to_bytes() + (b"\x00" if self.parameters is None else b"\x01" + encode_data(self.parameters))

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        method = MethodDescriptor.read(r)
        parameters = r.data() if r.present("method-invocation-parameters") else None
        return cls(invoke=invoke, method=method, parameters=parameters)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResponseNormal(_Service):
    """action-response-normal (C7 01): the action-result and optional return-parameters
    (a Get-Data-Result: Data, or a data-access-result)."""

    TAG: ClassVar[int] = 0xC7
    CHOICE: ClassVar[int] = 0x01
    NAME: ClassVar[str] = "action-response-normal"

    result: ActionResult
    return_parameters: Data | DataAccessResult | None = None
    invoke: InvokeIdAndPriority = DEFAULT_INVOKE

    def _body(self) -> bytes:
        out = bytes([_member(self.result, ActionResult, "action-result")])
        if self.return_parameters is None:
            return out + b"\x00"
        return out + b"\x01" + _get_data_result_bytes(self.return_parameters, "return-parameters")

    @classmethod
    def _read(cls, r: _Reader, invoke: InvokeIdAndPriority) -> Self:
        result = _enum(ActionResult, r.uint(1, "action-result"), "action-result")
        returned = _read_get_data_result(r, "return-parameters") if r.present("return-parameters") else None
        return cls(invoke=invoke, result=result, return_parameters=returned)


# --- EXCEPTION ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExceptionResponse:
    """EXCEPTION-Response (D8): `D8 <state-error> <service-error> [<invocation counter u32>]`; the
    counter (the value the receiver expects next) is present exactly with INVOCATION_COUNTER_ERROR."""

    TAG: ClassVar[int] = 0xD8

    state_error: StateError
    service_error: ServiceError
    invocation_counter: int | None = None

    def to_bytes(self) -> bytes:
        state = _member(self.state_error, StateError, "state-error")
        service = _member(self.service_error, ServiceError, "service-error")
        wants_counter = service == ServiceError.INVOCATION_COUNTER_ERROR
        if wants_counter != (self.invocation_counter is not None):
            raise EncodeError(
                f"invocation counter {self.invocation_counter!r} with service-error {self.service_error!r}: "
                "a counter goes with invocation-counter-error and only with it"
            )
        counter = b"" if self.invocation_counter is None else _uint(self.invocation_counter, 4, "invocation counter")
        return bytes([self.TAG, state, service]) + counter

    @classmethod
    def from_bytes(cls, data: bytes) -> ExceptionResponse:
        r = _open_xdlms(data, cls.TAG, "exception-response")
        state = _enum(StateError, r.uint(1, "state-error"), "state-error")
        service = _enum(ServiceError, r.uint(1, "service-error"), "service-error")
        counter = r.uint(4, "invocation counter") if service is ServiceError.INVOCATION_COUNTER_ERROR else None
        r.end("exception-response")
        return cls(state, service, counter)


# --- dispatch --------------------------------------------------------------------------------------------------

Apdu: TypeAlias = (
    "Aarq | Aare | ReleaseRequest | ReleaseResponse"
    " | GetRequestNormal | GetRequestNext | GetRequestWithList"
    " | GetResponseNormal | GetResponseWithBlock | GetResponseWithList"
    " | SetRequestNormal | SetResponseNormal | ActionRequestNormal | ActionResponseNormal"
    " | ExceptionResponse | ConfirmedServiceError"
)

# APDUs whose first byte alone names them
_BY_TAG: dict[int, Callable[[bytes], Apdu]] = {
    0x60: Aarq.from_bytes,
    0x61: Aare.from_bytes,
    0x62: ReleaseRequest.from_bytes,
    0x63: ReleaseResponse.from_bytes,
    0x0E: ConfirmedServiceError.from_bytes,
    0xD8: ExceptionResponse.from_bytes,
}

# service APDUs: a tag, then the CHOICE byte naming the variant
_SERVICES: dict[int, str] = {
    0xC0: "get-request",
    0xC1: "set-request",
    0xC3: "action-request",
    0xC4: "get-response",
    0xC5: "set-response",
    0xC7: "action-response",
}
_BY_TAG_AND_CHOICE: dict[tuple[int, int], Callable[[bytes], Apdu]] = {
    (0xC0, 0x01): GetRequestNormal.from_bytes,
    (0xC0, 0x02): GetRequestNext.from_bytes,
    (0xC0, 0x03): GetRequestWithList.from_bytes,
    (0xC4, 0x01): GetResponseNormal.from_bytes,
    (0xC4, 0x02): GetResponseWithBlock.from_bytes,
    (0xC4, 0x03): GetResponseWithList.from_bytes,
    (0xC1, 0x01): SetRequestNormal.from_bytes,
    (0xC5, 0x01): SetResponseNormal.from_bytes,
    (0xC3, 0x01): ActionRequestNormal.from_bytes,
    (0xC7, 0x01): ActionResponseNormal.from_bytes,
}


def decode_apdu(data: bytes) -> Apdu:
    """Decode one whole APDU (no bytes after it). Every malformed or unsupported input raises a
    CodecError subclass; UnknownTagError means well-formed but not implemented here."""
    data = bytes(data)
    if not data:
        raise TruncatedError("empty APDU")
    tag = data[0]
    decode = _BY_TAG.get(tag)
    if decode is not None:
        return decode(data)
    service = _SERVICES.get(tag)
    if service is None:
        known = ", ".join(f"{t:02X}" for t in sorted([*_BY_TAG, *_SERVICES]))
        raise UnknownTagError(f"APDU tag {tag:02X} is not supported (supported: {known})")
    if len(data) < 2:
        raise TruncatedError(f"{service} APDU ends before its choice byte")
    decode = _BY_TAG_AND_CHOICE.get((tag, data[1]))
    if decode is None:
        known = ", ".join(str(choice) for t, choice in _BY_TAG_AND_CHOICE if t == tag)
        raise UnknownTagError(f"{service} choice {data[1]} is not supported (supported: {known})")
    return decode(data)


def encode_apdu(apdu: Apdu) -> bytes:
    """The bytes of any APDU of this module (the same as `apdu.to_bytes()`)."""
    return apdu.to_bytes()
