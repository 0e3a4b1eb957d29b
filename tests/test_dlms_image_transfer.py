"""DLMS Image Transfer (class 18, 0.0.44.0.0.255) on the simulated meter, judged by an independent head-end:
dlms-cosem's `DlmsClient` (its own A-XDR encoder and parser) initiates a transfer, sends the blocks, finds the missing
one, verifies and activates a signed image over the IEC 62056-47 wrapper, reads the new firmware identity at
1.0.0.2.0.255 / 1.0.0.2.8.255, and is refused a tampered image with the standard's statuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dlms_cosem import cosem, enumerations
from dlms_cosem import dlms_data as dd
from dlms_cosem.client import ActionError, DlmsClient
from dlms_harness import PASSWORD, ServedMeter, management_association, obis, stepped_meter, value
from firmware_harness import NEW_VERSION, image, tampered, with_key
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_sim.firmware import BLOCK_SIZE, TransferStatus
from meter_sim.modules.dlms_server import SERVER_MAX_PDU
from omnipower import dlms_apdu as ap
from omnipower import firmware_image as fi
from omnipower.cosem import IMAGE_TRANSFER, CosemClass
from omnipower.dlms import GENERAL_GLO_CIPHERING, Data, DataType
from omnipower.dlms_security import protect

IT = enumerations.CosemInterface.IMAGE_TRANSFER
LN = obis("0.0.44.0.0.255")
DATA = enumerations.CosemInterface.DATA
A_PLUS = cosem.CosemAttribute(enumerations.CosemInterface.REGISTER, obis("1.1.1.8.0.255"), 2)


def attribute(client: DlmsClient, number: int) -> Any:
    return value(client.get(cosem.CosemAttribute(IT, LN, number)))


def call(client: DlmsClient, method: int, parameters: dd.BaseDlmsData) -> None:
    client.action(cosem.CosemMethod(IT, LN, method), parameters.to_bytes())


def initiate(client: DlmsClient, identifier: bytes, size: int) -> None:
    call(client, 1, dd.DataStructure([dd.OctetStringData(identifier), dd.DoubleLongUnsignedData(size)]))


def send_block(client: DlmsClient, number: int, block: bytes) -> None:
    """image_block_transfer. dlms-cosem's OctetStringData writes its length in one byte, which holds up to 127
    (A-XDR, X.690 length octets): a 512-byte block's octet-string is written here with the long form."""
    length = len(block)
    octets = bytes([0x09]) + (bytes([length]) if length < 0x80 else bytes([0x82]) + length.to_bytes(2, "big"))
    parameters = b"\x02\x02" + dd.DoubleLongUnsignedData(number).to_bytes() + octets + block
    client.action(cosem.CosemMethod(IT, LN, 2), parameters)


def bits(raw: bytes) -> list[bool]:
    """A bit-string as A-XDR encodes it (tag 4, the number of bits, the bits from the most significant bit of the
    first byte on), read here as dlms-cosem cannot: block 0 first."""
    assert raw[0] == 0x04 and raw[1] < 0x80, raw[:4].hex()
    count = raw[1]
    return [bool(raw[2 + n // 8] >> (7 - n % 8) & 1) for n in range(count)]


@pytest.fixture
def served() -> Iterator[ServedMeter]:
    with ServedMeter(stepped_meter("fw", with_key({"dlms": {"password": PASSWORD}}), hours=4)) as server:
        yield server


def test_a_head_end_transfers_verifies_and_activates_a_signed_image(served: ServedMeter) -> None:
    data = image()
    blocks = [data[n:n + BLOCK_SIZE] for n in range(0, len(data), BLOCK_SIZE)]
    with served.client(1, PASSWORD).session() as client:
        listed = value(client.get(cosem.CosemAttribute(enumerations.CosemInterface.ASSOCIATION_LN,
                                                       obis("0.0.40.0.0.255"), 2)))
        entry = next(e for e in listed if e[2] == IMAGE_TRANSFER)
        assert entry[:2] == [18, 0] and [m[0] for m in entry[3][1]] == [1, 2, 3, 4]
        assert (attribute(client, 2), attribute(client, 5), attribute(client, 6)) == (BLOCK_SIZE, True, 0)
        before = value(client.get(A_PLUS))
        initiate(client, NEW_VERSION.encode(), len(data))
        assert attribute(client, 6) == 1 and attribute(client, 4) == 0
        for n, block in enumerate(blocks):
            if n != 2:
                send_block(client, n, block)
        assert bits(client.get(cosem.CosemAttribute(IT, LN, 3))) == [n != 2 for n in range(len(blocks))]
        missing = attribute(client, 4)  # the missing-block query
        assert missing == 2
        send_block(client, missing, blocks[missing])
        assert attribute(client, 4) == len(blocks)
        call(client, 3, dd.IntegerData(0))
        assert attribute(client, 6) == 3
        signature = fi.parse(data).signature
        assert signature is not None
        assert attribute(client, 7) == [[len(data), NEW_VERSION.encode(), signature.value]]
        call(client, 4, dd.IntegerData(0))
        assert attribute(client, 6) == 6
        identifier = value(client.get(cosem.CosemAttribute(DATA, obis("1.0.0.2.0.255"), 2)))
        checksum = value(client.get(cosem.CosemAttribute(DATA, obis("1.0.0.2.8.255"), 2)))
        assert value(client.get(A_PLUS)) == before  # the registers survived the restart
    assert identifier in (NEW_VERSION, NEW_VERSION.encode())
    assert checksum in (fi.parse(data).checksum, fi.parse(data).checksum.encode())
    assert served.meter.readings()["firmware_version"] == NEW_VERSION
    types = [e.type for e in served.meter.logs.query("meter_status")[0]]
    assert types[-2:] == ["firmware_ready", "firmware_activated"]


def test_a_tampered_image_fails_verification_and_the_old_firmware_runs_on(served: ServedMeter) -> None:
    data = tampered(image())
    old = served.meter.readings()["firmware_version"]
    with served.client(1, PASSWORD).session() as client:
        initiate(client, NEW_VERSION.encode(), len(data))
        for n in range(0, len(data), BLOCK_SIZE):
            send_block(client, n // BLOCK_SIZE, data[n:n + BLOCK_SIZE])
        with pytest.raises(ActionError, match="OTHER_REASON"):
            call(client, 3, dd.IntegerData(0))
        assert attribute(client, 6) == 4 and attribute(client, 7) == []
        with pytest.raises(ActionError, match="OTHER_REASON"):
            call(client, 4, dd.IntegerData(0))
        assert attribute(client, 6) == 7
        running = value(client.get(cosem.CosemAttribute(DATA, obis("1.0.0.2.0.255"), 2)))
    assert running in (old, str(old).encode())
    failed = [e for e in served.meter.logs.query("meter_status")[0] if e.type == "firmware_verification_failed"]
    assert failed[-1].detail["reason"] == "tampered"


def test_the_public_client_reads_the_process_but_may_not_run_it(served: ServedMeter) -> None:
    with served.client().session() as client:
        assert attribute(client, 6) == 0
        with pytest.raises(ActionError, match="READ_WRITE_DENIED"):
            initiate(client, b"v", 10)


def test_wrong_parameters_and_steps_out_of_order_get_their_codes(served: ServedMeter) -> None:
    with served.client(1, PASSWORD).session() as client:
        with pytest.raises(ActionError, match="TEMPORARY_FAILURE"):
            send_block(client, 0, b"x")
        with pytest.raises(ActionError, match="TYPE_UNMATCHED"):
            call(client, 1, dd.IntegerData(0))
        with pytest.raises(ActionError, match="TEMPORARY_FAILURE"):
            call(client, 4, dd.IntegerData(0))
        initiate(client, b"v", 600)
        with pytest.raises(ActionError, match="OTHER_REASON"):
            send_block(client, 0, b"short")


def test_a_meter_without_a_key_has_image_transfer_disabled() -> None:
    with ServedMeter(stepped_meter("nokey", {"dlms": {"password": PASSWORD}})) as served, \
            served.client(1, PASSWORD).session() as client:
        assert attribute(client, 5) is False
        with pytest.raises(ActionError, match="OTHER_REASON"):
            initiate(client, b"v", 10)


def test_one_block_fits_the_meter_s_receive_pdu_even_ciphered() -> None:
    request = ap.ActionRequestNormal(
        method=ap.MethodDescriptor(CosemClass.IMAGE_TRANSFER, IMAGE_TRANSFER, 2),
        parameters=Data.structure(Data(DataType.DOUBLE_LONG_UNSIGNED, 2**32 - 1),
                                  Data(DataType.OCTET_STRING, bytes(BLOCK_SIZE))))
    ciphered = protect(request.to_bytes(), b"OMNIGW01", 1, bytes(16), bytes(16), GENERAL_GLO_CIPHERING)
    assert len(ciphered) <= SERVER_MAX_PDU


# --- hostile parameters ----------------------------------------------------------------------------------------------
_FUZZED = management_association(stepped_meter("fuzz", with_key({"dlms": {"password": PASSWORD}})), PASSWORD,
                                 ap.Conformance.ACTION | ap.Conformance.GET)
_LEAVES = st.one_of(
    st.integers(-128, 127).map(lambda v: Data(DataType.INTEGER, v)),
    st.integers(0, 2**32 - 1).map(lambda v: Data(DataType.DOUBLE_LONG_UNSIGNED, v)),
    st.binary(max_size=600).map(lambda v: Data(DataType.OCTET_STRING, v)),
    st.booleans().map(lambda v: Data(DataType.BOOLEAN, v)),
    st.just(Data(DataType.NULL_DATA)),
)
_PARAMETERS = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=3).map(lambda xs: Data.structure(*xs)),
                           max_leaves=5)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4), st.none() | _PARAMETERS)
def test_any_parameters_of_any_method_get_an_action_response(method: int, parameters: Data | None) -> None:
    request = ap.ActionRequestNormal(method=ap.MethodDescriptor(CosemClass.IMAGE_TRANSFER, IMAGE_TRANSFER, method),
                                     parameters=parameters)
    answer = ap.decode_apdu(_FUZZED.handle(request.to_bytes()))
    assert isinstance(answer, ap.ActionResponseNormal)
    assert _FUZZED.meter.firmware.transfer.status is not TransferStatus.ACTIVATION_SUCCESSFUL
    assert _FUZZED.meter.readings()["firmware_version"] == "5098736-U1"  # nothing unsigned was ever activated
