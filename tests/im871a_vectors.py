"""iM871A HCI bytes written by hand, not by our encoder: what other hosts send (the requests below are the
bytes in their source), and a CRC-16/X-25 computed bit by bit the way the HCI spec's host example code does,
for the answers we expect (omnipower/crc.py's table-driven one is what is under test)."""

from __future__ import annotations


def x25(data: bytes) -> bytes:
    """CRC-16/X-25 (reflected poly 0x8408, init 0xFFFF, final XOR 0xFFFF), low byte first as the HCI sends it."""
    crc = 0xFFFF
    for byte in data:
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if (crc ^ byte) & 1 else crc >> 1
            byte >>= 1
    return (crc ^ 0xFFFF).to_bytes(2, "little")


def framed(hex_body: str) -> bytes:
    """A5, then the body (control field/endpoint through the last payload byte), then its CRC16."""
    body = bytes.fromhex(hex_body)
    return b"\xa5" + body + x25(body)


# Requests as third-party hosts write them (no CRC16: control field 0).
PING = bytes.fromhex("A5 01 01 00")  # wmbusmeters ping(), pyWirelessMbus ping()
GET_DEVICEINFO = bytes.fromhex("A5 01 0F 00")  # wmbusmeters getDeviceInfo(), pyWirelessMbus get_device_infos()
GET_CONFIG = bytes.fromhex("A5 01 05 00")  # wmbusmeters getConfig(), pyWirelessMbus get_device_configuration()
# jMBus initializeWirelessTransceiver: RAM only, IIFlag1 = device mode + link mode, "other", link mode (here
# C1-TF-B), IIFlag2 = auto RSSI, on.
SET_CONFIG_JMBUS_C1B = bytes.fromhex("A5 01 03 06 00 03 00 07 10 01")
# wmbusmeters deviceSetLinkModes for C1: RAM only, IIFlag1 = link mode, C1-TF-A, IIFlag2 = RSSI + time stamp,
# RSSI on, time stamp off.
SET_CONFIG_WMBUSMETERS_C1 = bytes.fromhex("A5 01 03 06 00 02 06 30 01 00")
# pyWirelessMbus `link_mode = "T1"`: RAM only, IIFlag1 = link mode, T1, IIFlag2 = none.
SET_CONFIG_PYWIRELESSMBUS_T1 = bytes.fromhex("A5 01 03 04 00 02 03 00")
# A host that sends no IIFlag2 at all: RAM only, IIFlag1 = link mode, C1-TF-A.
SET_CONFIG_NO_IIFLAG2 = bytes.fromhex("A5 01 03 03 00 02 06")
RESET = bytes.fromhex("A5 01 07 00")
FACTORY_RESET = bytes.fromhex("A5 01 09 00")
