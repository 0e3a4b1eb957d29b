"""The state JSON written straight from the model (gateway/state_json.py) against the plain path it stands in for:
`json.dumps` of `Meter.readings()` plus `tariff_control`, for fleet members of every type number in the fleet's
palette, a CT meter and a prepayment meter, every few simulated minutes over a day with PV and an EV, and values
at the edges (−0, tiny negatives, non-finite). Equal means the same keys in the same order, and each value the
same JSON type and the same number (NaN matched with NaN)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.state_json import SUMMARY_KEYS, StateJson, split_state_json
from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.fleet import FLEET_TYPE_NUMBERS, member_settings
from meter_sim.meter import VECTOR_KEYS, Meter
from meter_sim.warp import warp_to
from omnipower.registers import REGISTERS_BY_KEY, TOTAL_KEYS

T0 = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())


def plain(meter: Meter, tariff_control: str) -> bytes:
    return json.dumps({**meter.readings(), "tariff_control": tariff_control}, separators=(",", ":")).encode()


def rendered(meter: Meter, tariff_control: str) -> bytes:
    """Rendered from `base_values`, from `base_vector` and split (what a fleet uses): the same bytes each way."""
    renderer, time, extra = StateJson(meter.registers), meter.rtc.iso(meter.t), {"tariff_control": tariff_control}
    from_dict = renderer.render(time, meter.base_values(), extra)
    vector = meter.base_vector()
    from_vector, _ = renderer.render_vector(time, vector, extra)
    assert from_vector == from_dict
    split = split_state_json(meter.registers)
    if split is not None:
        assert split.render_vector(time, vector, extra, meter.demand_part, [None, ""])[0] == from_dict
    return from_dict


def same(a: bytes, b: bytes) -> None:
    left, right = json.loads(a), json.loads(b)
    assert list(left) == list(right)
    for key in left:
        x, y = left[key], right[key]
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), key
        elif isinstance(x, float):  # -0.0 == 0.0, but the sign is on the wire
            assert (type(x), x, math.copysign(1.0, x)) == (type(y), y, math.copysign(1.0, y)), key
        else:
            assert (type(x), x) == (type(y), y), key


def published(summary: dict[str, Any]) -> dict[str, Any]:
    """A rendered state's summary at the registers' resolution: it comes unrounded (StateJson.render_state)."""
    return {k: round(v, REGISTERS_BY_KEY[k].kind.spec.decimals) + 0.0 if isinstance(v, float) else v
            for k, v in summary.items()}


def meters() -> list[Meter]:
    """Fleet members: the first of each type number in the palette, then more up to eight."""
    template = MeterSimSettings(household={"pv_kwp": 6, "ev_charger_kw": 11})
    chosen: dict[int, MeterSimSettings] = {}
    types: set[str] = set()
    for n in range(1, 500):
        settings = member_settings(template, 5, n)
        if settings.type_number not in types or len(chosen) < 8:
            types.add(settings.type_number)
            chosen[n] = settings
        if len(types) == len(FLEET_TYPE_NUMBERS) and len(chosen) >= 8:
            break
    out = [Meter(f"m{n}", settings, SteppedClock(T0)) for n, settings in chosen.items()]
    out.append(Meter("ct", MeterSimSettings(type_number="6851131BD140011040"), SteppedClock(T0)))
    prepayment = {"enabled": True, "unit": "currency", "prices": {1: 0.3, 2: 0.2, 3: 0.1, 4: 0.4}}
    out.append(Meter("pp", MeterSimSettings(prepayment=prepayment), SteppedClock(T0)))
    return out


def test_the_members_cover_the_fleets_type_numbers() -> None:
    assert {m.settings.type_number for m in meters()} >= {t for t, _ in FLEET_TYPE_NUMBERS}


@pytest.mark.parametrize("meter", meters(), ids=lambda m: m.id)
def test_rendered_state_equals_the_plain_path(meter: Meter) -> None:
    """The JSON, and the summary that comes with it: totals and console values in published units, unrounded,
    which rounded are what readings has."""
    for minute in range(0, 24 * 60, 7):
        meter.advance_to(T0 + 60 * minute + 1)
        same(rendered(meter, "auto"), plain(meter, "auto"))
        base = meter.base_values()
        _, summary = StateJson(meter.registers).render_state(meter.rtc.iso(meter.t), base, {})
        readings = meter.readings()
        assert [(k, type(v), v) for k, v in published(summary).items()] == [
            (k, type(readings[k]), readings[k]) for k in summary]
        a_plus = REGISTERS_BY_KEY["a_plus"].kind.spec.base_per_unit
        assert summary["a_plus"] == base["a_plus"] / a_plus  # unrounded
        assert StateJson(meter.registers).render_vector(meter.rtc.iso(meter.t), meter.base_vector(), {})[1] == summary
        # The vector is base_values' values in VECTOR_KEYS' order (the same objects: types and signs too).
        vector = meter.base_vector()
        assert len(vector) == len(VECTOR_KEYS) == len(base)
        assert all(base[key] is value or (type(base[key]), base[key]) == (type(value), value)
                   for key, value in zip(VECTOR_KEYS, vector, strict=True))
    same(rendered(meter, "2"), plain(meter, "2"))


@pytest.mark.parametrize("value", [0.0, -0.0, -1e-12, 1e-12, -0.0004999, 0.0005, 2.675, -2.675, 1e16, -1e16, 123456.789,
                                   math.inf, -math.inf, math.nan])
def test_edge_values_are_spelled_as_the_plain_path_rounds_them(value: float) -> None:
    meter = Meter("edge", MeterSimSettings(), SteppedClock(T0))
    meter.advance_to(T0 + 3600)
    for index in range(len(meter.metrology.energy)):
        meter.metrology.energy[index] = value
    for index in range(len(meter.metrology.instant)):
        meter.metrology.instant[index] = value * 7.1
    same(rendered(meter, "auto"), plain(meter, "auto"))


def test_summary_holds_the_totals_as_readings_has_them() -> None:
    meter = Meter("sum", MeterSimSettings(), SteppedClock(T0))
    meter.advance_to(T0 + 86_400)
    readings = meter.readings()
    summary = StateJson(meter.registers).summary(meter.rtc.iso(meter.t), meter.base_values())
    assert summary == {k: readings[k] for k in summary}
    assert {"a_plus", "hour_counter", "p_plus", "u_l1", "breaker", "time"} <= set(summary)


def test_a_meter_after_the_time_warp_renders_as_the_plain_path() -> None:
    """Found by CI: the time-warp leaves numpy floats in the model (a subclass of float), which a `type(v) is
    float` test took for something else and published unconverted (Wh for kWh)."""
    meter = Meter("warped", MeterSimSettings(type_number="684-1131-BN1-1310-1040", z4=4), SteppedClock(T0))
    warp_to(meter, T0 + 86_400)
    assert any(type(v).__module__ == "numpy" for v in meter.base_values().values())  # the case at hand
    same(rendered(meter, "auto"), plain(meter, "auto"))
    assert plain(meter, "auto") == json.dumps({**meter.reference_readings(), "tariff_control": "auto"},
                                              separators=(",", ":")).encode()
    assert 0 < meter.readings()["a_plus"] < 100  # kWh, not Wh


def test_a_different_spelling_would_fail() -> None:
    """The comparison is strict about JSON types (12 is not 12.0), order and the sign of zero."""
    with pytest.raises(AssertionError):
        same(b'{"a":12}', b'{"a":12.0}')
    with pytest.raises(AssertionError):
        same(b'{"a":1,"b":2}', b'{"b":2,"a":1}')
    with pytest.raises(AssertionError):
        same(b'{"a":-0.0}', b'{"a":0.0}')


@pytest.mark.parametrize("keys", [("a_plus", "thd_u_l1", "breaker"), ("a_plus", "a_minus", "thd_u_l1"),
                                  ("thd_u_l1", "thd_u_l2")], ids=["one summed", "two summed", "none summed"])
def test_small_register_sets_render_and_sum_up_as_the_plain_path(keys: tuple[str, ...]) -> None:
    """A register set with one scaled float in the summary (totals, console values) or none takes another getter
    for it than the usual dozens."""
    meter = Meter("small", MeterSimSettings(), SteppedClock(T0))
    meter.advance_to(T0 + 86_400)
    registers = tuple(REGISTERS_BY_KEY[k] for k in keys)
    base, time = meter.base_values(), meter.rtc.iso(meter.t)
    readings = meter.readings(keys)
    payload, summary = StateJson(registers).render_state(time, base, {})
    same(payload, json.dumps(readings, separators=(",", ":")).encode())
    assert published(summary) == {k: readings[k] for k in summary}
    assert set(summary) == {"time", *(k for k in keys if k in TOTAL_KEYS or k in SUMMARY_KEYS)}


@pytest.mark.parametrize("hours", [0.0, 0.5, 1.5, 2.5, 0.4999999, 2.5000001, 1e9 + 0.5, 12345.25])
def test_the_hour_counter_rounds_as_the_plain_path(hours: float) -> None:
    """Published as a whole number: half an hour rounds to even, as `round(x, 0)` does in the plain path."""
    meter = Meter("hours", MeterSimSettings(), SteppedClock(T0))
    meter.advance_to(T0 + 60)
    meter.powered_s = hours * 3600.0
    same(rendered(meter, "auto"), plain(meter, "auto"))
    _, summary = StateJson(meter.registers).render_state(meter.rtc.iso(meter.t), meter.base_values(), {})
    assert summary["hour_counter"] == meter.readings()["hour_counter"]
    assert type(summary["hour_counter"]) is int


def test_base_vector_follows_every_change_of_the_demand_registers() -> None:
    """`base_vector` keeps its demand part until `Demand.revision` moves: each way the demand registers change
    (a period's end, a debiting stop's accumulation and reset, a restore) shows in the very next vector."""
    meter = Meter("kept", MeterSimSettings(), SteppedClock(T0))

    def agrees() -> list[Any]:
        base, vector = meter.base_values(), meter.base_vector()
        assert vector == [base[key] for key in VECTOR_KEYS]
        return vector

    meter.advance_to(T0 + 3 * 3600 - 1)
    before = agrees()
    meter.advance_to(T0 + 3 * 3600)  # a period ends: new means, maybe a peak
    assert agrees() != before
    other = meter.demand.to_state()
    meter.advance_to(T0 + 5 * 3600)
    peaks = agrees()
    meter.demand.debiting_stop()  # a debiting stop adds the peaks to the accumulated registers …
    accumulated = agrees()
    assert accumulated != peaks
    meter.demand.reset_peaks()  # … then resets them
    assert agrees() != accumulated
    meter.demand.restore(other)  # as a meter's permanent memory is read back
    assert agrees() != accumulated


@pytest.mark.parametrize("meter", meters(), ids=lambda m: m.id)
def test_the_split_render_gives_the_same_bytes_while_it_keeps_the_demand_text(meter: Meter) -> None:
    """A fleet member's state: the demand registers' text kept between renders while `Meter.demand_part` stays the
    same object (`Split`), the rest rendered each time; bytes and summary as the whole set's render, every second
    across period ends, and after a debiting stop."""
    split = split_state_json(meter.registers)
    assert split is not None  # every member of a fleet has its demand registers in one run
    whole = StateJson(meter.registers)
    kept: list[Any] = [None, ""]
    renders = 0
    for second in [*range(0, 1900), *range(86_400 - 60, 86_400 + 60)]:
        meter.advance_to(T0 + second)
        if second == 1000:
            meter.debiting_stop()
        vector, time, extra = meter.base_vector(), meter.rtc.iso(meter.t), {"tariff_control": "auto"}
        before = kept[0]
        assert split.render_vector(time, vector, extra, meter.demand_part, kept) == whole.render_vector(time, vector,
                                                                                                         extra)
        renders += kept[0] is not before
    assert 4 <= renders <= 12  # the demand text was made anew at the period ends and the stop, and only then
