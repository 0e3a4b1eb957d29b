"""Frames WE encode, decoded by two independent decoders: amshan (`han`) and dlms-cosem.

Each test puts realistic readings into `encode_han_push` and checks that the other decoder gets them
back within the protocol's resolution (1 W, 1 var, 1 V, 0.01 A, 0.01 PF, 10 Wh with the default
scalers). Values go in already at that resolution, so the comparisons are exact up to float noise.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest
from dlms_cosem import security
from dlms_cosem.dlms_data import DlmsDataParser
from dlms_cosem.hdlc.frames import UnnumberedInformationFrame
from dlms_cosem.protocol.xdlms import DataNotification as CosemDataNotification
from dlms_cosem.protocol.xdlms.general_global_cipher import GeneralGlobalCipher
from han import autodecoder, hdlc

from omnipower.dlms import CosemDateTime, GloKeys, strip_llc
from omnipower.han import HAN_LISTS, HanListKind, decode_han, encode_han_push
from omnipower.hdlc import decode_frame

WHEN = datetime(2026, 3, 14, 15, 9, 20)
METER_ID = "5706567012345678"
METER_TYPE = "6841131BN243101040"

LIST_1_READINGS: dict[str, float | int | str | None] = {
    "p_plus": 3456, "p_minus": 0, "q_plus": 123, "q_minus": 456,
    "i_l1": 5.12, "i_l2": 4.87, "i_l3": 6.03, "u_l1": 231, "u_l2": 229, "u_l3": 233,
}  # fmt: skip
LIST_2_READINGS = LIST_1_READINGS | {"a_plus": 12345.67, "a_minus": 1.23, "r_plus": 2345.6, "r_minus": 789.01}
DK_READINGS = LIST_2_READINGS | {
    "p_plus_l1": 1150, "p_plus_l2": 1020, "p_plus_l3": 1286, "p_minus_l1": 0, "p_minus_l2": 0, "p_minus_l3": 0,
    "pf_l1": 0.98, "pf_l2": 0.97, "pf_l3": 1.0, "pf": 0.99,
    "a_plus_l1": 4100.12, "a_plus_l2": 3900.5, "a_plus_l3": 4345.05,
    "a_minus_l1": 0.41, "a_minus_l2": 0.4, "a_minus_l3": 0.42,
}  # fmt: skip

# amshan's field name and the factor from our unit to its unit (it reports energy in Wh)
AMSHAN_FIELDS = {
    "p_plus": ("active_power_import", 1), "p_minus": ("active_power_export", 1),
    "q_plus": ("reactive_power_import", 1), "q_minus": ("reactive_power_export", 1),
    "i_l1": ("current_l1", 1), "i_l2": ("current_l2", 1), "i_l3": ("current_l3", 1),
    "u_l1": ("voltage_l1", 1), "u_l2": ("voltage_l2", 1), "u_l3": ("voltage_l3", 1),
    "a_plus": ("active_power_import_total", 1000), "a_minus": ("active_power_export_total", 1000),
    "r_plus": ("reactive_power_import_total", 1000), "r_minus": ("reactive_power_export_total", 1000),
}  # fmt: skip


def push(readings: dict[str, float | int | str | None], kind: HanListKind, **options: Any) -> bytes:
    return encode_han_push(readings, kind, CosemDateTime.from_datetime(WHEN), METER_ID, METER_TYPE, **options)


def amshan_decode(frame: bytes) -> dict[str, Any]:
    frames = hdlc.HdlcFrameReader(False).read(frame)
    assert len(frames) == 1 and frames[0].is_good_ffc and frames[0].is_expected_length
    assert frames[0].payload is not None
    decoded = autodecoder.AutoDecoder().decode_message_payload(frames[0].payload)
    assert decoded is not None
    return dict(decoded)


def dlms_cosem_decode(frame: bytes) -> tuple[Any, Any, list[Any]]:
    """dlms-cosem's view: the HDLC frame, the notification and the body as Python values."""
    hdlc_frame = UnnumberedInformationFrame.from_bytes(frame)
    notification = CosemDataNotification.from_bytes(hdlc_frame.information[3:])
    body = DlmsDataParser().parse(notification.body, limit=1)[0].to_python()
    return hdlc_frame, notification, body


def expected_counts(readings: dict[str, float | int | str | None], kind: HanListKind) -> dict[bytes, int]:
    """What the wire must carry per OBIS code: readings at the default scalers' resolution."""
    out = {}
    for obj in HAN_LISTS[kind]:
        if obj.register_key in readings and obj.quantity is not None:
            value = readings[obj.register_key]
            assert isinstance(value, int | float)
            exponent = {"current": -2, "power_factor": -2, "active_energy": -2, "reactive_energy": -2}.get(
                obj.quantity.spec.scaler_field, 0
            )
            out[bytes(int(p) for p in obj.obis.split("."))] = round(value * 10**-exponent)
    return out


@pytest.mark.parametrize(
    ("kind", "readings"),
    [(HanListKind.LIST_1, LIST_1_READINGS), (HanListKind.LIST_2, LIST_2_READINGS)],
    ids=["list1", "list2"],
)
def test_amshan_decodes_our_three_phase_lists(kind: HanListKind, readings: dict[str, float | int | str | None]) -> None:
    decoded = amshan_decode(push(readings, kind))
    assert decoded["meter_manufacturer"] == "Kamstrup" and decoded["list_ver_id"] == "Kamstrup_V0001"
    assert (decoded["meter_id"], decoded["meter_type"]) == (METER_ID, METER_TYPE)
    assert decoded["meter_datetime"] == WHEN
    for key, value in readings.items():
        field, factor = AMSHAN_FIELDS[key]
        assert isinstance(value, int | float)
        assert math.isclose(decoded[field], value * factor, rel_tol=1e-12), key
    assert len(decoded) == 5 + len(readings)  # manufacturer, version, id, type, date-time + one per reading


def test_amshan_decodes_our_single_phase_list_with_null_pairs() -> None:
    readings = {k: v for k, v in LIST_2_READINGS.items() if not k.endswith(("_l2", "_l3"))}
    decoded = amshan_decode(push(readings, HanListKind.LIST_2, three_phase=False))
    assert "current_l2" not in decoded and "voltage_l3" not in decoded
    assert decoded["current_l1"] == 5.12 and decoded["voltage_l1"] == 231
    assert math.isclose(decoded["active_power_import_total"], 12_345_670)


@pytest.mark.parametrize(
    ("kind", "readings", "elements"),
    [
        (HanListKind.LIST_1, LIST_1_READINGS, 25),
        (HanListKind.LIST_2, LIST_2_READINGS, 35),
        (HanListKind.DK_PUSH_1, DK_READINGS, 65),
    ],
    ids=["list1", "list2", "dk-push1"],
)
def test_dlms_cosem_decodes_our_lists(
    kind: HanListKind, readings: dict[str, float | int | str | None], elements: int
) -> None:
    """dlms-cosem is the only one of the two that reads the Danish 65-element list: amshan 2.1.1 has
    no mapping for its meter number 1.1.0.0.1.255 and fails with KeyError '0.0.1' (reference README §4
    item 1), so the DK list is checked here only."""
    frame = push(readings, kind, meter_number=12345678)
    hdlc_frame, notification, body = dlms_cosem_decode(frame)
    assert hdlc_frame.destination_address.logical_address == 21
    assert hdlc_frame.source_address.logical_address == 16 and not hdlc_frame.segmented and hdlc_frame.final
    assert notification.long_invoke_id_and_priority.long_invoke_id == 0
    assert notification.date_time == WHEN
    assert len(body) == elements and body[0] == "Kamstrup_V0001"
    pairs = {bytes(body[i]): body[i + 1] for i in range(1, len(body), 2)}
    for obis, count in expected_counts(readings, kind).items():
        assert pairs[obis] == count, obis.hex()
    if kind is HanListKind.DK_PUSH_1:
        assert pairs[bytes([1, 1, 0, 0, 1, 255])] == 12345678
    else:
        assert (pairs[bytes([1, 1, 0, 0, 5, 255])], pairs[bytes([1, 1, 96, 1, 1, 255])]) == (METER_ID, METER_TYPE)
    if kind is not HanListKind.LIST_1:
        assert bytes(pairs[bytes([0, 1, 1, 0, 0, 255])]) == CosemDateTime.from_datetime(WHEN).to_bytes()


def test_dlms_cosem_decodes_our_single_phase_dk_list() -> None:
    readings = {k: v for k, v in DK_READINGS.items() if not k.endswith(("_l2", "_l3"))}
    _frame, _notification, body = dlms_cosem_decode(push(readings, HanListKind.DK_PUSH_1, three_phase=False))
    assert len(body) == 37  # 18 objects, as single-phase Danish meters send
    pairs = {bytes(body[i]): body[i + 1] for i in range(1, len(body), 2)}
    assert pairs[bytes([1, 1, 33, 7, 0, 255])] == 98 and pairs[bytes([1, 1, 21, 8, 0, 255])] == 410012


def test_dlms_cosem_deciphers_our_encrypted_push() -> None:
    """dlms-cosem parses our general-glo-ciphering envelope and its own AES-GCM code opens it."""
    ek, ak = bytes.fromhex("000102030405060708090A0B0C0D0E0F"), bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
    frame = push(DK_READINGS, HanListKind.DK_PUSH_1, encryption=GloKeys(ek, ak), frame_counter=0x01020304)
    hdlc_frame = UnnumberedInformationFrame.from_bytes(frame)
    assert (hdlc_frame.destination_address.logical_address, hdlc_frame.source_address.logical_address) == (32, 1)
    ciphered = GeneralGlobalCipher.from_bytes(hdlc_frame.information[3:])
    assert ciphered.system_title == b"KAME" + (12345678).to_bytes(4, "big")  # last 8 digits of the meter id
    assert ciphered.invocation_counter == 0x01020304
    assert ciphered.security_control.encrypted and ciphered.security_control.authenticated
    plain = security.decrypt(
        ciphered.security_control, ciphered.system_title, ciphered.invocation_counter, ek, ciphered.ciphered_text, ak
    )
    notification = CosemDataNotification.from_bytes(plain)
    body = DlmsDataParser().parse(notification.body, limit=1)[0].to_python()
    assert notification.date_time == WHEN and len(body) == 65
    assert decode_han(frame, keys=GloKeys(ek, ak)).registers == DK_READINGS


def test_we_decode_dlms_cosem_ciphering() -> None:
    """The other direction: dlms-cosem's encrypt() output, wrapped by hand, opens with our decoder."""
    ek, ak = bytes(range(16)), bytes(range(16, 32))
    plain_frame = push(LIST_1_READINGS, HanListKind.LIST_1)
    apdu = strip_llc(decode_frame(plain_frame).information)
    control = security.SecurityControlField(security_suite=0, authenticated=True, encrypted=True)
    title = b"KAME\x00\x00\x00\x09"
    ciphertext = security.encrypt(control, title, 77, ek, apdu, ak)
    content = control.to_bytes() + (77).to_bytes(4, "big") + ciphertext
    glo = b"\xdb\x08" + title + b"\x82" + len(content).to_bytes(2, "big") + content
    message = decode_han(b"\xe6\xe7\x00" + glo, keys=GloKeys(ek, ak))
    assert message.registers == LIST_1_READINGS and message.frame_counter == 77
