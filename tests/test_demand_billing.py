"""Demand registers (means, peaks per quantity and tariff, accumulated peaks, PTH counter, daily
max/min) and the debiting schedule, driven through simulated time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meter_sim.billing import is_debiting_stop, is_logger2_due
from meter_sim.clock import SteppedClock
from meter_sim.config import HouseholdSettings, MeterSimSettings
from meter_sim.demand import ENERGY_OF, Demand
from meter_sim.meter import Meter

JUL_15 = datetime(2026, 7, 15, 0, 0, tzinfo=UTC).timestamp()


def period_means(meter: Meter, start: int, days: int) -> list[tuple[int, dict[str, float], int]]:
    """(end, mean per quantity computed independently from the registers, tariff) for every period."""
    out = []
    period = meter.period_s
    last = {q: meter.metrology.energy[_index(e)] for q, e in ENERGY_OF.items()}
    for end in range(start + period, start + days * 86400 + 1, period):
        meter.advance_to(end)
        now = {q: meter.metrology.energy[_index(e)] for q, e in ENERGY_OF.items()}
        out.append((end, {q: (now[q] - last[q]) * 3600 / period for q in now}, meter.tariffs.active))
        last = now
    return out


def _index(key: str) -> int:
    from meter_sim.metrology import ENERGY_KEYS

    return ENERGY_KEYS.index(key)


def test_every_peak_is_the_largest_period_mean_with_its_time_and_tariff() -> None:
    settings = MeterSimSettings(household=HouseholdSettings(pv_kwp=8, ev_charger_kw=11), power_threshold_w=1500)
    meter = Meter("m", settings, SteppedClock(JUL_15))
    means = period_means(meter, int(JUL_15), 2)
    for q in ENERGY_OF:
        best = max(means, key=lambda m: m[1][q])
        assert meter.demand.peak(q).value == pytest.approx(best[1][q]), q
        assert meter.demand.peak(q).time == best[0], q
    assert meter.demand.peak("p_minus").value > 1000  # the PV exported at noon
    for tariff in (1, 2):
        in_tariff = [m for m in means if m[2] == tariff]
        assert meter.demand.peak(f"p_plus_t{tariff}").value == pytest.approx(max(m[1]["p_plus"] for m in in_tariff))
    # PTH counter: periods whose P+ mean exceeds 1500 W
    assert meter.demand.pth_counter == sum(1 for m in means if m[1]["p_plus"] > 1500)
    assert meter.readings()["power_threshold_counter"] == meter.demand.pth_counter
    # daily max/min: over the periods of the local day that is running (Z11 = +1 h, standard time)
    today = [m for m in means if (m[0] - 900 + 3600) // 86400 == (means[-1][0] - 900 + 3600) // 86400]
    assert meter.demand.daily_max.value == pytest.approx(max(m[1]["p_plus"] for m in today))
    assert meter.demand.daily_min is not None
    assert meter.demand.daily_min.value == pytest.approx(min(m[1]["p_plus"] for m in today))


def test_p_plus_peaks_are_kept_for_each_of_the_eight_tariffs() -> None:
    # Z13 = 002: the tariff register takes any of T1–T8; each period runs in one tariff, in turn.
    settings = MeterSimSettings(z13=2, household=HouseholdSettings(ev_charger_kw=11))
    meter = Meter("m", settings, SteppedClock(JUL_15))
    means: dict[int, list[float]] = {t: [] for t in range(1, 9)}
    last = meter.metrology.energy[_index("a_plus")]
    for n in range(2 * 96):  # two days of 15-min periods
        tariff = 1 + n % 8
        meter.set_tariff(tariff)
        meter.advance_to(JUL_15 + (n + 1) * 900)
        now = meter.metrology.energy[_index("a_plus")]
        means[tariff].append((now - last) * 3600 / 900)
        last = now
    readings = meter.readings()
    for t in range(1, 9):
        assert meter.demand.peak(f"p_plus_t{t}").value == pytest.approx(max(means[t])), t
        assert readings[f"p_plus_max_t{t}"] == round(max(means[t])), t
    assert len({round(max(m)) for m in means.values()}) == 8  # eight different peaks: kept apart, not shared


def test_debiting_stop_counts_accumulates_and_resets_peaks() -> None:
    meter = Meter("m", MeterSimSettings(), SteppedClock(JUL_15))
    meter.advance_to(JUL_15 + 86400)
    p_max = meter.demand.peak("p_plus").value
    t1_max = meter.demand.peak("p_plus_t1").value
    assert p_max > 0
    meter.debiting_stop()
    readings = meter.readings()
    assert readings["debiting_periods"] == 1
    assert readings["p_plus_max"] == 0 and readings["p_plus_max_time"] is None
    assert readings["p_plus_max_acc"] == round(p_max)
    assert readings["p_plus_max_acc_t1"] == round(t1_max)
    meter.advance_to(JUL_15 + 2 * 86400)
    second = meter.demand.peak("p_plus").value
    meter.debiting_stop()
    assert meter.readings()["p_plus_max_acc"] == round(p_max + second)
    assert meter.readings()["debiting_periods"] == 2


def test_demand_refuses_unknown_periods_and_restores_exactly() -> None:
    with pytest.raises(ValueError, match="5, 15, 30 or 60 min"):
        Demand(600)
    meter = Meter("m", MeterSimSettings(), SteppedClock(JUL_15))
    meter.advance_to(JUL_15 + 5 * 3600 + 123)
    copy = Demand(900)
    copy.restore(meter.demand.to_state())
    assert copy.to_state() == meter.demand.to_state()


@pytest.mark.parametrize(
    ("when", "z6", "months", "stop"),
    [
        (datetime(2026, 3, 1, 0, 0), 1, frozenset(range(1, 13)), True),
        (datetime(2026, 3, 1, 0, 1), 1, frozenset(range(1, 13)), False),
        (datetime(2026, 2, 28, 23, 59), 1, frozenset(range(1, 13)), False),
        (datetime(2026, 3, 15, 0, 0), 15, frozenset({3, 9}), True),
        (datetime(2026, 4, 15, 0, 0), 15, frozenset({3, 9}), False),
        (datetime(2026, 3, 15, 0, 0), 15, None, False),  # Z7 = 00: external stops only
    ],
)
def test_debiting_stop_schedule(when: datetime, z6: int, months: frozenset[int] | None, stop: bool) -> None:
    assert is_debiting_stop(when, z6, months) is stop


def test_debiting_logger_2_schedule() -> None:
    monday = datetime(2026, 11, 23, 0, 0)
    assert is_logger2_due(monday, 1) and is_logger2_due(monday, 2) and not is_logger2_due(monday, 3)
    assert is_logger2_due(datetime(2026, 12, 1, 0, 0), 3)
    assert not is_logger2_due(datetime(2026, 12, 1, 0, 1), 1)
    with pytest.raises(ValueError, match="z25"):
        is_logger2_due(monday, 4)
