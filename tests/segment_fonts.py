"""An independent reading of lit segments: David Madison's LED-Segment-ASCII tables (github.com/dmadison/
LED-Segment-ASCII, MIT licence, Copyright (c) 2017 David Madison), the characters the OMNIPOWER LCD shows, copied
as published (bit 0 = segment A). A test reads the segments the status page lit and spells them back with these.

Bit order as the tables' README gives it: seven segments DP-G-F-E-D-C-B-A; fourteen DP-L-M-N-K-J-H-G2-G1-F-E-D-C-B-A,
where H, J, K are the upper diagonal, vertical and diagonal and N, M, L the lower-left diagonal, the lower vertical and
the lower-right diagonal (the names gateway/web/lcd_svg.py gives its segments, in lower case).
"""

from __future__ import annotations

SEVEN_BITS = ("a", "b", "c", "d", "e", "f", "g", "dp")
FOURTEEN_BITS = ("a", "b", "c", "d", "e", "f", "g1", "g2", "h", "j", "k", "n", "m", "l", "dp")

SEVEN_SEGMENT_ASCII: dict[str, int] = {
    ' ': 0b00000000,
    '-': 0b01000000,
    '0': 0b00111111,
    '1': 0b00000110,
    '2': 0b01011011,
    '3': 0b01001111,
    '4': 0b01100110,
    '5': 0b01101101,
    '6': 0b01111101,
    '7': 0b00000111,
    '8': 0b01111111,
    '9': 0b01101111,
    'A': 0b01110111,
    'B': 0b01111100,
    'C': 0b00111001,
    'D': 0b01011110,
    'E': 0b01111001,
    'F': 0b01110001,
    'G': 0b00111101,
    'H': 0b01110110,
    'I': 0b00110000,
    'J': 0b00011110,
    'L': 0b00111000,
    'N': 0b00110111,
    'O': 0b00111111,
    'P': 0b01110011,
    'R': 0b00110011,
    'S': 0b01101101,
    'T': 0b01111000,
    'U': 0b00111110,
    'Y': 0b01101110,
    'c': 0b01011000,
    'd': 0b01011110,
    'h': 0b01110100,
    'i': 0b00010000,
    'n': 0b01010100,
    'o': 0b01011100,
    'r': 0b01010000,
    't': 0b01111000,
    'u': 0b00011100,
}

FOURTEEN_SEGMENT_ASCII: dict[str, int] = {
    ' ': 0b000000000000000,
    '-': 0b000000011000000,
    '+': 0b001001011000000,
    '/': 0b000110000000000,
    '0': 0b000110000111111,
    '1': 0b000010000000110,
    '2': 0b000000011011011,
    '3': 0b000000010001111,
    '4': 0b000000011100110,
    '5': 0b010000001101001,
    '6': 0b000000011111101,
    '7': 0b000000000000111,
    '8': 0b000000011111111,
    '9': 0b000000011101111,
    'A': 0b000000011110111,
    'B': 0b001001010001111,
    'C': 0b000000000111001,
    'D': 0b001001000001111,
    'E': 0b000000001111001,
    'F': 0b000000001110001,
    'G': 0b000000010111101,
    'H': 0b000000011110110,
    'I': 0b001001000001001,
    'J': 0b000000000011110,
    'K': 0b010010001110000,
    'L': 0b000000000111000,
    'M': 0b000010100110110,
    'N': 0b010000100110110,
    'O': 0b000000000111111,
    'P': 0b000000011110011,
    'Q': 0b010000000111111,
    'R': 0b010000011110011,
    'S': 0b000000011101101,
    'T': 0b001001000000001,
    'U': 0b000000000111110,
    'V': 0b000110000110000,
    'W': 0b010100000110110,
    'X': 0b010110100000000,
    'Y': 0b000000011101110,
    'Z': 0b000110000001001,
}


def segments(bits: int, names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name for n, name in enumerate(names) if bits >> n & 1 and name != "dp")


def spell(lit: frozenset[str], fourteen: bool) -> set[str]:
    """Every character whose glyph is exactly `lit` (a few share one: 0 and O, 5 and S)."""
    table, names = (FOURTEEN_SEGMENT_ASCII, FOURTEEN_BITS) if fourteen else (SEVEN_SEGMENT_ASCII, SEVEN_BITS)
    return {ch for ch, bits in table.items() if segments(bits, names) == lit}


Cell = tuple[frozenset[str], bool, bool]  # lit segments (no dp), its point lit, the colon after it lit


def read_as(cells: list[Cell], text: str, fourteen: bool = False) -> bool:
    """Whether a row of cells shows `text` as an LCD does (§6.3): each character in a cell, '.' as the point of the
    cell before it and ':' as the colon after it (separators take no cell), blank cells around it."""
    wanted: list[tuple[str, bool, bool]] = []
    for ch in text:
        if ch in ".:" and wanted:
            c, point, colon = wanted[-1]
            wanted[-1] = (c, point or ch == ".", colon or ch == ":")
        else:
            wanted.append((ch, False, False))
    shown = [(lit, point, colon) for lit, point, colon in cells]
    while shown and not shown[0][0] and not shown[0][1] and not shown[0][2]:
        shown.pop(0)
    while shown and not shown[-1][0] and not shown[-1][1] and not shown[-1][2]:
        shown.pop()
    while wanted and wanted[0][0] == " " and not wanted[0][1] and not wanted[0][2]:
        wanted.pop(0)
    while wanted and wanted[-1][0] == " " and not wanted[-1][1] and not wanted[-1][2]:
        wanted.pop()
    if len(shown) != len(wanted):
        return False
    return all((ch in spell(lit, fourteen) or (ch == " " and not lit)) and point == p and colon == c
               for (lit, point, colon), (ch, p, c) in zip(shown, wanted, strict=True))
