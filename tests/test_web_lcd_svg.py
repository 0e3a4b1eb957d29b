"""The status page's LCD (gateway/web/lcd_svg.py): its glyphs are the public segment tables', every unit the display
items have can be spelt, and what it draws for the display model's screens reads back, segment by segment, as the
model's text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from segment_fonts import (
    FOURTEEN_BITS,
    FOURTEEN_SEGMENT_ASCII,
    SEVEN_BITS,
    SEVEN_SEGMENT_ASCII,
    Cell,
    read_as,
    segments,
)

from gateway.web.lcd_svg import FOURTEEN, SEVEN, UNIT_PIECES, lcd_svg, unit_pieces
from meter_sim.display import DISPLAY_ITEMS, Symbols, render

NS = {"svg": "http://www.w3.org/2000/svg"}


def test_the_glyphs_are_the_public_tables() -> None:
    for font, table, names in ((SEVEN, SEVEN_SEGMENT_ASCII, SEVEN_BITS), (FOURTEEN, FOURTEEN_SEGMENT_ASCII,
                                                                          FOURTEEN_BITS)):
        assert set(table) <= set(font)
        for ch, bits in table.items():
            assert frozenset(font[ch].split()) == segments(bits, names), ch


def test_every_display_unit_is_spelt_by_the_legends() -> None:
    units = {spec.unit for spec in DISPLAY_ITEMS.values() if spec.unit}
    assert {"kWh", "kvarh", "kVAh", "kW", "V", "A", "Hz"} <= units
    for unit in units:
        pieces = unit_pieces(unit)
        assert pieces is not None and "".join(pieces) == unit and set(pieces) <= set(UNIT_PIECES)


def cells(svg: ET.Element, field: str) -> list[Cell]:
    group = svg.find(f".//svg:g[@data-field='{field}']", NS)
    assert group is not None, field
    out = []
    for cell in group.findall("svg:g[@class='cell']", NS):
        def on(seg: ET.Element) -> bool:
            return "on" in (seg.get("class") or "").split()
        lit = frozenset(s.get("data-seg") or "" for s in cell if on(s) and s.get("data-seg") not in ("dp", "colon"))
        point = any(on(s) for s in cell if s.get("data-seg") == "dp")
        colon = any(on(s) for s in cell if s.get("data-seg") == "colon")
        out.append((lit, point, colon))
    return out


def lit_symbols(svg: ET.Element, sym: str) -> list[dict[str, str]]:
    return [dict(g.attrib) for g in svg.iterfind(f".//svg:g[@data-sym='{sym}']", NS)
            if "on" in (g.get("class") or "").split()]


VALUES = {"1.8.0": 12345.678, "2.8.0": 0.5, "1.7.0": 2345.0, "32.7.0": 231.44, "1.0.0": 1768478401,
          "14.7.0": 49.987, "96.1.0": "26740254", "13.7.0": -0.987}


@pytest.mark.parametrize("item", [*VALUES, "disconnect", "display_test", "96.54.1", "1.6.0", "1.128.0", "0.0.1"])
def test_each_screen_reads_back_as_the_model_says(item: str) -> None:
    symbols = Symbols(phase_voltages=(231.0, 229.0, 0.0), phase_powers=(500.0, -300.0, 0.0),
                      phase_currents=(2.0, 1.0, 0.0), p_total=200.0, q_total=-50.0, tariff=3, breaker="connected",
                      smart_disconnect=True, tamper=True, rf="searching")
    lcd = render(item, VALUES, 3, symbols)
    doc = {"time": "2026-01-15T12:00:00+01:00", "blank": False, "text": lcd.text(), **lcd.as_dict()}
    svg = ET.fromstring(lcd_svg(doc, "lcd-m1"))
    assert read_as(cells(svg, "value"), lcd.value)
    assert read_as(cells(svg, "ident"), lcd.ident)
    assert read_as(cells(svg, "text"), lcd.text_field.upper(), fourteen=True)
    assert read_as(cells(svg, "tariff"), str(lcd.tariff) if lcd.tariff else "")
    assert {s["data-piece"] for s in lit_symbols(svg, "unit")} == set(unit_pieces(lcd.unit) or ())
    assert [s["data-quadrant"] for s in lit_symbols(svg, "quadrant")] == ([str(lcd.quadrant)] if lcd.quadrant else [])
    assert [s["data-phase"] for s in lit_symbols(svg, "phase")] == [str(n + 1) for n, on in enumerate(lcd.phases)
                                                                     if on]
    assert [(s["data-phase"], s["data-dir"]) for s in lit_symbols(svg, "arrow")] == [
        (str(n + 1), a) for n, a in enumerate(lcd.arrows) if a]
    assert [s["data-state"] for s in lit_symbols(svg, "breaker")] == ([] if lcd.breaker == "off" else [lcd.breaker])
    assert [s["data-value"] for s in lit_symbols(svg, "sequence")] == ([lcd.sequence] if lcd.sequence else [])
    assert bool(lit_symbols(svg, "tamper")) is lcd.tamper
    assert [s["data-mode"] for s in lit_symbols(svg, "rf")] == (["flash"] if lcd.rf == "searching" else
                                                                ["steady"] if lcd.rf == "joined" else [])


def test_a_blank_display_lights_nothing() -> None:
    svg = ET.fromstring(lcd_svg({"time": "2026-01-15T12:00:00+01:00", "state": "backup", "blank": True}, "x"))
    assert svg.get("data-blank") == "true"
    assert not [e for e in svg.iter() if "on" in (e.get("class") or "").split()]


def test_text_from_the_payload_is_escaped() -> None:
    svg = lcd_svg({"blank": False, "value": "<b>&", "unit": "<script>", "ident": '"', "text_field": "</svg>",
                   "text": "<x>"}, 'id"><script>')
    ET.fromstring(svg)  # still well-formed: nothing broke out of its attribute or element
    assert "<script>" not in svg and "</svg>" not in svg[:-6]
