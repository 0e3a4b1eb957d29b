"""xDLMS/ACSE APDU codec: Green Book byte layouts, round trips and fuzzing under hypothesis, and
conformance with the independent dlms-cosem library in both directions (it encodes the client's
requests that we decode; it parses the server's responses that we encode)."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from enum import IntEnum
from typing import Any

import pytest
from dlms_cosem import cosem, dlms_data
from dlms_cosem import enumerations as dc_enums
from dlms_cosem.connection import DlmsConnection, XDlmsApduFactory
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.protocol import acse as dc_acse
from dlms_cosem.protocol import xdlms as dc_xdlms
from dlms_cosem.security import (
    HighLevelSecurityGmacAuthentication,
    LowLevelSecurityAuthentication,
    NoSecurityAuthentication,
)
from dlms_cosem.utils import parse_as_dlms_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnipower.dlms import CosemDateTime, Data, DataType, decrypt_glo, encrypt_glo, parse_glo
from omnipower.dlms_apdu import (
    Aare,
    Aarq,
    AccessSelection,
    AcseProviderDiagnostic,
    AcseUserDiagnostic,
    ActionRequestNormal,
    ActionResponseNormal,
    ActionResult,
    Apdu,
    ApplicationContext,
    AssociationResult,
    AttributeDescriptor,
    AttributeWithSelection,
    AuthenticationMechanism,
    CipheredInitiate,
    ConfirmedService,
    ConfirmedServiceError,
    Conformance,
    DataAccessResult,
    ExceptionResponse,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithBlock,
    GetResponseWithList,
    InitiateError,
    InitiateRequest,
    InitiateResponse,
    InvokeIdAndPriority,
    MethodDescriptor,
    ReleaseRequest,
    ReleaseRequestReason,
    ReleaseResponse,
    ReleaseResponseReason,
    ServiceError,
    ServiceErrorClass,
    SetRequestNormal,
    SetResponseNormal,
    StateError,
    decode_apdu,
    decode_result_list,
    encode_apdu,
    encode_result_list,
)
from omnipower.errors import CodecError, EncodeError, LengthError, TruncatedError, UnknownTagError

CLOCK = bytes([0, 0, 1, 0, 0, 255])
ACTIVE_ENERGY = bytes([1, 0, 1, 8, 0, 255])
LOAD_PROFILE = bytes([1, 0, 99, 1, 0, 255])
DISCONNECTOR = bytes([0, 0, 96, 3, 10, 255])
CLIENT_TITLE = b"ABCDEFGH"
METER_TITLE = b"KAM\x00\x00\x12\x34\x56"
EK = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
AK = bytes.fromhex("d0d1d2d3d4d5d6d7d8d9dadbdcdddedf")


# --- Green Book layouts ---------------------------------------------------------------------------------------

# Green Book example AARQ (lowest level security) and its AARE: LN context, conformance 00 7E 1F / 00 50 1F.
GB_AARQ = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400007e1f04b0")
GB_AARE = bytes.fromhex("6129a109060760857405080101a203020100a305a103020100be10040e0800065f1f040000501f01f40007")


def test_green_book_aarq() -> None:
    aarq = decode_apdu(GB_AARQ)
    assert aarq == Aarq(
        user_information=InitiateRequest(
            proposed_conformance=Conformance(0x007E1F), client_max_receive_pdu_size=0x04B0
        ),
    )
    assert isinstance(aarq, Aarq) and not aarq.ciphered
    assert aarq.to_bytes() == GB_AARQ


def test_green_book_aare() -> None:
    aare = decode_apdu(GB_AARE)
    assert aare == Aare(
        result=AssociationResult.ACCEPTED,
        diagnostic=AcseUserDiagnostic.NULL,
        user_information=InitiateResponse(
            negotiated_conformance=Conformance.PRIORITY_MGMT_SUPPORTED
            | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
            | Conformance.GET
            | Conformance.SET
            | Conformance.SELECTIVE_ACCESS
            | Conformance.EVENT_NOTIFICATION
            | Conformance.ACTION,
            server_max_receive_pdu_size=500,
        ),
    )
    assert encode_apdu(aare) == GB_AARE


def test_lls_aarq_layout() -> None:
    aarq = Aarq(
        authentication=True,
        mechanism=AuthenticationMechanism.LLS,
        calling_authentication_value=b"12345678",
        user_information=InitiateRequest(proposed_conformance=Conformance(0x001E1D)),
    )
    assert aarq.to_bytes().hex() == (
        "6036a109060760857405080101"
        "8a020780"  # sender-acse-requirements: authentication
        "8b0760857405080201"  # mechanism-name: LLS
        "ac0a80083132333435363738"  # calling-authentication-value: charstring "12345678"
        "be10040e01000000065f1f0400001e1dffff"
    )


def test_hls_aare_layout() -> None:
    aare = Aare(
        result=AssociationResult.ACCEPTED,
        diagnostic=AcseUserDiagnostic.AUTHENTICATION_REQUIRED,
        application_context=ApplicationContext.LN_CIPHERED,
        responding_ap_title=METER_TITLE,
        authentication=True,
        mechanism=AuthenticationMechanism.HLS_GMAC,
        responding_authentication_value=bytes(range(16)),
    )
    assert aare.to_bytes().hex() == (
        "6144"
        "a109060760857405080103"
        "a203020100"
        "a305a10302010e"
        "a40a0408" + METER_TITLE.hex() + "88020780"
        "890760857405080205"
        "aa128010" + bytes(range(16)).hex()
    )


def test_conformance_bits_follow_asn1_numbering() -> None:
    # ASN.1 bit 0 is the most significant bit of the first of the three bytes; action is bit 23.
    assert Conformance.ACTION == 0x000001
    assert Conformance.GET == 0x000010
    assert Conformance.GENERAL_PROTECTION == 0x400000
    assert Conformance.MULTIPLE_REFERENCES == 0x000200
    assert len(Conformance) == 24


def test_invoke_id_and_priority_byte() -> None:
    assert InvokeIdAndPriority().to_byte() == 0xC1
    assert InvokeIdAndPriority.from_byte(0x81) == InvokeIdAndPriority(1, confirmed=False, high_priority=True)
    assert InvokeIdAndPriority.from_byte(0x7F) == InvokeIdAndPriority(15, confirmed=True, high_priority=False)
    with pytest.raises(EncodeError, match="invoke-id 16"):
        InvokeIdAndPriority(16).to_byte()


def test_get_request_normal_layout() -> None:
    apdu = GetRequestNormal(attribute=AttributeDescriptor(8, CLOCK, 2))
    assert apdu.to_bytes().hex() == "c001c100080000010000ff0200"


def test_exception_response_with_invocation_counter() -> None:
    apdu = ExceptionResponse(StateError.SERVICE_UNKNOWN, ServiceError.INVOCATION_COUNTER_ERROR, 0x1000)
    assert apdu.to_bytes().hex() == "d8020600001000"
    assert decode_apdu(bytes.fromhex("d80102")) == ExceptionResponse(
        StateError.SERVICE_NOT_ALLOWED, ServiceError.SERVICE_NOT_SUPPORTED
    )
    with pytest.raises(EncodeError, match="only with it"):
        ExceptionResponse(StateError.SERVICE_UNKNOWN, ServiceError.INVOCATION_COUNTER_ERROR).to_bytes()
    with pytest.raises(EncodeError, match="only with it"):
        ExceptionResponse(StateError.SERVICE_UNKNOWN, ServiceError.OTHER_REASON, 5).to_bytes()


def test_unused_acse_fields_are_accepted_and_dropped() -> None:
    # called-AP-title (A2), calling-AE-qualifier (A7), implementation-information (9D), protocol-version (80)
    extra = bytes.fromhex("80020780 a2030401aa a7030401bb 9d027879")
    body = GB_AARQ[2:]
    apdu = bytes([0x60, len(body) + len(extra)]) + extra + body
    assert decode_apdu(apdu) == decode_apdu(GB_AARQ)


def test_long_ber_lengths() -> None:
    aarq = Aarq(
        application_context=ApplicationContext.LN_CIPHERED,
        calling_ap_title=CLIENT_TITLE,
        user_information=CipheredInitiate(0x21, 0x30, 7, bytes(300)),
    )
    raw = aarq.to_bytes()
    assert raw[:4] == bytes([0x60, 0x82]) + (len(raw) - 4).to_bytes(2, "big")
    assert decode_apdu(raw) == aarq


# --- refusals name the field, the value and what is allowed -------------------------------------------------


@pytest.mark.parametrize(
    ("hex_apdu", "error", "message"),
    [
        ("", TruncatedError, "empty APDU"),
        ("99", UnknownTagError, "APDU tag 99 is not supported"),
        ("c004c1", UnknownTagError, "get-request choice 4 is not supported"),
        ("c0", TruncatedError, "before its choice byte"),
        ("c001c10008000001", TruncatedError, "logical name at offset 5 needs 6 bytes, 3 left"),
        ("c001c100080000010000ff020000", LengthError, "1 bytes after the get-request-normal"),
        ("c001c100080000010000ff0205", CodecError, "access-selection presence byte 05"),
        ("c401c10105", UnknownTagError, "data-access-result 5 is not defined"),
        ("c501c107", UnknownTagError, "data-access-result 7 is not defined"),
        ("c701c105", UnknownTagError, "action-result 5 is not defined"),
        ("c401c102", UnknownTagError, "get-data-result choice 2"),
        ("d80301", UnknownTagError, "state-error 3 is not defined"),
        ("d80206", TruncatedError, "invocation counter"),
        ("0e010b01", UnknownTagError, "service error class 11 is not defined"),
        ("6004a1020000", UnknownTagError, "application-context-name is tagged 00"),
        ("600aa1080606608574050901", UnknownTagError, "not a DLMS UA name"),
        ("600ba109060760857405080109", UnknownTagError, "application context 9 is not defined"),
        ("6002a000", UnknownTagError, "AARQ field tag A0"),
        ("6000", CodecError, "AARQ has no application-context-name (A1), which is mandatory"),
        ("6004a180a100", LengthError, "indefinite BER length"),
        ("6016a109060760857405080101a109060760857405080101", CodecError, "appears twice"),
        ("6010a1090607608574050801018b03010203", UnknownTagError, "mechanism-name 010203"),
        ("6011a109060760857405080101be0404020700", UnknownTagError, "user-information holds xDLMS tag 07"),
        ("6010a109060760857405080101ac038101aa", UnknownTagError, "authentication-value is tagged 81"),
        ("6110a109060760857405080101a203020105", UnknownTagError, "association result 5 is not defined"),
    ],
)
def test_malformed_apdus_raise_named_codec_errors(hex_apdu: str, error: type[CodecError], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        decode_apdu(bytes.fromhex(hex_apdu))


def test_nesting_is_bounded() -> None:
    deep = bytes.fromhex("c101c100030100010800ff0200") + b"\x02\x01" * 40 + b"\x00"
    with pytest.raises(LengthError, match="nested deeper"):
        decode_apdu(deep)


def test_initiate_request_needs_the_conformance_header() -> None:
    with pytest.raises(CodecError, match="conformance block header 5f1f0500"):
        InitiateRequest.from_bytes(bytes.fromhex("01000000065f1f0500007e1f04b0"))


def test_encode_refusals() -> None:
    with pytest.raises(EncodeError, match="logical name"):
        GetRequestNormal(attribute=AttributeDescriptor(8, b"\x00" * 5, 2)).to_bytes()
    with pytest.raises(EncodeError, match="attribute-id 128"):
        GetRequestNormal(attribute=AttributeDescriptor(8, CLOCK, 128)).to_bytes()
    with pytest.raises(EncodeError, match="class-id 65536"):
        GetRequestNormal(attribute=AttributeDescriptor(65536, CLOCK, 2)).to_bytes()
    with pytest.raises(EncodeError, match="block-number"):
        GetRequestNext(block_number=1 << 32).to_bytes()
    with pytest.raises(EncodeError, match="cannot hold xDLMS tag 28"):
        Aarq(user_information=CipheredInitiate(0x28, 0x30, 1, b"")).to_bytes()
    with pytest.raises(EncodeError, match="data-access-result 5"):
        SetResponseNormal(result=5).to_bytes()  # type: ignore[arg-type]


# --- hypothesis: round trips and fuzzing ---------------------------------------------------------------------

_INT_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.INTEGER: (-(1 << 7), (1 << 7) - 1),
    DataType.LONG: (-(1 << 15), (1 << 15) - 1),
    DataType.DOUBLE_LONG: (-(1 << 31), (1 << 31) - 1),
    DataType.LONG64: (-(1 << 63), (1 << 63) - 1),
    DataType.UNSIGNED: (0, 0xFF),
    DataType.ENUM: (0, 0xFF),
    DataType.LONG_UNSIGNED: (0, 0xFFFF),
    DataType.DOUBLE_LONG_UNSIGNED: (0, 0xFFFFFFFF),
    DataType.LONG64_UNSIGNED: (0, (1 << 64) - 1),
}


def _int_data(kind: DataType) -> st.SearchStrategy[Data]:
    low, high = _INT_RANGES[kind]
    return st.integers(low, high).map(lambda value: Data(kind, value))


_scalars = st.one_of(
    st.just(Data(DataType.NULL_DATA)),
    st.booleans().map(lambda v: Data(DataType.BOOLEAN, v)),
    st.lists(st.booleans(), max_size=20).map(lambda bits: Data(DataType.BIT_STRING, tuple(bits))),
    *[_int_data(kind) for kind in _INT_RANGES],
    st.binary(max_size=40).map(lambda v: Data(DataType.OCTET_STRING, v)),
    st.text(st.characters(max_codepoint=255), max_size=20).map(lambda v: Data(DataType.VISIBLE_STRING, v)),
    st.text(max_size=20).map(lambda v: Data(DataType.UTF8_STRING, v)),
    st.floats(width=32, allow_nan=False).map(lambda v: Data(DataType.FLOAT32, v)),
    st.floats(allow_nan=False).map(lambda v: Data(DataType.FLOAT64, v)),
)
data_values: st.SearchStrategy[Data] = st.recursive(
    _scalars,
    lambda inner: st.tuples(st.sampled_from([DataType.ARRAY, DataType.STRUCTURE]), st.lists(inner, max_size=4)).map(
        lambda kind_items: Data(kind_items[0], tuple(kind_items[1]))
    ),
    max_leaves=12,
)

invokes = st.builds(InvokeIdAndPriority, st.integers(0, 15), st.booleans(), st.booleans())
attributes = st.builds(
    AttributeDescriptor, st.integers(0, 0xFFFF), st.binary(min_size=6, max_size=6), st.integers(-128, 127)
)
methods = st.builds(MethodDescriptor, st.integers(0, 0xFFFF), st.binary(min_size=6, max_size=6), st.integers(-128, 127))
accesses = st.none() | st.builds(AccessSelection, st.integers(0, 255), data_values)
conformances = st.integers(0, (1 << 24) - 1).map(Conformance)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
get_data_results = data_values | st.sampled_from(DataAccessResult)
diagnostics = st.sampled_from(AcseUserDiagnostic) | st.sampled_from(AcseProviderDiagnostic)
titles = st.none() | st.binary(max_size=16)
mechanisms = st.none() | st.sampled_from(AuthenticationMechanism)


def _ciphered(tag: int) -> st.SearchStrategy[CipheredInitiate]:
    return st.builds(CipheredInitiate, st.just(tag), st.integers(0, 255), u32, st.binary(max_size=200))


initiate_requests = st.builds(
    InitiateRequest,
    proposed_conformance=conformances,
    client_max_receive_pdu_size=u16,
    proposed_dlms_version=st.integers(0, 255),
    dedicated_key=st.none() | st.binary(max_size=32),
    response_allowed=st.booleans(),
    proposed_quality_of_service=st.none() | st.integers(-128, 127),
)
initiate_responses = st.builds(
    InitiateResponse,
    negotiated_conformance=conformances,
    server_max_receive_pdu_size=u16,
    negotiated_dlms_version=st.integers(0, 255),
    negotiated_quality_of_service=st.none() | st.integers(-128, 127),
    vaa_name=u16,
)
confirmed_service_errors = st.builds(
    ConfirmedServiceError, st.sampled_from(ConfirmedService), st.sampled_from(ServiceErrorClass), st.integers(0, 255)
)

apdus: st.SearchStrategy[Apdu] = st.one_of(
    st.builds(
        Aarq,
        user_information=st.none() | initiate_requests | _ciphered(0x21),
        application_context=st.sampled_from(ApplicationContext),
        calling_ap_title=titles,
        authentication=st.booleans(),
        mechanism=mechanisms,
        calling_authentication_value=st.none() | st.binary(max_size=64),
    ),
    st.builds(
        Aare,
        result=st.sampled_from(AssociationResult),
        diagnostic=diagnostics,
        application_context=st.sampled_from(ApplicationContext),
        responding_ap_title=titles,
        authentication=st.booleans(),
        mechanism=mechanisms,
        responding_authentication_value=st.none() | st.binary(max_size=64),
        user_information=st.none() | initiate_responses | confirmed_service_errors | _ciphered(0x28),
    ),
    st.builds(
        ReleaseRequest,
        reason=st.none() | st.sampled_from(ReleaseRequestReason),
        user_information=st.none() | initiate_requests | _ciphered(0x21),
    ),
    st.builds(
        ReleaseResponse,
        reason=st.none() | st.sampled_from(ReleaseResponseReason),
        user_information=st.none() | initiate_responses | _ciphered(0x28),
    ),
    st.builds(GetRequestNormal, invoke=invokes, attribute=attributes, access=accesses),
    st.builds(GetRequestNext, invoke=invokes, block_number=u32),
    st.builds(
        GetRequestWithList,
        invoke=invokes,
        attributes=st.lists(st.builds(AttributeWithSelection, attributes, accesses), max_size=5).map(tuple),
    ),
    st.builds(GetResponseNormal, invoke=invokes, result=get_data_results),
    st.builds(
        GetResponseWithBlock,
        invoke=invokes,
        last_block=st.booleans(),
        block_number=u32,
        result=st.binary(max_size=300) | st.sampled_from(DataAccessResult),
    ),
    st.builds(GetResponseWithList, invoke=invokes, results=st.lists(get_data_results, max_size=5).map(tuple)),
    st.builds(SetRequestNormal, invoke=invokes, attribute=attributes, access=accesses, value=data_values),
    st.builds(SetResponseNormal, invoke=invokes, result=st.sampled_from(DataAccessResult)),
    st.builds(ActionRequestNormal, invoke=invokes, method=methods, parameters=st.none() | data_values),
    st.builds(
        ActionResponseNormal,
        invoke=invokes,
        result=st.sampled_from(ActionResult),
        return_parameters=st.none() | get_data_results,
    ),
    st.builds(
        ExceptionResponse,
        st.sampled_from(StateError),
        st.sampled_from([e for e in ServiceError if e is not ServiceError.INVOCATION_COUNTER_ERROR]),
    ),
    st.builds(ExceptionResponse, st.sampled_from(StateError), st.just(ServiceError.INVOCATION_COUNTER_ERROR), u32),
    confirmed_service_errors,
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(apdus)
def test_round_trip(apdu: Apdu) -> None:
    raw = encode_apdu(apdu)
    assert decode_apdu(raw) == apdu
    assert type(apdu).from_bytes(raw) == apdu
    assert decode_apdu(raw).to_bytes() == raw


@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_raise_only_codec_errors(raw: bytes) -> None:
    with contextlib.suppress(CodecError):
        decode_apdu(raw)


_PREFIXES = [bytes.fromhex(h) for h in ("60", "61", "62", "63", "c001c1", "c002c1", "c003c1", "c401c1", "c402c1")]
_PREFIXES += [bytes.fromhex(h) for h in ("c403c1", "c101c1", "c501c1", "c301c1", "c701c1", "d8", "0e")]


@given(st.sampled_from(_PREFIXES), st.binary(max_size=120))
def test_fuzz_behind_every_tag(prefix: bytes, rest: bytes) -> None:
    with contextlib.suppress(CodecError):
        decode_apdu(prefix + rest)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(apdus, st.data())
def test_fuzz_mutated_apdus(apdu: Apdu, data: st.DataObject) -> None:
    raw = bytearray(encode_apdu(apdu))
    position = data.draw(st.integers(0, len(raw) - 1))
    if data.draw(st.booleans()):
        raw[position] = data.draw(st.integers(0, 255))
    else:
        del raw[position:]
    with contextlib.suppress(CodecError):
        decode_apdu(bytes(raw))


# --- conformance: requests dlms-cosem encodes decode with ours ---------------------------------------------

# dlms-cosem's Conformance attribute -> our flag (names differ; the bits must not)
_DC_CONFORMANCE: dict[str, Conformance] = {
    "general_protection": Conformance.GENERAL_PROTECTION,
    "general_block_transfer": Conformance.GENERAL_BLOCK_TRANSFER,
    "delta_value_encoding": Conformance.DELTA_VALUE_ENCODING,
    "attribute_0_supported_with_set": Conformance.ATTRIBUTE0_SUPPORTED_WITH_SET,
    "priority_management_supported": Conformance.PRIORITY_MGMT_SUPPORTED,
    "attribute_0_supported_with_get": Conformance.ATTRIBUTE0_SUPPORTED_WITH_GET,
    "block_transfer_with_get_or_read": Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ,
    "block_transfer_with_set_or_write": Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE,
    "block_transfer_with_action": Conformance.BLOCK_TRANSFER_WITH_ACTION,
    "multiple_references": Conformance.MULTIPLE_REFERENCES,
    "data_notification": Conformance.DATA_NOTIFICATION,
    "access": Conformance.ACCESS,
    "get": Conformance.GET,
    "set": Conformance.SET,
    "selective_access": Conformance.SELECTIVE_ACCESS,
    "event_notification": Conformance.EVENT_NOTIFICATION,
    "action": Conformance.ACTION,
}


def _ours(theirs: dc_xdlms.Conformance) -> Conformance:
    flags = Conformance(0)
    for name, flag in _DC_CONFORMANCE.items():
        if getattr(theirs, name):
            flags |= flag
    return flags


@pytest.mark.parametrize(("name", "flag"), _DC_CONFORMANCE.items())
def test_conformance_bits_match_dlms_cosem(name: str, flag: Conformance) -> None:
    theirs = dc_xdlms.Conformance(**{name: True}).to_bytes()
    assert Conformance(int.from_bytes(theirs[1:], "big")) == flag
    back = dc_xdlms.Conformance.from_bytes(b"\x00" + int(flag).to_bytes(3, "big"))
    assert [n for n in _DC_CONFORMANCE if getattr(back, n)] == [name]


@given(st.integers(0, 15), st.booleans(), st.booleans())
def test_invoke_id_and_priority_matches_dlms_cosem(invoke_id: int, confirmed: bool, high: bool) -> None:
    theirs = dc_xdlms.InvokeIdAndPriority(invoke_id=invoke_id, confirmed=confirmed, high_priority=high)
    assert InvokeIdAndPriority.from_byte(theirs.to_bytes()[0]) == InvokeIdAndPriority(invoke_id, confirmed, high)
    assert InvokeIdAndPriority(invoke_id, confirmed, high).to_byte() == theirs.to_bytes()[0]


def _dc_attribute(interface: dc_enums.CosemInterface, ln: bytes, attribute: int) -> cosem.CosemAttribute:
    return cosem.CosemAttribute(interface=interface, instance=cosem.Obis.from_bytes(ln), attribute=attribute)


def test_dlms_cosem_aarq_lowest() -> None:
    connection = DlmsConnection(authentication=NoSecurityAuthentication(), client_system_title=CLIENT_TITLE)
    their_aarq = connection.get_aarq()
    aarq = decode_apdu(their_aarq.to_bytes())
    assert isinstance(aarq, Aarq)
    assert aarq.application_context is ApplicationContext.LN
    assert aarq.calling_ap_title == CLIENT_TITLE
    assert (aarq.authentication, aarq.mechanism, aarq.calling_authentication_value) == (False, None, None)
    request = aarq.user_information
    assert isinstance(request, InitiateRequest)
    assert request.proposed_conformance == _ours(connection.conformance)
    assert Conformance.GET in request.proposed_conformance
    assert Conformance.GENERAL_PROTECTION not in request.proposed_conformance
    assert request.client_max_receive_pdu_size == 65535
    assert (request.proposed_dlms_version, request.dedicated_key, request.response_allowed) == (6, None, True)


def test_dlms_cosem_aarq_lls() -> None:
    connection = DlmsConnection(
        authentication=LowLevelSecurityAuthentication(secret=b"00000001"), client_system_title=CLIENT_TITLE
    )
    aarq = decode_apdu(connection.get_aarq().to_bytes())
    assert isinstance(aarq, Aarq)
    assert aarq.authentication is True
    assert aarq.mechanism is AuthenticationMechanism.LLS
    assert aarq.calling_authentication_value == b"00000001"
    assert isinstance(aarq.user_information, InitiateRequest)


def test_dlms_cosem_aarq_hls_gmac_ciphered() -> None:
    authentication = HighLevelSecurityGmacAuthentication(challenge_length=32)
    connection = DlmsConnection(
        authentication=authentication,
        client_system_title=CLIENT_TITLE,
        global_encryption_key=EK,
        global_authentication_key=AK,
        client_invocation_counter=41,
    )
    raw = connection.protect(connection.get_aarq()).to_bytes()
    aarq = decode_apdu(raw)
    assert isinstance(aarq, Aarq)
    assert aarq.ciphered
    assert aarq.application_context is ApplicationContext.LN_CIPHERED
    assert aarq.mechanism is AuthenticationMechanism.HLS_GMAC
    assert aarq.calling_authentication_value == authentication.calling_authentication_value
    ciphered = aarq.user_information
    assert isinstance(ciphered, CipheredInitiate)
    assert (ciphered.tag, ciphered.security_control, ciphered.invocation_counter) == (0x21, 0x30, 41)
    # The carried bytes decipher with our general-glo-ciphering code (IV = client system title + IC).
    payload = bytes([ciphered.security_control]) + ciphered.invocation_counter.to_bytes(4, "big") + ciphered.ciphered
    envelope = bytes([0xDB, 8]) + CLIENT_TITLE + bytes([len(payload)]) + payload
    request = InitiateRequest.from_bytes(decrypt_glo(envelope, EK, AK).apdu)
    assert request.proposed_conformance == _ours(connection.conformance)
    assert Conformance.GENERAL_PROTECTION in request.proposed_conformance


def test_dlms_cosem_release_requests() -> None:
    assert decode_apdu(dc_acse.ReleaseRequest().to_bytes()) == ReleaseRequest()
    plain = dc_acse.ReleaseRequest(reason=dc_enums.ReleaseRequestReason.URGENT).to_bytes()
    assert decode_apdu(plain) == ReleaseRequest(reason=ReleaseRequestReason.URGENT)
    connection = DlmsConnection(authentication=NoSecurityAuthentication(), client_system_title=CLIENT_TITLE)
    rlrq = decode_apdu(connection.get_rlrq().to_bytes())
    assert isinstance(rlrq, ReleaseRequest)
    assert rlrq.reason is ReleaseRequestReason.NORMAL
    assert isinstance(rlrq.user_information, InitiateRequest)
    assert rlrq.user_information.proposed_conformance == _ours(connection.conformance)


def test_dlms_cosem_get_request_normal() -> None:
    theirs = dc_xdlms.GetRequestNormal(
        cosem_attribute=_dc_attribute(dc_enums.CosemInterface.CLOCK, CLOCK, 2),
        invoke_id_and_priority=dc_xdlms.InvokeIdAndPriority(invoke_id=5, confirmed=True, high_priority=False),
    )
    assert decode_apdu(theirs.to_bytes()) == GetRequestNormal(
        invoke=InvokeIdAndPriority(5, True, False), attribute=AttributeDescriptor(8, CLOCK, 2)
    )


def test_dlms_cosem_get_request_with_range_access() -> None:
    start, end = datetime(2024, 3, 1, 0, 0), datetime(2024, 3, 2, 0, 15)
    theirs = dc_xdlms.GetRequestNormal(
        cosem_attribute=_dc_attribute(dc_enums.CosemInterface.PROFILE_GENERIC, LOAD_PROFILE, 2),
        access_selection=RangeDescriptor(
            restricting_object=CaptureObject(_dc_attribute(dc_enums.CosemInterface.CLOCK, CLOCK, 2)),
            from_value=start,
            to_value=end,
        ),
    )
    ours = decode_apdu(theirs.to_bytes())
    assert isinstance(ours, GetRequestNormal)
    assert ours.attribute == AttributeDescriptor(7, LOAD_PROFILE, 2)
    assert ours.access is not None and ours.access.selector == 1
    restricting, low, high, columns = ours.access.parameters.to_python()  # type: ignore[misc]
    assert restricting == [8, CLOCK, 2, 0]  # class, logical name, attribute, data index of the clock
    assert CosemDateTime.from_bytes(low).to_datetime() == start
    assert CosemDateTime.from_bytes(high).to_datetime() == end
    assert columns == []  # all columns


def test_dlms_cosem_get_request_next_and_with_list() -> None:
    assert decode_apdu(dc_xdlms.GetRequestNext(block_number=7).to_bytes()) == GetRequestNext(block_number=7)
    theirs = dc_xdlms.GetRequestWithList(
        cosem_attributes_with_selection=[
            cosem.CosemAttributeWithSelection(_dc_attribute(dc_enums.CosemInterface.CLOCK, CLOCK, 2), None),
            cosem.CosemAttributeWithSelection(_dc_attribute(dc_enums.CosemInterface.REGISTER, ACTIVE_ENERGY, 3), None),
        ]
    )
    assert decode_apdu(theirs.to_bytes()) == GetRequestWithList(
        attributes=(
            AttributeWithSelection(AttributeDescriptor(8, CLOCK, 2)),
            AttributeWithSelection(AttributeDescriptor(3, ACTIVE_ENERGY, 3)),
        )
    )


def test_dlms_cosem_set_request_normal() -> None:
    theirs = dc_xdlms.SetRequestNormal(
        cosem_attribute=_dc_attribute(dc_enums.CosemInterface.DATA, bytes([0, 0, 96, 1, 0, 255]), 2),
        data=dlms_data.VisibleStringData("5706567").to_bytes(),
        invoke_id_and_priority=dc_xdlms.InvokeIdAndPriority(invoke_id=3),
    )
    assert decode_apdu(theirs.to_bytes()) == SetRequestNormal(
        invoke=InvokeIdAndPriority(3, True, True),
        attribute=AttributeDescriptor(1, bytes([0, 0, 96, 1, 0, 255]), 2),
        value=Data(DataType.VISIBLE_STRING, "5706567"),
    )


def test_dlms_cosem_action_request_normal() -> None:
    method = cosem.CosemMethod(
        interface=dc_enums.CosemInterface.DISCONNECT_CONTROL, instance=cosem.Obis.from_bytes(DISCONNECTOR), method=1
    )
    with_data = dc_xdlms.ActionRequestNormal(cosem_method=method, data=dlms_data.IntegerData(0).to_bytes())
    assert decode_apdu(with_data.to_bytes()) == ActionRequestNormal(
        invoke=InvokeIdAndPriority(0, True, True),
        method=MethodDescriptor(70, DISCONNECTOR, 1),
        parameters=Data(DataType.INTEGER, 0),
    )
    without = dc_xdlms.ActionRequestNormal(cosem_method=method)
    assert decode_apdu(without.to_bytes()) == ActionRequestNormal(
        invoke=InvokeIdAndPriority(0, True, True), method=MethodDescriptor(70, DISCONNECTOR, 1)
    )


# --- conformance: responses we encode parse with dlms-cosem ----------------------------------------------------


def _theirs(apdu: Apdu) -> Any:
    """dlms-cosem's reading of our bytes, through the factory its client uses."""
    return XDlmsApduFactory.apdu_from_bytes(apdu.to_bytes())


def test_aare_accepted_parses_with_dlms_cosem() -> None:
    negotiated = Conformance.GET | Conformance.SET | Conformance.ACTION | Conformance.SELECTIVE_ACCESS
    aare = Aare(
        result=AssociationResult.ACCEPTED,
        diagnostic=AcseUserDiagnostic.NULL,
        responding_ap_title=METER_TITLE,
        user_information=InitiateResponse(
            negotiated_conformance=negotiated | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ,
            server_max_receive_pdu_size=0x01F4,
        ),
    )
    theirs = _theirs(aare)
    assert isinstance(theirs, dc_acse.ApplicationAssociationResponse)
    assert theirs.result is dc_enums.AssociationResult.ACCEPTED
    assert theirs.result_source_diagnostics is dc_enums.AcseServiceUserDiagnostics.NULL
    assert theirs.ciphered is False
    assert theirs.system_title == METER_TITLE
    assert theirs.authentication is None
    response = theirs.user_information.content
    assert isinstance(response, dc_xdlms.InitiateResponse)
    assert response.server_max_receive_pdu_size == 500
    assert response.negotiated_dlms_version_number == 6
    assert _ours(response.negotiated_conformance) == negotiated | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ


def test_aare_hls_gmac_ciphered_parses_and_deciphers_with_dlms_cosem() -> None:
    plain = InitiateResponse(
        negotiated_conformance=Conformance.GENERAL_PROTECTION | Conformance.GET, server_max_receive_pdu_size=1024
    ).to_bytes()
    envelope = parse_glo(encrypt_glo(plain, METER_TITLE, 77, EK, AK))
    challenge = bytes(range(32, 64))
    aare = Aare(
        result=AssociationResult.ACCEPTED,
        diagnostic=AcseUserDiagnostic.AUTHENTICATION_REQUIRED,
        application_context=ApplicationContext.LN_CIPHERED,
        responding_ap_title=METER_TITLE,
        authentication=True,
        mechanism=AuthenticationMechanism.HLS_GMAC,
        responding_authentication_value=challenge,
        user_information=CipheredInitiate(0x28, envelope.security_control, 77, envelope.content),
    )
    theirs = _theirs(aare)
    assert theirs.ciphered is True
    assert theirs.result_source_diagnostics is dc_enums.AcseServiceUserDiagnostics.AUTHENTICATION_REQUIRED
    assert theirs.authentication is dc_enums.AuthenticationMechanism.HLS_GMAC
    assert theirs.authentication_value == challenge
    assert theirs.system_title == METER_TITLE
    assert isinstance(theirs.user_information.content, dc_xdlms.GlobalCipherInitiateResponse)
    assert theirs.user_information.content.invocation_counter == 77
    client = DlmsConnection(
        authentication=HighLevelSecurityGmacAuthentication(),
        client_system_title=CLIENT_TITLE,
        global_encryption_key=EK,
        global_authentication_key=AK,
        meter_system_title=METER_TITLE,
    )
    response = client.unprotect(theirs).user_information.content
    assert isinstance(response, dc_xdlms.InitiateResponse)
    assert response.server_max_receive_pdu_size == 1024
    assert response.negotiated_conformance.general_protection and response.negotiated_conformance.get


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (AcseUserDiagnostic.AUTHENTICATION_FAILURE, dc_enums.AcseServiceUserDiagnostics.AUTHENTICATION_FAILED),
        (
            AcseUserDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
            dc_enums.AcseServiceUserDiagnostics.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
        ),
        (
            AcseUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED,
            dc_enums.AcseServiceUserDiagnostics.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNIZED,
        ),
        (AcseProviderDiagnostic.NO_COMMON_ACSE_VERSION, dc_enums.AcseServiceProviderDiagnostics.NO_COMMON_ACSE_VERSION),
    ],
)
def test_aare_rejected_parses_with_dlms_cosem(
    ours: AcseUserDiagnostic | AcseProviderDiagnostic, theirs: IntEnum
) -> None:
    parsed = _theirs(Aare(result=AssociationResult.REJECTED_PERMANENT, diagnostic=ours))
    assert parsed.result is dc_enums.AssociationResult.REJECTED_PERMANENT
    assert parsed.result_source_diagnostics is theirs
    assert parsed.user_information is None


def test_aare_refusing_the_initiate_parses_with_dlms_cosem() -> None:
    aare = Aare(
        result=AssociationResult.REJECTED_PERMANENT,
        diagnostic=AcseUserDiagnostic.NO_REASON_GIVEN,
        user_information=ConfirmedServiceError(
            ConfirmedService.INITIATE_ERROR, ServiceErrorClass.INITIATE, InitiateError.DLMS_VERSION_TOO_LOW
        ),
    )
    assert aare.to_bytes().endswith(bytes.fromhex("be0604040e010601"))
    parsed = _theirs(aare)
    assert parsed.result is dc_enums.AssociationResult.REJECTED_PERMANENT
    assert parsed.result_source_diagnostics is dc_enums.AcseServiceUserDiagnostics.NO_REASON_GIVEN
    error = parsed.user_information.content
    assert isinstance(error, dc_xdlms.ConfirmedServiceError)
    assert error.error is dc_enums.InitiateError.DLMS_VERSION_TOO_LOW


REGISTER_VALUE = Data.structure(
    Data(DataType.DOUBLE_LONG_UNSIGNED, 1234567), Data.structure(Data(DataType.INTEGER, -3), Data(DataType.ENUM, 30))
)


def test_get_response_normal_with_data_parses_with_dlms_cosem() -> None:
    invoke = InvokeIdAndPriority(9, True, False)
    theirs = _theirs(GetResponseNormal(invoke=invoke, result=REGISTER_VALUE))
    assert isinstance(theirs, dc_xdlms.GetResponseNormal)
    assert theirs.invoke_id_and_priority == dc_xdlms.InvokeIdAndPriority(9, True, False)
    assert parse_as_dlms_data(theirs.data) == [1234567, [-3, 30]]


def test_get_response_normal_with_error_parses_with_dlms_cosem() -> None:
    theirs = _theirs(GetResponseNormal(result=DataAccessResult.OBJECT_UNDEFINED))
    assert isinstance(theirs, dc_xdlms.GetResponseNormalWithError)
    assert theirs.error is dc_enums.DataAccessResult.OBJECT_UNDEFINED


def test_get_response_with_block_parses_with_dlms_cosem() -> None:
    raw_data = bytes(range(200))  # a block longer than 127 bytes: two-byte A-XDR length
    middle = _theirs(GetResponseWithBlock(last_block=False, block_number=3, result=raw_data))
    assert isinstance(middle, dc_xdlms.GetResponseWithBlock)
    assert (middle.block_number, middle.data) == (3, raw_data)
    last = _theirs(GetResponseWithBlock(last_block=True, block_number=4, result=b"\x01\x02"))
    assert isinstance(last, dc_xdlms.GetResponseLastBlock)
    assert (last.block_number, last.data) == (4, b"\x01\x02")
    failed = _theirs(
        GetResponseWithBlock(last_block=True, block_number=5, result=DataAccessResult.DATA_BLOCK_NUMBER_INVALID)
    )
    assert isinstance(failed, dc_xdlms.GetResponseLastBlockWithError)
    assert (failed.block_number, failed.error) == (5, dc_enums.DataAccessResult.DATA_BLOCK_NUMBER_INVALID)


def test_get_response_with_list_parses_with_dlms_cosem() -> None:
    results = (
        Data(DataType.LONG_UNSIGNED, 2301),
        DataAccessResult.READ_WRITE_DENIED,
        Data(DataType.OCTET_STRING, CLOCK),
    )
    theirs = _theirs(GetResponseWithList(invoke=InvokeIdAndPriority(2), results=results))
    assert isinstance(theirs, dc_xdlms.GetResponseWithList)
    assert theirs.result == [2301, dc_enums.DataAccessResult.READ_WRITE_DENIED, CLOCK]


@pytest.mark.parametrize("result", [DataAccessResult.SUCCESS, DataAccessResult.TYPE_UNMATCHED])
def test_set_response_parses_with_dlms_cosem(result: DataAccessResult) -> None:
    theirs = _theirs(SetResponseNormal(invoke=InvokeIdAndPriority(4), result=result))
    assert isinstance(theirs, dc_xdlms.SetResponseNormal)
    assert theirs.result == result
    assert theirs.invoke_id_and_priority.invoke_id == 4


def test_action_responses_parse_with_dlms_cosem() -> None:
    plain = _theirs(ActionResponseNormal(result=ActionResult.SUCCESS))
    assert isinstance(plain, dc_xdlms.ActionResponseNormal)
    assert plain.status is dc_enums.ActionResultStatus.SUCCESS
    with_data = _theirs(ActionResponseNormal(result=ActionResult.SUCCESS, return_parameters=REGISTER_VALUE))
    assert isinstance(with_data, dc_xdlms.ActionResponseNormalWithData)
    assert parse_as_dlms_data(bytes(with_data.data)) == [1234567, [-3, 30]]
    refused = _theirs(
        ActionResponseNormal(result=ActionResult.OTHER_REASON, return_parameters=DataAccessResult.TEMPORARY_FAILURE)
    )
    assert isinstance(refused, dc_xdlms.ActionResponseNormalWithError)
    assert refused.status is dc_enums.ActionResultStatus.OTHER_REASON
    assert refused.error is dc_enums.DataAccessResult.TEMPORARY_FAILURE


def test_exception_responses_parse_with_dlms_cosem() -> None:
    theirs = _theirs(ExceptionResponse(StateError.SERVICE_NOT_ALLOWED, ServiceError.OPERATION_NOT_POSSIBLE))
    assert isinstance(theirs, dc_xdlms.ExceptionResponse)
    assert theirs.state_error is dc_enums.StateException.SERVICE_NOT_ALLOWED
    assert theirs.service_error is dc_enums.ServiceException.OPERATION_NOT_POSSIBLE
    counter = _theirs(ExceptionResponse(StateError.SERVICE_UNKNOWN, ServiceError.INVOCATION_COUNTER_ERROR, 0x01020304))
    assert counter.service_error is dc_enums.ServiceException.INVOCATION_COUNTER_ERROR
    assert counter.invocation_counter_data == 0x01020304


def test_release_responses_parse_with_dlms_cosem() -> None:
    plain = _theirs(ReleaseResponse(reason=ReleaseResponseReason.NORMAL))
    assert isinstance(plain, dc_acse.ReleaseResponse)
    assert plain.reason is dc_enums.ReleaseResponseReason.NORMAL
    assert plain.user_information is None
    with_initiate = _theirs(
        ReleaseResponse(
            reason=ReleaseResponseReason.NOT_FINISHED,
            user_information=InitiateResponse(negotiated_conformance=Conformance.GET, server_max_receive_pdu_size=256),
        )
    )
    assert with_initiate.reason is dc_enums.ReleaseResponseReason.NOT_FINISHED
    assert with_initiate.user_information.content.server_max_receive_pdu_size == 256


# --- where dlms-cosem departs from the standard (pinned so a fix upstream is noticed) --------------------------


def test_dlms_cosem_sends_the_invocation_counter_as_one_byte() -> None:
    # invocation-counter-error [6] IMPLICIT Unsigned32: four bytes. dlms-cosem writes one byte
    # (and cannot encode a counter above 255), so we refuse its frame as truncated.
    theirs = dc_xdlms.ExceptionResponse(
        dc_enums.StateException.SERVICE_UNKNOWN, dc_enums.ServiceException.INVOCATION_COUNTER_ERROR, 5
    ).to_bytes()
    assert theirs == bytes.fromhex("d8020605")
    with pytest.raises(TruncatedError, match="invocation counter"):
        decode_apdu(theirs)


def test_dlms_cosem_reads_only_short_form_ber_lengths() -> None:
    # An AARQ above 127 content bytes needs the long length form (60 81 xx); dlms-cosem reads
    # one length byte, so it cannot parse it, and its BER.encode writes 128..255 in short form.
    aarq = Aarq(
        application_context=ApplicationContext.LN_CIPHERED,
        calling_ap_title=CLIENT_TITLE,
        user_information=CipheredInitiate(0x21, 0x30, 1, bytes(150)),
    )
    raw = aarq.to_bytes()
    assert raw[:2] == b"\x60\x81"
    with pytest.raises(ValueError, match="lenght"):
        dc_acse.ApplicationAssociationRequest.from_bytes(raw)


def test_dlms_cosem_cannot_send_negative_attribute_ids() -> None:
    # attribute-id is Integer8; negative ids are manufacturer specific. dlms-cosem encodes it unsigned.
    with pytest.raises(OverflowError):
        _dc_attribute(dc_enums.CosemInterface.CLOCK, CLOCK, -1).to_bytes()
    assert decode_apdu(bytes.fromhex("c001c100080000010000ffff00")) == GetRequestNormal(
        attribute=AttributeDescriptor(8, CLOCK, -1)
    )


@given(st.lists(get_data_results, max_size=8))
def test_a_result_list_round_trips_and_is_the_with_list_body(results: list[Data | DataAccessResult]) -> None:
    """What a list's answer in blocks carries is exactly the body of get-response-with-list."""
    raw = encode_result_list(results)
    assert decode_result_list(raw) == tuple(results)
    assert GetResponseWithList(results=tuple(results)).to_bytes()[3:] == raw  # after tag, choice, invoke
    with pytest.raises(CodecError):
        decode_result_list(raw + b"\x00")
