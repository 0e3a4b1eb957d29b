"""The meter's firmware (meter_sim/firmware.py, §8): its identity on every face of the model, the image transfer's
process, verification against the configured key, and activation restarting the meter on its permanent memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dlms_harness import START, stepped_meter
from firmware_harness import (
    KEY,
    NEW_VERSION,
    PUBLIC_PEM,
    image,
    private_pem,
    spoilt_images,
    total_registers,
    with_key,
)
from pydantic import ValidationError

from meter_sim.clock import SteppedClock
from meter_sim.firmware import BLOCK_SIZE, FirmwareRefused, ImageTransfer, TransferStatus
from meter_sim.meter import Meter
from meter_sim.modules.optical import OpticalPort
from omnipower import firmware_image as fi
from omnipower.iec62056_21 import DataReadout


def keyed_meter(hours: float = 3, **settings: object) -> Meter:
    meter = Meter("fw", with_key({"start": START, **settings}), SteppedClock(START))
    meter.advance_to(START + hours * 3600)
    return meter


def test_a_meter_reports_the_firmware_of_its_line_with_the_checksum_build_gives_it() -> None:
    meter = stepped_meter("fw")  # the simulator's default type: direct, Variant 1
    readings = meter.readings()
    assert readings["firmware_version"] == "5098736-U1"
    assert readings["firmware_checksum"] == fi.factory_image("5098736-U1", fi.Target.DIRECT).checksum
    ct = stepped_meter("ct", {"type_number": "6851131BD140011040"})
    assert ct.readings()["firmware_version"] == "50981040-U1"
    given = stepped_meter("x", {"firmware": {"version": "5098736-T9"}})
    assert given.readings()["firmware_version"] == "5098736-T9"


def test_the_optical_readout_carries_the_firmware_identity() -> None:
    meter = stepped_meter("fw")
    sets = {s.address: s.value for s in DataReadout.decode(OpticalPort(meter).readout().encode()).datasets}
    assert sets["0.2.0"] == "5098736-U1" and sets["0.2.8"] == meter.readings()["firmware_checksum"]


def test_installing_a_signed_image_restarts_the_meter_on_it_and_keeps_its_memory() -> None:
    meter = keyed_meter()
    meter.breaker_command("disconnect")
    meter.advance_to(meter.t + 600)
    registers, disconnects = total_registers(meter), meter.logs.query("disconnect")[0]
    old = meter.readings()["firmware_version"]
    identity = meter.install_firmware(image())
    assert identity.version == NEW_VERSION == meter.readings()["firmware_version"]
    assert meter.readings()["firmware_checksum"] == fi.parse(image()).checksum
    assert total_registers(meter) == registers and meter.breaker.state == "disconnected"
    assert meter.logs.query("disconnect")[0] == disconnects
    ready, activated = meter.logs.query("meter_status")[0][-2:]
    assert (ready.type, ready.detail["event_id"], activated.type, activated.detail["event_id"]) == (
        "firmware_ready", 17, "firmware_activated", 18)
    assert activated.detail["previous"] == old and activated.detail["version"] == NEW_VERSION
    assert meter.firmware.transfer.status is TransferStatus.ACTIVATION_SUCCESSFUL
    # §6.4: the start-up sequence runs, the SW number and revision shown from 5 s on.
    assert meter.display.state.value == "start_rom"
    lcd = meter.lcd()
    assert lcd is not None and lcd.text_field == "CSUM"
    meter.advance_to(meter.t + 6)
    lcd = meter.lcd()
    assert lcd is not None and (lcd.value, lcd.text_field) == ("5098736", "V1")
    meter.advance_to(meter.t + 10)
    assert meter.display.tick(meter.mono).value == "auto"
    # The version is in the meter's permanent memory: a meter made from its saved state runs it.
    again = Meter("fw", meter.settings, SteppedClock(meter.t), json.loads(json.dumps(meter.to_state())),
                  logs=json.loads(json.dumps(meter.logs_state())))
    assert again.readings()["firmware_version"] == NEW_VERSION


@pytest.mark.parametrize("kind", sorted(spoilt_images()))
def test_a_bad_image_is_refused_logged_and_the_old_firmware_runs_on(kind: str) -> None:
    meter = keyed_meter()
    old = meter.readings()["firmware_checksum"]
    registers = total_registers(meter)
    with pytest.raises(FirmwareRefused) as refused:
        meter.install_firmware(spoilt_images()[kind])
    assert refused.value.kind == "image"
    assert meter.readings()["firmware_checksum"] == old and total_registers(meter) == registers
    assert meter.firmware.transfer.status is TransferStatus.VERIFICATION_FAILED
    failed = meter.logs.query("meter_status")[0][-1]
    assert failed.type == "firmware_verification_failed" and failed.detail["reason"] == kind
    assert failed.detail["running"] == "5098736-U1" and failed.detail["detail"]
    with pytest.raises(FirmwareRefused, match="failed verification: nothing to activate"):
        meter.activate_firmware()
    assert meter.firmware.transfer.status is TransferStatus.ACTIVATION_FAILED
    assert meter.logs.query("meter_status")[0][-1].type == "firmware_activation_failed"


def test_without_a_key_image_transfer_is_disabled() -> None:
    meter = stepped_meter("fw")
    assert not meter.firmware.enabled
    with pytest.raises(FirmwareRefused, match=r"no manufacturer key \(firmware.public_key\)") as refused:
        meter.install_firmware(image())
    assert refused.value.kind == "disabled"


def test_the_transfer_takes_blocks_in_any_order_reports_the_missing_and_resumes() -> None:
    transfer = ImageTransfer()
    data = image(size=3000)
    blocks = [data[n:n + BLOCK_SIZE] for n in range(0, len(data), BLOCK_SIZE)]
    with pytest.raises(FirmwareRefused, match="no transfer initiated") as refused:
        transfer.block(0, blocks[0])
    assert refused.value.kind == "state"
    transfer.initiate(NEW_VERSION.encode(), len(data))
    assert transfer.block_count == len(blocks) == 7 and transfer.first_missing == 0
    for n in (3, 0, 6):
        transfer.block(n, blocks[n])
    assert transfer.transferred == (True, False, False, True, False, False, True)
    assert transfer.first_missing == 1
    transfer.initiate(NEW_VERSION.encode(), len(data))  # the same image and size: resumed
    assert transfer.first_missing == 1
    for bad, why in (((7, blocks[0]), "blocks 0–6"), ((1, blocks[1][:-1]), "expected 512"),
                     ((6, blocks[6] + b"x"), f"expected {len(blocks[6])}")):
        with pytest.raises(FirmwareRefused, match=why):
            transfer.block(*bad)
    for n in (1, 2, 4, 5):
        transfer.block(n, blocks[n])
    assert transfer.first_missing == 7 and all(transfer.transferred)
    assert transfer.verify(KEY.public_key(), fi.Target.DIRECT).version == NEW_VERSION
    assert transfer.status is TransferStatus.VERIFICATION_SUCCESSFUL
    transfer.initiate(b"other", 10)  # anything else starts afresh
    assert transfer.transferred == (False,) and transfer.status is TransferStatus.INITIATED


def test_verification_needs_every_block_and_an_identifier_naming_the_image() -> None:
    data = image()
    transfer = ImageTransfer()
    transfer.initiate(NEW_VERSION.encode(), len(data))
    transfer.block(0, data[:BLOCK_SIZE])
    with pytest.raises(FirmwareRefused, match="6 of 7 blocks not transferred"):
        transfer.verify(KEY.public_key(), fi.Target.DIRECT)
    assert transfer.status is TransferStatus.VERIFICATION_FAILED
    named_otherwise = ImageTransfer()
    named_otherwise.initiate(b"5098736-Z9", len(data))
    for n in range(named_otherwise.block_count):
        named_otherwise.block(n, data[n * BLOCK_SIZE:(n + 1) * BLOCK_SIZE])
    with pytest.raises(FirmwareRefused, match="does not name the image's version"):
        named_otherwise.verify(KEY.public_key(), fi.Target.DIRECT)
    for identifier, size, why in ((b"", 10, "identifier of 0 bytes"), (b"x" * 33, 10, "identifier of 33"),
                                  (b"v", 0, "size 0"), (b"v", 2 << 20, "size 2097152")):
        with pytest.raises(FirmwareRefused, match=why):
            ImageTransfer().initiate(identifier, size)


def test_the_key_is_configured_as_pem_or_a_path_and_never_as_a_private_key(tmp_path: Path) -> None:
    path = tmp_path / "maker.pub.pem"
    path.write_text(PUBLIC_PEM)
    assert with_key(public_key=str(path)).firmware.public_key == PUBLIC_PEM
    private = tmp_path / "maker.pem"
    private.write_bytes(private_pem())
    for bad, why in ((str(private), "a private key: the meter holds only"), (private_pem().decode(), "a private key"),
                     (str(tmp_path / "none.pem"), "neither PEM text nor a readable PEM file"),
                     ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM public key")):
        with pytest.raises(ValidationError, match=why):
            with_key(public_key=bad)
    with pytest.raises(ValidationError, match="firmware version"):
        with_key({"firmware": {"version": "has space"}})
