"""The 16-bit CRCs of the meter's wire protocols.

* CRC-16/X-25 (HDLC HCS/FCS, IEC 62056-46; also the IMST iM871A HCI frame): poly 0x1021 reflected
  (0x8408), init 0xFFFF, reflected in and out, final XOR 0xFFFF. Check value of b"123456789": 0x906E.
* CRC-16/ARC (P1 telegrams): poly 0x8005 reflected (0xA001), init 0, no final XOR.
  Check value of b"123456789": 0xBB3D.
* CRC-16/EN-13757 (wireless M-Bus, EN 13757-4: link-layer blocks, the extended link layer's payload
  CRC, compact frames' format signature and data CRC): poly 0x3D65, init 0, not reflected, final XOR
  0xFFFF. Check value of b"123456789": 0xC2B7.

The first two are reflected CRCs, the third is not: one byte-wise table per polynomial and direction.
"""

from __future__ import annotations

__all__ = ["crc16_arc", "crc16_en13757", "crc16_x25"]


def _table(reflected_poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ reflected_poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def _msb_table(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_X25_TABLE = _table(0x8408)
_ARC_TABLE = _table(0xA001)
_EN13757_TABLE = _msb_table(0x3D65)


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X-25 of `data`. HDLC sends it low byte first."""
    crc = 0xFFFF
    table = _X25_TABLE
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/ARC of `data` (the P1 telegram checksum, written as 4 hex digits)."""
    crc = 0
    table = _ARC_TABLE
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def crc16_en13757(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/EN-13757 of `data` (wireless M-Bus). The link layer sends it high byte first, the extended link
    layer and the compact frame low byte first (EN 13757-4; see omnipower/wmbus.py)."""
    crc = 0
    table = _EN13757_TABLE
    for byte in bytes(data):
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]
    return crc ^ 0xFFFF
