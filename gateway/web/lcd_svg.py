"""The OMNIPOWER LCD drawn in SVG from the `display` payload (meter_sim/display.py's `LcdText`). Pure: a dict in,
markup out.

The fields and symbols are the data sheet's (facts §6.3, "Display"): the 9-digit value field and the 7-digit
identification field in seven segments, the text field in fourteen, the unit field, L1–L3 with their current arrows,
the phase sequence, the tariff T1–T8, the quadrant indicator, module indication M1–M4, and the error, breaker, tamper,
radio and prepayment symbols. Every segment is drawn, lit ones with class `on` and the others faint, as on the glass;
each carries `data-seg` (segment name) so that what the SVG shows can be read back. The unit field's legends come
from the units of the display items (meter_sim/display.py's catalogue), split into the pieces an LCD prints them with.

Glyphs: the usual ones, as in David Madison's LED-Segment-ASCII tables (MIT), written here as segment names:
seven segments a–g (a top, clockwise, g middle) and dp; fourteen segments a–f, g1/g2 (middle halves), h/j/k (upper
diagonal, vertical, diagonal), n/m/l (lower-left diagonal, vertical, lower-right diagonal).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from meter_sim.display import DISPLAY_ITEMS, ID_DIGITS, VALUE_DIGITS

__all__ = ["FOURTEEN", "SEVEN", "UNIT_PIECES", "lcd_svg", "unit_pieces"]

SEVEN: dict[str, str] = {
    " ": "", "-": "g", "0": "a b c d e f", "1": "b c", "2": "a b d e g", "3": "a b c d g", "4": "b c f g",
    "5": "a c d f g", "6": "a c d e f g", "7": "a b c", "8": "a b c d e f g", "9": "a b c d f g",
    "A": "a b c e f g", "B": "c d e f g", "C": "a d e f", "D": "b c d e g", "E": "a d e f g", "F": "a e f g",
    "G": "a c d e f", "H": "b c e f g", "I": "e f", "J": "b c d e", "L": "d e f", "N": "a b c e f",
    "O": "a b c d e f", "P": "a b e f g", "R": "a b e f", "S": "a c d f g", "T": "d e f g", "U": "b c d e f",
    "Y": "b c d f g", "c": "d e g", "d": "b c d e g", "h": "c e f g", "i": "e", "n": "c e g", "o": "c d e g",
    "r": "e g", "t": "d e f g", "u": "c d e",
}
FOURTEEN: dict[str, str] = {
    " ": "", "-": "g1 g2", "+": "g1 g2 j m", "/": "k n", "0": "a b c d e f k n", "1": "b c k",
    "2": "a b d e g1 g2", "3": "a b c d g2", "4": "b c f g1 g2", "5": "a d f g1 l", "6": "a c d e f g1 g2",
    "7": "a b c", "8": "a b c d e f g1 g2", "9": "a b c d f g1 g2", "A": "a b c e f g1 g2", "B": "a b c d g2 j m",
    "C": "a d e f", "D": "a b c d j m", "E": "a d e f g1", "F": "a e f g1", "G": "a c d e f g2",
    "H": "b c e f g1 g2", "I": "a d j m", "J": "b c d e", "K": "e f g1 k l", "L": "d e f", "M": "b c e f h k",
    "N": "b c e f h l", "O": "a b c d e f", "P": "a b e f g1 g2", "Q": "a b c d e f l", "R": "a b e f g1 g2 l",
    "S": "a c d f g1 g2", "T": "a j m", "U": "b c d e f", "V": "e f k n", "W": "b c e f n l", "X": "h k n l",
    "Y": "b c d f g1 g2", "Z": "a d k n",
}
SEGMENTS_7 = ("a", "b", "c", "d", "e", "f", "g")
SEGMENTS_14 = ("a", "b", "c", "d", "e", "f", "g1", "g2", "h", "j", "k", "n", "m", "l")
TEXT_CELLS = 8  # the text field: "HH:MM:SS" of the date/time item is its longest content

# The printed legends of the unit field, longest first (how a unit is split into them); where each sits.
_PIECES_AT: dict[str, tuple[float, float]] = {
    "k": (448, 80), "W": (464, 80), "var": (488, 80), "h": (530, 80),
    "V": (448, 112), "A": (466, 112), "VA": (486, 112), "Hz": (520, 112), "%": (448, 140),
}
_PIECE_ORDER = tuple(sorted(_PIECES_AT, key=len, reverse=True))


def unit_pieces(unit: str) -> tuple[str, ...] | None:
    """The legends that spell `unit` ("kvarh" → k, var, h); None when they cannot."""
    out: list[str] = []
    rest = unit
    while rest:
        piece = next((p for p in _PIECE_ORDER if rest.startswith(p)), None)
        if piece is None:
            return None
        out.append(piece)
        rest = rest[len(piece):]
    return tuple(out)


# Every legend some display item's unit needs: derived from the catalogue, so a new unit shows up here (or fails
# the test that every unit can be spelt).
UNIT_PIECES: tuple[str, ...] = tuple(sorted({p for spec in DISPLAY_ITEMS.values() if spec.unit
                                             for p in unit_pieces(spec.unit) or ()}))


# --- geometry -------------------------------------------------------------------------------------------------------
def _pts(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _bar(x0: float, y0: float, x1: float, y1: float, t: float) -> str:
    """A segment from (x0, y0) to (x1, y1), `t` thick, with pointed ends (hexagon)."""
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    nx, ny = -uy * t / 2, ux * t / 2
    tip = min(t / 2, length / 2)
    return _pts([(x0, y0), (x0 + ux * tip + nx, y0 + uy * tip + ny), (x1 - ux * tip + nx, y1 - uy * tip + ny),
                 (x1, y1), (x1 - ux * tip - nx, y1 - uy * tip - ny), (x0 + ux * tip - nx, y0 + uy * tip - ny)])


def _cell_segments(x: float, y: float, w: float, h: float, t: float, fourteen: bool) -> dict[str, str]:
    """Polygon points of each segment of a cell at (x, y), `w` × `h`."""
    g = t * 0.35  # the gap between neighbouring segments
    left, right, top, bottom, mid = x + t / 2, x + w - t / 2, y + t / 2, y + h - t / 2, y + h / 2
    segs = {
        "a": _bar(left + g, top, right - g, top, t), "d": _bar(left + g, bottom, right - g, bottom, t),
        "b": _bar(right, top + g, right, mid - g, t), "c": _bar(right, mid + g, right, bottom - g, t),
        "f": _bar(left, top + g, left, mid - g, t), "e": _bar(left, mid + g, left, bottom - g, t),
    }
    if not fourteen:
        segs["g"] = _bar(left + g, mid, right - g, mid, t)
        return segs
    cx, d = x + w / 2, t * 0.8
    segs |= {
        "g1": _bar(left + g, mid, cx - g, mid, t), "g2": _bar(cx + g, mid, right - g, mid, t),
        "j": _bar(cx, top + g, cx, mid - g, t), "m": _bar(cx, mid + g, cx, bottom - g, t),
        "h": _bar(left + d, top + d, cx - d, mid - d, t * 0.7), "k": _bar(right - d, top + d, cx + d, mid - d, t * 0.7),
        "n": _bar(left + d, bottom - d, cx - d, mid + d, t * 0.7),
        "l": _bar(right - d, bottom - d, cx + d, mid + d, t * 0.7),
    }
    return segs


@dataclass(frozen=True, slots=True)
class _Field:
    """A row of digit cells: where, how big, and which glyphs."""

    name: str
    x: float
    y: float
    cells: int
    w: float
    h: float
    pitch: float
    fourteen: bool = False
    align_right: bool = True


_VALUE = _Field("value", 16, 58, VALUE_DIGITS, 30, 60, 45)
_IDENT = _Field("ident", 398, 12, ID_DIGITS, 13, 24, 21)
_TEXT = _Field("text", 16, 150, TEXT_CELLS, 20, 34, 29, fourteen=True, align_right=False)
_TARIFF = _Field("tariff", 302, 12, 1, 13, 24, 21)


def _cells(text: str, count: int, align_right: bool) -> tuple[list[str], set[int], set[int]]:
    """The characters of the cells, the cells followed by a point, and those followed by a colon: '.' and ':' take no
    cell (§6.3: separators take no digit position). Too long: the last `count` cells are shown."""
    chars: list[str] = []
    points: set[int] = set()
    colons: set[int] = set()
    for ch in text:
        if ch in ".:" and chars:
            (points if ch == "." else colons).add(len(chars) - 1)
        elif ch not in ".:":
            chars.append(ch)
    drop = max(0, len(chars) - count)
    chars = chars[drop:]
    points = {i - drop for i in points if i >= drop}
    colons = {i - drop for i in colons if i >= drop}
    pad = count - len(chars)
    if align_right:
        return [" "] * pad + chars, {i + pad for i in points}, {i + pad for i in colons}
    return chars + [" "] * pad, points, colons


def _field(f: _Field, text: str) -> Iterator[str]:
    font = FOURTEEN if f.fourteen else SEVEN
    names = SEGMENTS_14 if f.fourteen else SEGMENTS_7
    chars, points, colons = _cells(text, f.cells, f.align_right)
    t = f.w * (0.16 if f.fourteen else 0.2)
    yield f'<g class="field" data-field="{f.name}" data-text="{escape(text)}">'
    for i, ch in enumerate(chars):
        x = f.x + i * f.pitch
        glyph = font.get(ch, font.get(ch.upper(), ""))
        lit = set(glyph.split())
        known = ' data-unknown="true"' if ch not in font and ch.upper() not in font else ""
        yield f'<g class="cell" data-pos="{i}" data-char="{escape(ch)}"{known}>'
        for name, points_ in _cell_segments(x, f.y, f.w, f.h, t, f.fourteen).items():
            if name in names:
                yield f'<polygon class="seg{" on" if name in lit else ""}" data-seg="{name}" points="{points_}"/>'
        r = t * 0.6
        cx = x + f.w + (f.pitch - f.w) / 2
        yield (f'<circle class="seg{" on" if i in points else ""}" data-seg="dp" cx="{cx:.1f}" '
               f'cy="{f.y + f.h - r:.1f}" r="{r:.1f}"/>')
        if i < f.cells - 1:
            lit_colon = " on" if i in colons else ""
            for cy in (f.y + f.h * 0.3, f.y + f.h * 0.7):
                yield f'<circle class="seg{lit_colon}" data-seg="colon" cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}"/>'
        yield "</g>"
    yield "</g>"


def _symbol(sym: str, on: bool, body: str, **data: str) -> str:
    extra = "".join(f' data-{k}="{escape(v)}"' for k, v in data.items())
    return f'<g class="sym{" on" if on else ""}" data-sym="{sym}"{extra}>{body}</g>'


def _label(x: float, y: float, text: str, size: float = 11) -> str:
    return f'<text x="{x}" y="{y}" font-size="{size}">{escape(text)}</text>'


# --- the LCD --------------------------------------------------------------------------------------------------------
def _str(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    return value if isinstance(value, str) else ""


def _triple(doc: Mapping[str, Any], key: str, kind: type) -> list[Any]:
    value = doc.get(key)
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, kind) for v in value):
        return value
    return [kind()] * 3


def lcd_svg(display: Mapping[str, Any], element_id: str) -> str:
    """The LCD showing `display` (the `display` topic's payload), as an `<svg>` element with id `element_id`."""
    blank = display.get("blank") is not False
    doc: Mapping[str, Any] = {} if blank else display
    tariff = doc.get("tariff")
    tariff_on = isinstance(tariff, int) and not isinstance(tariff, bool) and 1 <= tariff <= 8
    breaker = _str(doc, "breaker")
    rf = _str(doc, "rf")
    quadrant = doc.get("quadrant")
    sequence = _str(doc, "sequence")
    unit = _str(doc, "unit")
    pieces = unit_pieces(unit) or ()
    phases = _triple(doc, "phases", bool)
    arrows = _triple(doc, "arrows", str)
    title = _str(display, "text") or "blank"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(element_id)}" class="lcd" viewBox="0 0 580 205" '
        f'role="img" aria-label="{escape(title)}" data-time="{escape(_str(display, "time"))}" '
        f'data-item="{escape(_str(doc, "item"))}" data-blank="{str(blank).lower()}">',
        f"<title>{escape(title)}</title>",
        '<rect class="glass" x="1" y="1" width="578" height="203" rx="10"/>',
    ]
    for n in range(3):  # L1–L3 present (U ≥ 160 V) and each phase's current arrow (+ import, − export)
        x = 16 + n * 56
        out.append(_symbol("phase", phases[n], _label(x, 26, f"L{n + 1}"), phase=str(n + 1)))
        for direction, points in (("+", [(x + 20, 14), (x + 30, 20), (x + 20, 26)]),
                                  ("-", [(x + 40, 14), (x + 30, 20), (x + 40, 26)])):
            out.append(_symbol("arrow", arrows[n] == direction, f'<polygon points="{_pts(points)}"/>',
                               phase=str(n + 1), dir=direction))
    for n, seq in enumerate(("L1L2L3", "L1L3L2")):
        out.append(_symbol("sequence", sequence == seq, _label(178 + n * 52, 26, seq[:2] + "-" + seq[2:4] + "-" +
                                                                  seq[4:], 9), value=seq))
    out.append(_symbol("tariff", tariff_on, _label(290, 33, "T", 14)))
    out += _field(_TARIFF, str(tariff) if tariff_on else " ")
    for n in range(1, 5):  # module indication: "not active yet" (§6.3)
        out.append(_symbol("module", False, _label(328 + (n - 1) * 17, 22, f"M{n}", 9), module=str(n)))
    out += _field(_IDENT, _str(doc, "ident"))
    out += _field(_VALUE, _str(doc, "value"))
    out.append(f'<g class="field" data-field="unit" data-text="{escape(unit)}">')
    for piece in UNIT_PIECES:
        px, py = _PIECES_AT[piece]
        out.append(_symbol("unit", piece in pieces, _label(px, py, piece, 18), piece=piece))
    if unit and not pieces:  # a unit no legend spells (none today): shown as text rather than lost
        out.append(_symbol("unit", True, _label(452, 144, unit, 16), piece=unit))
    out.append("</g>")
    out += _field(_TEXT, _str(doc, "text_field").upper())
    out += _quadrant(quadrant if isinstance(quadrant, int) and not isinstance(quadrant, bool) else None)
    out += _symbols(breaker, rf, doc)
    out.append("</svg>")
    return "".join(out)


def _quadrant(quadrant: int | None) -> Iterator[str]:
    """The quadrant indicator: the axes (P right = import, Q up) and one lit wedge, Q1 upper right, anticlockwise."""
    cx, cy, r = 300.0, 168.0, 24.0
    yield f'<g class="quadrant" data-quadrant="{quadrant or ""}">'
    yield f'<path class="axis" d="M{cx - r} {cy} H{cx + r} M{cx} {cy - r} V{cy + r}"/>'
    for q, (sx, sy) in enumerate(((1, -1), (-1, -1), (-1, 1), (1, 1)), start=1):
        points = [(cx + sx * 4, cy + sy * 4), (cx + sx * r * 0.85, cy + sy * 4), (cx + sx * 4, cy + sy * r * 0.85)]
        yield _symbol("quadrant", quadrant == q, f'<polygon points="{_pts(points)}"/>', quadrant=str(q))
    yield "</g>"


def _symbols(breaker: str, rf: str, doc: Mapping[str, Any]) -> Iterator[str]:
    """Breaker (closed or open contact; none when smart disconnect is off), radio, tamper, prepayment, error."""
    x, y = 352, 150
    closed = f'<path d="M{x} {y + 30} h10 l22 -2 M{x + 34} {y + 28} h10"/><circle cx="{x + 10}" cy="{y + 30}" r="3"/>'
    opened = f'<path d="M{x} {y + 30} h10 l18 -16 M{x + 34} {y + 30} h10"/><circle cx="{x + 10}" cy="{y + 30}" r="3"/>'
    yield _symbol("breaker", breaker == "connected", closed, state="connected")
    yield _symbol("breaker", breaker == "disconnected", opened, state="disconnected")
    rf_body = (f'<path d="M{x + 70} {y + 36} v-22 M{x + 62} {y + 14} l8 8 l8 -8"/>'
               f'<path d="M{x + 82} {y + 12} q8 10 0 20 M{x + 88} {y + 8} q12 14 0 28"/>')
    rf_class = {"joined": "steady", "searching": "flash"}.get(rf, "")
    yield _symbol("rf", rf in ("joined", "searching"), rf_body, state=rf or "off", mode=rf_class)
    flags = (("tamper", "TAMPER", 118), ("prepayment", "PP", 176), ("error", "ERR", 204))
    for key, text, dx in flags:
        yield _symbol(key, doc.get(key) is True, _label(x + dx, y + 36, text, 12))
