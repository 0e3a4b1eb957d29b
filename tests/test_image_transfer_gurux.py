"""The second judge of the meter's Image Transfer (class 18): Gurux's own GXDLMSImageTransfer (gurux-dlms, GPL-2.0: a
test dependency only) reads the block size, initiates, sends the whole image in the blocks it cuts itself, verifies
and activates over the IEC 62056-47 wrapper and over HDLC — and a tampered image is refused at verification."""

from __future__ import annotations

import pytest
from dlms_harness import PASSWORD, ServedMeter, stepped_meter
from firmware_harness import NEW_VERSION, image, tampered, with_key

from meter_sim.firmware import BLOCK_SIZE
from omnipower import firmware_image as fi

pytest.importorskip("gurux_dlms", reason="gurux-dlms is a test dependency (pip install -e '.[dev]')")
from gurux_dlms.enums import Authentication, InterfaceType
from gurux_dlms.objects import GXDLMSData, GXDLMSImageTransfer
from gurux_dlms.objects.enums import ImageTransferStatus
from test_dlms_gurux import GuruxSession


@pytest.mark.parametrize("converse", ["wrapper", "hdlc"])
def test_gurux_transfers_verifies_and_activates_a_signed_image(converse: str) -> None:
    data = image(size=5000)
    meter = stepped_meter("gx-fw", with_key({"dlms": {"password": PASSWORD}}), hours=2)
    registers = meter.readings(["a_plus", "a_minus"])
    with ServedMeter(meter, converse) as served:
        interface = InterfaceType.WRAPPER if converse == "wrapper" else InterfaceType.HDLC
        session = GuruxSession(served.port, client=1, authentication=Authentication.LOW, password=PASSWORD,
                               interface=interface)
        try:
            if converse == "hdlc":
                session.connect()
            session.associate()
            transfer = GXDLMSImageTransfer()
            for attribute in (2, 5, 6):
                session.read(transfer, attribute)
            assert (transfer.imageBlockSize, transfer.imageTransferEnabled) == (BLOCK_SIZE, True)
            assert int(transfer.imageTransferStatus) == ImageTransferStatus.IMAGE_TRANSFER_NOT_INITIATED
            session.request(transfer.imageTransferInitiate(session.client, NEW_VERSION, len(data)))
            count = [0]
            for packets in transfer.imageBlockTransfer(session.client, data, count):
                session.request(packets)
            session.read(transfer, 4)
            assert transfer.imageFirstNotTransferredBlockNumber == count[0] == -(-len(data) // BLOCK_SIZE)
            session.request(transfer.imageVerify(session.client))
            session.read(transfer, 6)
            assert int(transfer.imageTransferStatus) == ImageTransferStatus.IMAGE_VERIFICATION_SUCCESSFUL
            session.read(transfer, 7)
            (info,) = transfer.imageActivateInfo
            assert (info.size, bytes(info.identification)) == (len(data), NEW_VERSION.encode())
            session.request(transfer.imageActivate(session.client))
            session.read(transfer, 6)
            assert int(transfer.imageTransferStatus) == ImageTransferStatus.IMAGE_ACTIVATION_SUCCESSFUL
            identifier = GXDLMSData("1.0.0.2.0.255")
            session.read(identifier, 2)
            assert str(identifier.value) == NEW_VERSION
        finally:
            session.close()
    assert meter.readings()["firmware_checksum"] == fi.parse(data).checksum
    assert meter.readings(["a_plus", "a_minus"]) == registers


def test_gurux_is_refused_a_tampered_image_at_verification() -> None:
    data = tampered(image())
    meter = stepped_meter("gx-bad", with_key({"dlms": {"password": PASSWORD}}))
    with ServedMeter(meter) as served:
        session = GuruxSession(served.port, client=1, authentication=Authentication.LOW, password=PASSWORD)
        try:
            session.associate()
            transfer = GXDLMSImageTransfer()
            session.read(transfer, 2)
            session.request(transfer.imageTransferInitiate(session.client, NEW_VERSION, len(data)))
            for packets in transfer.imageBlockTransfer(session.client, data, None):
                session.request(packets)
            reply = session.request(transfer.imageVerify(session.client))
            assert reply.error == 250  # other-reason
            session.read(transfer, 6)
            assert int(transfer.imageTransferStatus) == ImageTransferStatus.IMAGE_VERIFICATION_FAILED
        finally:
            session.close()
    assert meter.readings()["firmware_version"] == "5098736-U1"
