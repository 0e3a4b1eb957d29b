"""The written-out fast paths against their plain references (STYLE §9), bit for bit, on seeded random multi-day
inputs: `Metrology.step` against `metrology.reference_step` (the loop over the phases, every place found by its
register key), and `PowerQuality.step` (its fast path for the quiet second and the shared written-out accumulator)
against `PowerQuality.reference_step` (every check, each detector's own per-phase code).

Bit for bit: floats are compared by their bytes (or by float.hex where a NaN may appear, whose sign the two may
set differently), the power-quality state as JSON (exact float repr, -0.0 and NaN kept apart), events with ==.
"""

from __future__ import annotations

import json
import math
import random
from array import array
from collections.abc import Iterator
from typing import Any

import pytest

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.metrology import ENERGY_KEYS, STARTING_THRESHOLD_CT_W, STARTING_THRESHOLD_W, Metrology, reference_step
from meter_sim.power_quality import PowerQuality, PqEvent, PqSettings

DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01 00:00 UTC


def bits(values: list[float]) -> bytes:
    return array("d", values).tobytes()


# --- metrology ------------------------------------------------------------------------------------------------------
def metrology_inputs(rng: random.Random, n: int) -> Iterator[tuple[float, list[float], list[float], list[float],
                                                                   bool, float, int]]:
    """n seconds of supply and load: mostly a household on a healthy grid, with missing and low phases, loads at
    and around the starting thresholds, ±0.0, open contacts, every tariff, and instantaneous refreshes (dt 0)."""
    edge_v = (0.0, 30.0, 49.999, 50.0, 120.0, 159.99, 160.0, 280.0)
    edge_w = (STARTING_THRESHOLD_W, -STARTING_THRESHOLD_W, 2.2999, -2.2999, STARTING_THRESHOLD_CT_W,
              -STARTING_THRESHOLD_CT_W, 0.5999, 0.0, -0.0, 1e-9)
    for _ in range(n):
        u = [rng.choice(edge_v) if rng.random() < 0.02 else 222.0 + 16.0 * rng.random() for _ in range(3)]
        p = [rng.choice(edge_w) if rng.random() < 0.1 else rng.uniform(-8000.0, 12000.0) for _ in range(3)]
        q = [rng.choice((0.0, -0.0, 1.0)) if rng.random() < 0.1 else rng.uniform(-3000.0, 3000.0) for _ in range(3)]
        yield (0.0 if rng.random() < 0.01 else 1.0, u, p, q, rng.random() < 0.95, 49.9 + 0.2 * rng.random(),
               rng.randint(1, 8))


@pytest.mark.parametrize("threshold", [STARTING_THRESHOLD_W, STARTING_THRESHOLD_CT_W])
def test_metrology_step_equals_its_reference_bit_for_bit(threshold: float) -> None:
    fast, plain = Metrology(threshold), Metrology(threshold)
    rng = random.Random(f"metrology {threshold}")
    moved = set()
    for k, (dt, u, p, q, closed, f, tariff) in enumerate(metrology_inputs(rng, 3 * DAY // 2)):
        # Registers run on for an hour, then for an hour start every step from zero: in a large register the last
        # bit of one step's energy is rounded away, from zero it shows.
        single = k // 3600 % 2 == 1
        if single:
            fast.energy[:] = plain.energy[:] = [0.0] * len(ENERGY_KEYS)
        wh = fast.step(dt, u, p, q, closed, f, tariff)
        assert bits([wh]) == bits([reference_step(plain, dt, u, p, q, closed, f, tariff)]), k
        assert bits(fast.instant) == bits(plain.instant), k
        assert fast.powered == plain.powered
        if single or k % 60 == 0:  # a register that went astray stays astray: once a minute finds it
            assert bits(fast.energy) == bits(plain.energy), k
        if k % 60 == 0:
            moved.update(key for key, value in zip(ENERGY_KEYS, fast.energy, strict=True) if value > 0.0)
    assert bits(fast.energy) == bits(plain.energy)
    assert moved == set(ENERGY_KEYS)  # every register took part, the tariffs' and the quadrants' too


def test_metrology_step_equals_its_reference_on_nan_and_infinite_inputs() -> None:
    rng = random.Random("metrology specials")
    specials = (math.nan, math.inf, -math.inf, 1e308, -1e308)
    for _ in range(2000):
        fast, plain = Metrology(), Metrology()
        dt, u, p, q, closed, f, tariff = next(metrology_inputs(rng, 1))
        p[rng.randrange(3)] = rng.choice(specials)
        q[rng.randrange(3)] = rng.choice((*specials, 0.0))
        wh = fast.step(dt, u, p, q, closed, f, tariff)
        assert wh.hex() == reference_step(plain, dt, u, p, q, closed, f, tariff).hex()
        assert [x.hex() for x in fast.instant] == [x.hex() for x in plain.instant]
        assert [x.hex() for x in fast.energy] == [x.hex() for x in plain.energy]


# --- power quality --------------------------------------------------------------------------------------------------
Sample = tuple[int, tuple[float, float, float], float, list[float]]


def supply(rng: random.Random, days: int) -> Iterator[Sample]:
    """Seconds of a supply: long quiet stretches with a daily swing and noise, broken by every kind of trouble the
    detectors know (excursions, slow sags, rapid changes, phase outages, power-downs, neutral faults, overvoltage,
    frequency excursions, high THD) and by gaps in the samples."""
    t, end = T0, T0 + days * DAY
    while t < end:
        kind = rng.choices(
            ["quiet", "excursion", "mean", "rvc", "phase_out", "down", "neutral", "overvoltage", "frequency", "gap"],
            [24, 8, 3, 4, 4, 2, 3, 2, 4, 2])[0]
        if kind == "gap":
            t += rng.choice([-2, 0, 2, 5, 700])
            continue
        seconds = {"quiet": rng.randint(600, 2 * 3600), "mean": rng.randint(1200, 3600),
                   "neutral": rng.randint(30, 300)}.get(kind, rng.randint(1, 300))
        phase = rng.randrange(3)
        level = {"excursion": rng.choice([rng.uniform(250.0, 262.0), rng.uniform(195.0, 212.0)]),
                 "mean": rng.uniform(-30.0, -8.0), "rvc": rng.choice([-12.0, 12.0]), "overvoltage": 281.0}.get(kind)
        f0 = rng.choice([48.7, 49.3, 51.4, 60.0]) if kind == "frequency" else 50.0
        thd = [rng.uniform(8.5, 12.0) if rng.random() < 0.1 else rng.uniform(0.0, 5.0) for _ in range(6)]
        for _ in range(seconds):
            t += 1
            day = 4.0 * math.sin(2 * math.pi * (t % DAY) / DAY)
            u = [230.0 + day + rng.gauss(0.0, 1.5) for _ in range(3)]
            if kind in ("excursion", "overvoltage") and level is not None:
                u[phase] = level + rng.gauss(0.0, 1.0)
            elif kind in ("mean", "rvc") and level is not None:
                u[phase] += level
            elif kind == "phase_out":
                u[phase] = rng.choice([0.0, 20.0])
            elif kind == "down":
                u = [rng.choice([0.0, 100.0]) for _ in range(3)]
            elif kind == "neutral":
                u = [262.0, 262.0, 262.0]
                u[phase] = 150.0
            yield t, (u[0], u[1], u[2]), f0 + rng.gauss(0.0, 0.02), thd


PQ_SETTINGS = {
    "defaults": PqSettings(),
    "own limits": PqSettings(u_high_sv=245, u_low_sv=215, u_high_mean=240, u_low_mean=220, window_s=300,
                             outage_level=120, outage_time_threshold_s=30, v_lhi=255, neutral_fault_time_s=20),
    # The disconnect's windows keep the fast path closed: every second takes the full step (and its accumulator),
    # which costs more, so it runs two days instead of three.
    "protection": PqSettings(window_s=60, fn=50, ov_disconnect_enabled=True, ov_threshold=270, ov_window_s=3,
                             ov_reconnect_threshold=260, ov_reconnect_window_s=20, neutral_fault_disconnect=True),
}


def state(pq: PowerQuality) -> str:
    return json.dumps(pq.to_state(), sort_keys=True)


@pytest.mark.parametrize("name", list(PQ_SETTINGS))
def test_power_quality_step_equals_its_reference_bit_for_bit(name: str) -> None:
    settings = PQ_SETTINGS[name]
    fast, plain = PowerQuality(settings, standard_offset=3600), PowerQuality(settings, standard_offset=3600)
    seen: list[PqEvent] = []
    quiet = 0
    days = 2 if settings.ov_disconnect_enabled else 3
    for k, (t, u, f, thd) in enumerate(supply(random.Random(f"power quality {name}"), days)):
        events = fast.step(t, u, f, thd[:3], thd[3:])
        assert events == plain.reference_step(t, u, f, thd[:3], thd[3:]), (k, t, u)
        seen.extend(events)
        quiet += all(settings.u_low_sv <= x <= min(settings.u_high_sv, settings.v_lhi) for x in u)
        # Once an hour, and after the first second of every 10-min counter window, where its sums hold one sample
        # each (in a long sum the last bit of one sample's unbalance is rounded away, there it shows).
        if k % 3600 == 0 or t % 600 == 1:
            assert state(fast) == state(plain), (k, t)
        if k % 5000 == 0:  # sub-second events take the same way in both
            assert fast.inject_sag(t, 1, 300.0, 60.0) == plain.inject_sag(t, 1, 300.0, 60.0)
    assert state(fast) == state(plain)
    assert fast.counters() == plain.counters() and fast.frequency_bands() == plain.frequency_bands()
    # The inputs meant something: mostly quiet seconds (the fast path's), and every detector had its say.
    assert quiet > 0.8 * k
    counters = fast.counters()
    assert counters["F1"] + counters["F2"] and counters["THD_U_L2"] and counters["THD_I_L3"], counters
    assert all(counters[c] for c in ("RapidVoltageChanges", "Voltage_Unbalance", "Interupts_Short",
                                     "VoltageVariation_Low1", "Sags")), counters
    kinds = {e.type for e in seen}
    expected = {"sv_max_stop", "sv_min_stop", "mean_under", "outage_start", "outage_end", "neutral_fault_start"}
    if settings.ov_disconnect_enabled:
        expected.add("action")
    assert expected <= kinds, kinds


def test_the_reference_is_not_the_fast_path() -> None:
    """reference_step runs the detectors' own code, not the accumulator the fast path and the full step share (else
    the comparison above would compare that accumulator with itself)."""

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner, self.calls = inner, 0

        def add(self, *args: Any) -> None:
            self.calls += 1
            self.inner.add(*args)

    pq = PowerQuality()
    pq._acc = counting = Counting(pq._acc)  # type: ignore[assignment]
    for k in range(1, 700):
        pq.reference_step(T0 + k, (230.0, 231.0, 229.0), 50.0)
    assert counting.calls == 0
    for k in range(700, 1400):
        pq.step(T0 + k, (230.0, 231.0, 229.0), 50.0)
    assert counting.calls == 700


# --- readings ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("type_number", "extra"), [
    ("6841131BN143101040", {"prepayment": {"enabled": True, "unit": "currency", "prices": {1: 0.3, 2: 0.2}}}),
    ("6841131BN113101040", {}),
    ("6851131BD140011040", {}),  # a CT meter
])
def test_readings_equal_the_register_tables_own_conversion(type_number: str, extra: dict[str, Any]) -> None:
    """`Meter.readings` (conversions looked up once per register set) against `reference_readings` (each register's
    `publish`), every simulated minute for a day with PV and an EV: the same keys, types and values (by repr: -0.0
    is not 0.0 on MQTT); and `readings(keys)` (a `get` of some registers) the same values for those keys."""
    settings = MeterSimSettings(type_number=type_number, seed=3, household={"pv_kwp": 6, "ev_charger_kw": 11},
                                **extra)
    meter = Meter("ref", settings, SteppedClock(T0))
    for minute in range(1, 24 * 60):
        meter.advance_to(T0 + 60 * minute)
        fast, plain = meter.readings(), meter.reference_readings()
        assert [(k, type(v), repr(v)) for k, v in fast.items()] == [(k, type(v), repr(v)) for k, v in plain.items()]
        some = [key for n, key in enumerate(plain) if (n * 7 + minute) % 5 == 0 and key != "time"]
        some.append("no_such_register")
        chosen = meter.readings(some)
        assert [(k, type(v), repr(v)) for k, v in chosen.items()] == [
            (k, type(plain[k]), repr(plain[k])) for k in ["time", *some] if k in plain]
    meter.metrology.energy[0] = -1e-12  # rounds to -0.0: both must publish 0.0
    fast, plain = meter.readings(), meter.reference_readings()
    assert repr(fast["a_plus"]) == repr(plain["a_plus"]) == "0.0"
    assert repr(meter.readings(["a_plus"])["a_plus"]) == "0.0"
