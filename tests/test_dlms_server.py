"""The simulated meter's DLMS/COSEM server over the IEC 62056-47 wrapper, judged by an independent client: dlms-cosem's
`DlmsClient` reads the values the model holds, is refused what its association may not do, and operates the
breaker through Disconnect Control with the management password."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from dlms_cosem import cosem, enumerations
from dlms_cosem.client import ActionError, HLSError
from dlms_cosem.exceptions import DlmsClientException
from dlms_cosem.time import datetime_from_bytes, datetime_to_bytes
from dlms_harness import (
    AK,
    CLIENT_TITLE,
    EK,
    PASSWORD,
    START,
    ServedMeter,
    assert_association_refused,
    obis,
    simulator_client,
    stepped_meter,
    value,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.dlms_server import DlmsAssociation
from omnipower import dlms_apdu as ap
from omnipower.cosem import cosem_objects
from omnipower.dlms import Data

REGISTER = enumerations.CosemInterface.REGISTER


@pytest.fixture
def served() -> Iterator[ServedMeter]:
    # a morning of energy, peaks and a load profile
    with ServedMeter(stepped_meter("dlms1", {"dlms": {"password": PASSWORD}}, hours=6)) as server:
        yield server


def test_the_public_client_reads_registers_with_scaler_and_unit(served: ServedMeter) -> None:
    readings = served.meter.readings()
    with served.client().session() as client:
        for key, unit, per_unit in (("a_plus", 30, 1000.0), ("a_minus", 30, 1000.0), ("p_minus", 27, 1.0),
                                    ("u_l1", 35, 1.0), ("i_l2", 33, 1.0), ("frequency", 44, 1.0)):
            ln = obis(next(r.logical_name for r in served.meter.registers if r.key == key))
            count = value(client.get(cosem.CosemAttribute(REGISTER, ln, 2)))
            scaler, got_unit = value(client.get(cosem.CosemAttribute(REGISTER, ln, 3)))
            assert got_unit == unit, key
            published = readings[key]
            assert isinstance(published, float)
            # the count's resolution (10 Wh, 1 W, 1 V, 0.01 A) is coarser than or equal to the published one
            assert count * 10**scaler / per_unit == pytest.approx(published, abs=10**scaler / per_unit), key
        assert readings["a_minus"] > 0 and readings["p_minus"] > 0  # a sunny morning: the values mean something


def test_the_clock_and_the_logical_device_name(served: ServedMeter) -> None:
    with served.client().session() as client:
        raw = client.get(cosem.CosemAttribute(enumerations.CosemInterface.CLOCK, obis("0.1.1.0.0.255"), 2))
        name = client.get(cosem.CosemAttribute(enumerations.CosemInterface.DATA, obis("0.0.42.0.0.255"), 2))
    when, _status = datetime_from_bytes(value(raw))
    assert when.timestamp() == served.meter.t  # local time with its deviation names the meter's instant
    assert value(name).startswith(b"KAM")


def test_the_object_list_is_the_register_table_s_face(served: ServedMeter) -> None:
    with served.client().session() as client:
        raw = client.get(cosem.CosemAttribute(enumerations.CosemInterface.ASSOCIATION_LN, obis("0.0.40.0.0.255"), 2))
    entries = value(raw)  # longer than one APDU: read in blocks
    listed = {(e[0], bytes(e[2])) for e in entries}
    expected = {(int(o.class_id), o.logical_name) for o in cosem_objects(served.meter.registers)}
    assert listed == expected
    assert (3, bytes((1, 1, 1, 8, 0, 255))) in listed and (70, bytes((1, 1, 128, 0, 11, 255))) in listed


def test_unknown_and_inconsistent_objects_get_their_codes(served: ServedMeter) -> None:
    with served.client().session() as client:
        with pytest.raises(Exception, match="OBJECT_UNDEFINED"):
            client.get(cosem.CosemAttribute(REGISTER, obis("1.1.99.99.9.255"), 2))
        with pytest.raises(Exception, match="OBJECT_CLASS_INCONSISTENT"):
            client.get(cosem.CosemAttribute(enumerations.CosemInterface.DATA, obis("1.1.1.8.0.255"), 2))


def test_the_public_client_cannot_operate_the_breaker(served: ServedMeter) -> None:
    with served.client().session() as client, pytest.raises(ActionError, match="READ_WRITE_DENIED"):
        client.action(cosem.CosemMethod(enumerations.CosemInterface.DISCONNECT_CONTROL,
                                        obis("1.1.128.0.11.255"), 1), b"\x0f\x00")
    assert served.meter.breaker.state == "connected"


def test_the_management_client_disconnects_and_releases_the_breaker(served: ServedMeter) -> None:
    control = obis("1.1.128.0.11.255")
    state = cosem.CosemAttribute(enumerations.CosemInterface.DISCONNECT_CONTROL, control, 3)
    with served.client(1, PASSWORD).session() as client:
        assert value(client.get(state)) == 1  # connected
        client.action(cosem.CosemMethod(enumerations.CosemInterface.DISCONNECT_CONTROL, control, 1), b"\x0f\x00")
        assert served.meter.breaker.state == "disconnected" and value(client.get(state)) == 0
        with pytest.raises(ActionError, match="TEMPORARY_FAILURE"):  # already disconnected
            client.action(cosem.CosemMethod(enumerations.CosemInterface.DISCONNECT_CONTROL, control, 1), b"\x0f\x00")
        served.meter.clock.advance(10)  # past the minimum reconnection delay
        client.action(cosem.CosemMethod(enumerations.CosemInterface.DISCONNECT_CONTROL, control, 2), b"\x0f\x00")
        # remote_reconnect releases: the customer's button reconnects (§5.6, push_button_requires_release)
        assert served.meter.breaker.state == "ready_for_reconnection" and value(client.get(state)) == 2


def test_the_management_client_sets_the_clock_and_the_public_one_cannot(served: ServedMeter) -> None:
    clock = cosem.CosemAttribute(enumerations.CosemInterface.CLOCK, obis("0.1.1.0.0.255"), 2)
    target = datetime.fromtimestamp(served.meter.t + 3600, timezone(timedelta(hours=5)))  # any offset names it
    with served.client().session() as client:
        refused = client.set(clock, b"\x09\x0c" + datetime_to_bytes(target))
    assert refused.result is enumerations.DataAccessResult.READ_WRITE_DENIED
    with served.client(1, PASSWORD).session() as client:
        done = client.set(clock, b"\x09\x0c" + datetime_to_bytes(target))
        when, _ = datetime_from_bytes(value(client.get(clock)))
    assert done.result is enumerations.DataAccessResult.SUCCESS
    assert served.meter.t == target.timestamp() == when.timestamp()
    events, _ = served.meter.logs.query("rtc_adjustment")
    assert events[-1].detail["source"] == "dlms" and events[-1].detail["delta_s"] == 3600


@pytest.mark.parametrize("password", [None, "wrong"])
def test_the_management_client_needs_the_password(served: ServedMeter, password: str | None) -> None:
    assert_association_refused(served.client(1, password))


def test_without_a_configured_password_the_management_client_is_refused() -> None:
    with ServedMeter(stepped_meter("dlms1", hours=6)) as server:
        assert_association_refused(server.client(1, ""))


def test_requests_before_the_association_and_garbage_get_exception_responses() -> None:
    meter = Meter("m", MeterSimSettings(), SteppedClock(START))
    association = DlmsAssociation(meter, 16)
    get = ap.GetRequestNormal(attribute=ap.AttributeDescriptor(3, bytes((1, 1, 1, 8, 0, 255)), 2)).to_bytes()
    before = ap.decode_apdu(association.handle(get))
    assert isinstance(before, ap.ExceptionResponse) and before.state_error is ap.StateError.SERVICE_NOT_ALLOWED
    garbage = ap.decode_apdu(association.handle(b"\xc0\x01"))
    assert isinstance(garbage, ap.ExceptionResponse)


def test_omnipower_sim_serve_dlms_answers_a_head_end(tmp_path: Any) -> None:
    """The command line's --dlms: a real process, read by the independent client."""
    with simulator_client(tmp_path, "--dlms") as client:
        client.associate()
        frequency = value(client.get(cosem.CosemAttribute(REGISTER, obis("1.1.14.7.0.255"), 2)))
        client.release_association()
        client.disconnect()
        assert 4900 <= frequency <= 5100  # 49–51 Hz in hundredths


def _associated() -> DlmsAssociation:
    association = DlmsAssociation(Meter("m", MeterSimSettings(), SteppedClock(START)), 16)
    aarq = ap.Aarq(user_information=ap.InitiateRequest(proposed_conformance=ap.Conformance.GET | ap.Conformance.SET))
    aare = ap.decode_apdu(association.handle(aarq.to_bytes()))
    assert isinstance(aare, ap.Aare) and aare.result is ap.AssociationResult.ACCEPTED
    return association


_ASSOCIATED = _associated()
_GET_PREFIX = ap.GetRequestNormal(attribute=ap.AttributeDescriptor(3, bytes(6), 2)).to_bytes()[:3]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=64), st.binary(max_size=40).map(lambda tail: _GET_PREFIX + tail),
                 st.binary(max_size=40).map(lambda tail: b"\xc1\x01\xc1" + tail),
                 st.binary(max_size=40).map(lambda tail: b"\xc3\x01\xc1" + tail),
                 st.binary(max_size=40).map(lambda tail: b"\x60" + tail)))
def test_any_apdu_gets_a_decodable_answer_and_never_an_exception(apdu: bytes) -> None:
    answer = ap.decode_apdu(_ASSOCIATED.handle(apdu))
    assert isinstance(answer, ap.ExceptionResponse | ap.GetResponseNormal | ap.SetResponseNormal | ap.Aare
                      | ap.ActionResponseNormal | ap.ReleaseResponse | ap.GetResponseWithBlock)
    if not _ASSOCIATED.associated:  # an AARQ that was refused ends the association: start a new one
        _ASSOCIATED.handle(ap.Aarq(user_information=ap.InitiateRequest(
            proposed_conformance=ap.Conformance.GET)).to_bytes())


# --- high-level security: HLS-GMAC, security suite 0 ------------------------------------------------------------------
@pytest.fixture
def served_hls() -> Iterator[ServedMeter]:
    settings = {"dlms": {"password": PASSWORD, "encryption_key": EK, "authentication_key": AK}}
    with ServedMeter(stepped_meter("dlms1", settings, hours=6)) as server:
        yield server


def test_hls_gmac_reads_ciphered_and_operates_the_breaker(served_hls: ServedMeter) -> None:
    """dlms-cosem's HLS-GMAC association: ciphered AARQ/AARE, both proofs checked, every APDU general-glo-ciphered."""
    readings = served_hls.meter.readings()
    control = obis("1.1.128.0.11.255")
    with served_hls.client(1, keys=(EK, AK)).session() as client:
        count = value(client.get(cosem.CosemAttribute(REGISTER, obis("1.1.2.8.0.255"), 2)))
        client.action(cosem.CosemMethod(enumerations.CosemInterface.DISCONNECT_CONTROL, control, 1), b"\x0f\x00")
        assert client.dlms_connection.meter_system_title[:4] == b"KAME"
    published = readings["a_minus"]
    assert isinstance(published, float) and count * 10 / 1000 == pytest.approx(published, abs=0.01)
    assert served_hls.meter.breaker.state == "disconnected"


def test_hls_gmac_with_a_wrong_key_gets_no_data(served_hls: ServedMeter) -> None:
    client = served_hls.client(1, keys=(EK, "00" * 16))
    client.connect()
    try:
        with pytest.raises((DlmsClientException, HLSError, ActionError)):
            client.associate()
            client.get(cosem.CosemAttribute(REGISTER, obis("1.1.2.8.0.255"), 2))
    finally:
        client.disconnect()
    assert served_hls.meter.breaker.state == "connected"


def test_hls_gmac_needs_keys_configured_and_refuses_the_public_client(served: ServedMeter) -> None:
    assert_association_refused(served.client(1, keys=(EK, AK)))  # this meter has no keys


def _hls_associated() -> tuple[DlmsAssociation, bytes, bytes]:
    """Our own codec as the client, sans-IO: an association past the proofs; (association, EK, AK)."""
    from omnipower.dlms import Data, DataType
    from omnipower.dlms_security import hls_gmac, protect, unprotect

    ek, ak = bytes.fromhex(EK), bytes.fromhex(AK)
    meter = Meter("m", MeterSimSettings.model_validate({"dlms": {"encryption_key": EK, "authentication_key": AK}}),
                  SteppedClock(START))
    association = DlmsAssociation(meter, 1)
    initiate = ap.InitiateRequest(proposed_conformance=ap.Conformance.GET | ap.Conformance.ACTION)
    aarq = ap.Aarq(application_context=ap.ApplicationContext.LN_CIPHERED, calling_ap_title=CLIENT_TITLE,
                   authentication=True, mechanism=ap.AuthenticationMechanism.HLS_GMAC,
                   calling_authentication_value=b"C" * 16,
                   user_information=ap.CipheredInitiate.from_bytes(
                       protect(initiate.to_bytes(), CLIENT_TITLE, 1, ek, ak, 0x21)))
    aare = ap.decode_apdu(association.handle(aarq.to_bytes()))
    assert isinstance(aare, ap.Aare) and aare.result is ap.AssociationResult.ACCEPTED
    assert aare.responding_authentication_value is not None and aare.responding_ap_title is not None
    proof = hls_gmac(aare.responding_authentication_value, CLIENT_TITLE, 2, ek, ak)
    reply = ap.ActionRequestNormal(method=ap.MethodDescriptor(15, bytes((0, 0, 40, 0, 0, 255)), 1),
                                   parameters=Data(DataType.OCTET_STRING, proof))
    answer = unprotect(association.handle(protect(reply.to_bytes(), CLIENT_TITLE, 3, ek, ak, 0xCB)),
                       aare.responding_ap_title, ek, ak)
    response = ap.decode_apdu(answer.apdu)
    assert isinstance(response, ap.ActionResponseNormal) and response.result is ap.ActionResult.SUCCESS
    assert association.associated
    return association, ek, ak


def test_a_replayed_ciphered_request_is_refused_with_the_counter_expected() -> None:
    from omnipower.dlms_security import protect

    association, ek, ak = _hls_associated()
    get = protect(ap.GetRequestNormal(attribute=ap.AttributeDescriptor(3, bytes((1, 1, 1, 8, 0, 255)), 2)).to_bytes(),
                  CLIENT_TITLE, 10, ek, ak, 0xC8)
    assert association.handle(get)[0] == 0xCC  # glo-get-response: answered in the form asked
    replayed = ap.decode_apdu(association.handle(get))
    assert isinstance(replayed, ap.ExceptionResponse)
    assert replayed.service_error is ap.ServiceError.INVOCATION_COUNTER_ERROR and replayed.invocation_counter == 11
    plain = ap.decode_apdu(association.handle(ap.GetRequestNormal(
        attribute=ap.AttributeDescriptor(3, bytes((1, 1, 1, 8, 0, 255)), 2)).to_bytes()))
    assert isinstance(plain, ap.ExceptionResponse)  # a ciphered association takes no plain request


def test_the_tariff_object_is_written_by_the_management_client_only(served: ServedMeter) -> None:
    """0.0.96.14.0.255 attribute 2: 1-8 forces a tariff, 0 follows the calendar again (the MQTT tariff command)."""
    tariff = cosem.CosemAttribute(enumerations.CosemInterface.DATA, obis("0.0.96.14.0.255"), 2)
    with served.client().session() as client:
        assert client.set(tariff, b"\x11\x02").result is enumerations.DataAccessResult.READ_WRITE_DENIED
    assert served.meter.tariffs.override is None
    with served.client(1, PASSWORD).session() as client:
        assert client.set(tariff, b"\x11\x02").result is enumerations.DataAccessResult.SUCCESS
        assert value(client.get(tariff)) == 2 and served.meter.tariffs.override == 2
        assert client.set(tariff, b"\x09\x01\x02").result is enumerations.DataAccessResult.TYPE_UNMATCHED
        assert client.set(tariff, b"\x11\x00").result is enumerations.DataAccessResult.SUCCESS
    assert served.meter.tariffs.override is None


def test_a_list_longer_than_the_client_takes_comes_in_blocks() -> None:
    """GET-with-list whose answer exceeds the client's receive size: the results' list in GET-with-block (Green Book
    9.3.5), whose joined raw data decodes to what one with-list answer would hold; without block transfer negotiated,
    the PDU-too-long exception."""
    meter = stepped_meter("m", hours=2)
    registers = [o for o in cosem_objects(meter.registers) if o.class_id == REGISTER and o.key is not None]
    request = ap.GetRequestWithList(attributes=tuple(
        ap.AttributeWithSelection(ap.AttributeDescriptor(o.class_id, o.logical_name, a)) for o in registers
        for a in (2, 3)))
    conformance = ap.Conformance.GET | ap.Conformance.MULTIPLE_REFERENCES

    def associated(extra: ap.Conformance) -> DlmsAssociation:
        association = DlmsAssociation(meter, 16)
        aarq = ap.Aarq(user_information=ap.InitiateRequest(proposed_conformance=conformance | extra,
                                                           client_max_receive_pdu_size=256))
        assert ap.decode_apdu(association.handle(aarq.to_bytes())).result is ap.AssociationResult.ACCEPTED  # type: ignore[union-attr]
        return association

    refused = ap.decode_apdu(associated(ap.Conformance(0)).handle(request.to_bytes()))
    assert isinstance(refused, ap.ExceptionResponse) and refused.service_error is ap.ServiceError.PDU_TOO_LONG
    association = associated(ap.Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ)
    answer = ap.decode_apdu(association.handle(request.to_bytes()))
    raw = b""
    while isinstance(answer, ap.GetResponseWithBlock):
        assert isinstance(answer.result, bytes) and len(answer.to_bytes()) <= 256
        raw += answer.result
        if answer.last_block:
            break
        answer = ap.decode_apdu(association.handle(ap.GetRequestNext(block_number=answer.block_number).to_bytes()))
    results = ap.decode_result_list(raw)
    assert len(results) == 2 * len(registers) and len(raw) > 2 * 256
    frequency = registers.index(next(o for o in registers if o.key == "frequency"))
    count = results[2 * frequency]
    assert isinstance(count, Data) and 4900 <= count.value <= 5100  # type: ignore[operator]
