"""Smart disconnect (§5.3), software prepayment (§5.5) and tamper (§6.1) as pure state machines,
driven through simulated seconds. Energies are chosen as binary fractions of a kWh (125 Wh = 0.125 kWh)
wherever the exact second of a crossing is asserted, so no float rounding decides the result."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from meter_sim.disconnect import Action, SmartDisconnect, SmartDisconnectSettings
from meter_sim.prepayment import (
    CREDIT_OK,
    EMERGENCY_LIMITED,
    EXPIRED,
    OFF,
    STATES,
    ZERO_DEFERRED,
    ZERO_DISCONNECTED,
    Prepayment,
    PrepaymentRefused,
    PrepaymentSettings,
)
from meter_sim.tamper import ACTIVE_TEMP, LATCHED, NONE, Tamper, TamperSettings

DAY = 86_400


def roundtrip(state: dict[str, Any]) -> dict[str, Any]:
    """What permanent memory gives back: plain JSON."""
    result: dict[str, Any] = json.loads(json.dumps(state))
    return result


# ================================================================================================
# Smart disconnect
# ================================================================================================
# X_d = 10 A: band 1 > 20 A for > 5 s, band 2 > 15 A for > 15 s, band 3 > 12 A for > 35 s.
CURRENT = {"basis": "current", "limit": 10.0, "k1": 2.0, "k2": 1.5, "k3": 1.2, "t1": 5, "t2": 10, "t3": 20}


def sd(**overrides: Any) -> SmartDisconnect:
    return SmartDisconnect(SmartDisconnectSettings(**{**CURRENT, **overrides}))


def first_trip(machine: SmartDisconnect, currents: tuple[float, float, float], p_plus: float = 0.0,
               seconds: int = 20_000) -> int | None:
    """Drive a constant load from t=1; the number of seconds until the trip (None if none)."""
    for t in range(1, seconds + 1):
        action = machine.step(t, currents, p_plus)
        if action is not None:
            assert action == Action("disconnect", "smart_disconnect", action.detail)
            return t
    return None


@pytest.mark.parametrize(
    ("amps", "expected"),
    [
        (20.01, 5 + 1),  # just above X_d·k1: trips on the first second beyond t1
        (20.0, 5 + 10 + 1),  # exactly X_d·k1 is not "above": band 2 (> 15 A) after t1+t2
        (15.01, 5 + 10 + 1),
        (15.0, 5 + 10 + 20 + 1),  # band 3 (> 12 A) after t1+t2+t3
        (12.01, 36),
        (12.0, None),  # at X_d·k3 nothing ever trips
        (11.99, None),
    ],
)
def test_current_band_boundaries(amps: float, expected: int | None) -> None:
    assert first_trip(sd(), (amps, 0.0, 0.0)) == expected


def test_not_tripped_after_exactly_t1_but_after_t1_plus_one() -> None:
    machine = sd()
    assert all(machine.step(t, (25.0, 0.0, 0.0), 0.0) is None for t in range(1, 6))  # 5 s = t1: not > t1
    action = machine.step(6, (25.0, 0.0, 0.0), 0.0)
    assert action is not None and action.kind == "disconnect" and action.detail.startswith("band 1")
    assert machine.tripped and machine.tripped_at == 6


def test_any_phase_trips_and_power_is_ignored_in_current_mode() -> None:
    assert first_trip(sd(), (0.0, 0.0, 20.5), p_plus=1e9) == 6
    assert first_trip(sd(), (0.0, 20.5, 0.0)) == 6


def test_timer_per_band_resets_below_its_band_only() -> None:
    machine = sd()
    # 5 s at 25 A (bands 1–3 counting), one second at 16 A: band 1 resets, bands 2 and 3 keep counting.
    for t in range(1, 6):
        assert machine.step(t, (25.0, 0.0, 0.0), 0.0) is None
    assert machine.step(6, (16.0, 0.0, 0.0), 0.0) is None
    assert machine.held == [0, 6, 6]
    # band 1 needs 6 fresh seconds above 20 A again
    for t in range(7, 12):
        assert machine.step(t, (25.0, 0.0, 0.0), 0.0) is None
    action = machine.step(12, (25.0, 0.0, 0.0), 0.0)
    assert action is not None and action.detail.startswith("band 1")


def test_band_two_keeps_counting_through_band_one_overload() -> None:
    machine = sd()
    # 3 s at 25 A, then 16 A: band 2 (> 15 A) has been exceeded since t=1 and trips at t1+t2+1 = 16.
    for t in range(1, 4):
        assert machine.step(t, (25.0, 0.0, 0.0), 0.0) is None
    for t in range(4, 16):
        assert machine.step(t, (16.0, 0.0, 0.0), 0.0) is None
    action = machine.step(16, (16.0, 0.0, 0.0), 0.0)
    assert action is not None and action.detail.startswith("band 2")


def test_dip_resets_hold_timer() -> None:
    machine = sd()
    loads = [25.0] * 5 + [19.0] + [25.0] * 5  # never 6 s in a row above 20 A; 19 A keeps band 2/3 only
    assert all(machine.step(t, (x, 0.0, 0.0), 0.0) is None for t, x in enumerate(loads, start=1))
    assert machine.step(12, (25.0, 0.0, 0.0), 0.0) is not None


def test_zero_hold_time_trips_in_the_first_second() -> None:
    assert first_trip(sd(t1=0, t2=0, t3=0), (20.01, 0.0, 0.0)) == 1


def test_power_mode_uses_total_p_plus() -> None:
    # X_d = 5 kW: band 1 > 10 kW for > 5 s, band 2 > 7.5 kW for > 15 s, band 3 > 6 kW for > 35 s
    machine = sd(basis="power", limit=5000.0)
    assert first_trip(machine, (500.0, 500.0, 500.0), p_plus=10_000.0, seconds=200) == 16  # exactly k1: band 2
    assert first_trip(sd(basis="power", limit=5000.0), (0.0, 0.0, 0.0), p_plus=7500.0) == 36  # exactly k2: band 3
    assert first_trip(sd(basis="power", limit=5000.0), (0.0, 0.0, 0.0), p_plus=10_000.5) == 6
    assert first_trip(sd(basis="power", limit=5000.0), (100.0, 100.0, 100.0), p_plus=6000.0) is None


def test_basis_none_never_trips() -> None:
    machine = SmartDisconnect(SmartDisconnectSettings())
    assert machine.settings.basis == "none" and not machine.enabled
    assert first_trip(machine, (1000.0, 1000.0, 1000.0), p_plus=1e6, seconds=1000) is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"t1": 11, "t2": 10}, "t1 ≤ t2 ≤ t3"),
        ({"t2": 30, "t3": 20}, "t1 ≤ t2 ≤ t3"),
        ({"k3": 1.6}, "k3 ≤ k2 ≤ k1"),
        ({"k2": 2.5}, "k3 ≤ k2 ≤ k1"),
        ({"limit": 80.01}, "0–80 A"),
        ({"limit": -1.0}, "0–80 A"),
        ({"basis": "power", "limit": 80_001.0}, "0–80000 W"),
        ({"limit": None}, "required"),
        ({"k1": 10.0}, "k1"),
        ({"t3": 65_536}, "t3"),
        ({"reconnect_delay_s": 4}, "reconnect_delay_s"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_settings_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SmartDisconnectSettings(**{**CURRENT, **overrides})


def test_settings_extremes_are_accepted() -> None:
    s = SmartDisconnectSettings(basis="current", limit=80.0, k1=9.9, k2=9.9, k3=0.0, t1=0, t2=65_535, t3=65_535)
    assert s.thresholds == pytest.approx((792.0, 792.0, 0.0))
    assert s.hold_times == (0, 65_535, 131_070)
    assert SmartDisconnectSettings(basis="power", limit=80_000.0).limit == 80_000.0
    with pytest.raises(ValidationError):
        s.k1 = 1.0  # type: ignore[misc]  # frozen


def test_no_automatic_reconnect_unless_configured() -> None:
    machine = sd()
    assert first_trip(machine, (25.0, 0.0, 0.0)) == 6
    assert all(machine.step(t, (0.0, 0.0, 0.0), 0.0) is None for t in range(7, 5000))
    assert machine.tripped


def test_automatic_reconnect_retries_and_trips_again() -> None:
    machine = sd(auto_reconnect=True, reconnect_delay_s=30)
    assert first_trip(machine, (25.0, 0.0, 0.0)) == 6
    assert all(machine.step(t, (0.0, 0.0, 0.0), 0.0) is None for t in range(7, 36))
    assert machine.step(36, (0.0, 0.0, 0.0), 0.0) == Action("reconnect", "smart_disconnect",
                                                            "automatic retry 30 s after the trip")
    # still overloaded after the reconnection: trips again after t1 + 1 s
    assert all(machine.step(t, (25.0, 0.0, 0.0), 0.0) is None for t in range(37, 42))
    action = machine.step(42, (25.0, 0.0, 0.0), 0.0)
    assert action is not None and action.kind == "disconnect" and machine.tripped_at == 42
    # next attempt 30 s after the new trip; this time the load is normal and it stays connected
    assert all(machine.step(t, (0.0, 0.0, 0.0), 0.0) is None for t in range(43, 72))
    reconnect = machine.step(72, (0.0, 0.0, 0.0), 0.0)
    assert reconnect is not None and reconnect.kind == "reconnect"
    assert all(machine.step(t, (11.0, 0.0, 0.0), 0.0) is None for t in range(73, 10_000))
    assert not machine.tripped


def test_refused_reconnect_is_retried_after_the_delay() -> None:
    machine = sd(auto_reconnect=True, reconnect_delay_s=10)
    assert first_trip(machine, (25.0, 0.0, 0.0)) == 6
    assert machine.step(16, (0.0, 0.0, 0.0), 0.0, closed=False) is not None  # attempt at 6 + 10
    for t in range(17, 26):  # the breaker refused: it is still open
        assert machine.step(t, (0.0, 0.0, 0.0), 0.0, closed=False) is None
    assert machine.tripped
    retry = machine.step(26, (0.0, 0.0, 0.0), 0.0, closed=False)
    assert retry is not None and retry.kind == "reconnect"


def test_reconnect_by_another_path_clears_the_trip() -> None:
    machine = sd()
    assert first_trip(machine, (25.0, 0.0, 0.0)) == 6
    assert machine.step(7, (0.0, 0.0, 0.0), 0.0) is None and machine.tripped
    assert machine.step(8, (25.0, 0.0, 0.0), 0.0, closed=True) is None  # consumer's button closed it
    assert not machine.tripped and machine.held == [1, 1, 1]
    # and an open breaker (another cause) stops every timer
    assert machine.step(9, (25.0, 0.0, 0.0), 0.0, closed=False) is None and machine.held == [0, 0, 0]


def test_smart_disconnect_state_survives_restart() -> None:
    reference = sd(auto_reconnect=True, reconnect_delay_s=20)
    restarted = sd(auto_reconnect=True, reconnect_delay_s=20)
    load = [(25.0 if (t // 50) % 2 == 0 else 13.0, 0.0, 1.0) for t in range(400)]
    for t in range(1, 200):
        restarted.step(t, load[t], 0.0)
    copy = sd(auto_reconnect=True, reconnect_delay_s=20)
    copy.restore(roundtrip(restarted.to_state()))
    ref_actions = [reference.step(t, load[t], 0.0) for t in range(1, 400)]
    copy_actions = [copy.step(t, load[t], 0.0) for t in range(200, 400)]
    assert copy_actions == ref_actions[199:]
    assert any(a is not None and a.kind == "reconnect" for a in ref_actions[199:])


# ================================================================================================
# Prepayment
# ================================================================================================
THU = datetime(2026, 1, 15, 0, 0)  # a Thursday, local wall time
T0 = 1_768_435_200  # 2026-01-15T00:00:00Z; the tests keep local = UTC for readability


def pp(**settings: Any) -> Prepayment:
    return Prepayment(PrepaymentSettings(**{"enabled": True, "low_credit": 0.0, **settings}))


class Run:
    """Drives a prepayment machine second by second; working days are Monday–Friday."""

    def __init__(self, machine: Prepayment, start: datetime) -> None:
        self.m = machine
        self.local = start
        self.t = T0 + int((start - THU).total_seconds())
        self.actions: list[tuple[datetime, Action]] = []

    def second(self, wh: float, load_a: float = 5.0, load_w: float = 1000.0, tariff: int = 1) -> list[Action]:
        self.t += 1
        self.local += timedelta(seconds=1)
        out = self.m.consume(self.t, wh, self.local, self.local.weekday() < 5, load_a, load_w, tariff)
        self.actions += [(self.local, a) for a in out]
        return out

    def until(self, when: datetime, wh: float, **kw: Any) -> None:
        while self.local < when:
            self.second(wh, **kw)


def test_running_out_disconnects_at_zero() -> None:
    m = pp(initial_value=1.0)
    run = Run(m, THU.replace(hour=12))
    for _ in range(7):
        assert run.second(125.0) == []  # 0.125 kWh a second
    assert m.state == CREDIT_OK and m.remaining == 0.125
    assert run.second(125.0) == [Action("disconnect", "prepayment", "credit is 0")]
    assert m.state == ZERO_DISCONNECTED and m.remaining == 0.0 and m.credit == 0.0 and m.holds_breaker_open
    assert run.second(0.0) == []  # the breaker is open: no consumption, no new action


def test_overshoot_within_the_last_second_goes_to_credit() -> None:
    m = pp(initial_value=0.0625)
    run = Run(m, THU.replace(hour=12))
    assert [a.kind for a in run.second(125.0)] == ["disconnect"]
    assert m.remaining == 0.0 and m.credit == 0.0625


def test_friendly_night_window_defers_to_its_end() -> None:
    m = pp(initial_value=0.5, friendly_start="22:00", friendly_end="08:00")
    run = Run(m, THU.replace(hour=22, minute=59, second=56))
    for _ in range(4):
        assert run.second(125.0) == []  # runs out at 23:00:00, inside the window
    assert m.state == ZERO_DEFERRED and m.remaining == 0.0
    run.until(datetime(2026, 1, 16, 7, 59, 59), 0.5)  # 1.8 kW all night
    assert m.state == ZERO_DEFERRED and run.actions == []
    nights_seconds = 9 * 3600 - 1
    assert m.credit == pytest.approx(nights_seconds * 0.0005, rel=1e-9)
    assert run.second(0.5) == [Action("disconnect", "prepayment", "credit is 0")]  # 08:00:00
    assert run.local == datetime(2026, 1, 16, 8, 0, 0) and m.state == ZERO_DISCONNECTED
    assert m.credit == pytest.approx(9 * 3600 * 0.0005, rel=1e-9)


def test_friendly_day_window_not_crossing_midnight() -> None:
    m = pp(initial_value=0.125, friendly_start="12:00", friendly_end="13:00")
    run = Run(m, THU.replace(hour=12, minute=30))
    run.second(125.0)
    assert m.state == ZERO_DEFERRED
    run.until(THU.replace(hour=13), 1.0)
    assert [(when, a.kind) for when, a in run.actions] == [(THU.replace(hour=13), "disconnect")]


def test_zero_just_before_the_window_disconnects_at_once() -> None:
    m = pp(initial_value=0.125, friendly_start="22:00", friendly_end="08:00")
    run = Run(m, THU.replace(hour=21, minute=59, second=58))
    assert [a.kind for a in run.second(125.0)] == ["disconnect"]  # 21:59:59 is outside the window
    assert m.state == ZERO_DISCONNECTED


def test_working_days_only_defers_over_the_weekend() -> None:
    m = pp(initial_value=0.125, friendly_working_days_only=True)
    saturday = datetime(2026, 1, 17, 10, 0)
    run = Run(m, saturday)
    assert run.second(125.0) == [] and m.state == ZERO_DEFERRED
    run.until(datetime(2026, 1, 19, 0, 0), 0.25)
    assert [(when, a.kind) for when, a in run.actions] == [(datetime(2026, 1, 19, 0, 0), "disconnect")]


def test_working_days_and_night_window_together() -> None:
    m = pp(initial_value=0.125, friendly_working_days_only=True, friendly_start="22:00", friendly_end="08:00")
    friday_night = datetime(2026, 1, 16, 23, 0)
    run = Run(m, friday_night)
    run.second(125.0)
    run.until(datetime(2026, 1, 19, 8, 0), 0.25)
    # Saturday and Sunday are not working days; Monday 00:00–08:00 is inside the window.
    assert [(when, a.kind) for when, a in run.actions] == [(datetime(2026, 1, 19, 8, 0), "disconnect")]
    assert run.second(0.0) == []  # open: nothing flows, nothing more to do
    # energy that still flows (another path closed the breaker) is put on credit and opens it again
    credit = m.credit
    assert run.second(0.25) == [Action("disconnect", "prepayment", "load while credit is 0")]
    assert m.credit == credit + 0.00025


def test_top_up_pays_the_credit_first_and_reconnects() -> None:
    m = pp(initial_value=0.125, friendly_start="22:00", friendly_end="08:00")
    run = Run(m, THU.replace(hour=23))
    for _ in range(5):
        run.second(125.0)  # 0.125 used up, then 0.5 kWh on credit
    assert m.state == ZERO_DEFERRED and m.credit == 0.5
    assert m.top_up(run.t, 2.0) == []  # breaker never opened: nothing to reconnect
    assert m.state == CREDIT_OK and m.remaining == 1.5 and m.credit == 0.0


def test_top_up_smaller_than_the_credit_keeps_the_meter_off() -> None:
    m = pp(initial_value=0.0625)
    run = Run(m, THU.replace(hour=12))
    run.second(125.0)
    assert m.state == ZERO_DISCONNECTED and m.credit == 0.0625
    assert m.top_up(run.t, 0.03125) == []
    assert m.state == ZERO_DISCONNECTED and m.remaining == 0.0 and m.credit == 0.03125
    assert m.top_up(run.t, 0.03125) == []  # result exactly 0: still off
    assert m.state == ZERO_DISCONNECTED and m.remaining == 0.0 and m.credit == 0.0
    assert m.top_up(run.t, 10.0) == [Action("reconnect", "prepayment", "credit restored by top-up")]
    assert m.state == CREDIT_OK and m.remaining == 10.0 and not m.holds_breaker_open


def test_low_credit_alarm_on_crossing_and_off_after_top_up() -> None:
    m = pp(initial_value=6.0, low_credit=5.0)
    run = Run(m, THU.replace(hour=12))
    for _ in range(8):
        run.second(125.0)
    assert m.remaining == 5.0 and not m.low_credit_alarm  # at the threshold: not below it
    run.second(125.0)
    assert m.low_credit_alarm
    events = m.drain_events()
    assert [(e.kind, e.active, e.remaining) for e in events] == [("low_credit", True, 4.875)]
    m.top_up(run.t, 0.0625)  # 4.9375: still below
    assert m.low_credit_alarm and m.drain_events() == []
    m.top_up(run.t, 1.0)
    assert not m.low_credit_alarm
    assert [(e.kind, e.active) for e in m.drain_events()] == [("low_credit", False)]


def test_state_events_follow_the_transitions() -> None:
    m = pp(initial_value=0.125, friendly_start="22:00", friendly_end="08:00")
    run = Run(m, THU.replace(hour=23))
    run.second(125.0)
    run.until(datetime(2026, 1, 16, 8, 0), 0.0)
    m.top_up(run.t, 1.0)
    assert [(e.kind, e.state) for e in m.drain_events()] == [
        ("state", ZERO_DEFERRED), ("state", ZERO_DISCONNECTED), ("state", CREDIT_OK)]


EMERGENCY = {"emergency_basis": "current", "emergency_limit": 10.0, "t_prepayment_days": 2}


def disconnected_at_zero(**settings: Any) -> tuple[Prepayment, Run]:
    m = pp(initial_value=0.125, **settings)
    run = Run(m, THU.replace(hour=12))
    run.second(125.0)
    assert m.state == ZERO_DISCONNECTED
    return m, run


def test_emergency_supply_is_load_limited() -> None:
    m, run = disconnected_at_zero(**EMERGENCY)
    assert m.request_emergency(run.t) == [Action("reconnect", "prepayment", "emergency supply")]
    assert m.state == EMERGENCY_LIMITED and m.emergency_since == run.t
    for _ in range(3600):
        assert run.second(0.5, load_a=9.99) == []
    assert m.credit == pytest.approx(3600 * 0.0005, rel=1e-9)  # emergency consumption goes to the credit register
    out = run.second(0.5, load_a=10.01)
    assert [a.kind for a in out] == ["disconnect"] and m.state == ZERO_DISCONNECTED
    assert "10.01 A" in out[0].detail
    # a new request may reconnect while emergency time is left; the 2-day timer is not restarted
    started = m.emergency_since
    assert [a.kind for a in m.request_emergency(run.t + 10)] == ["reconnect"]
    assert m.emergency_since == started


def test_emergency_load_at_the_limit_disconnects() -> None:
    m, run = disconnected_at_zero(**EMERGENCY)
    m.request_emergency(run.t)
    assert [a.kind for a in run.second(0.5, load_a=10.0)] == ["disconnect"]  # requires load < I_exception


def test_emergency_power_basis() -> None:
    m, run = disconnected_at_zero(emergency_basis="power", emergency_limit=2000.0, t_prepayment_days=1)
    m.request_emergency(run.t)
    assert run.second(0.5, load_a=50.0, load_w=1999.0) == []
    assert [a.kind for a in run.second(0.5, load_a=0.0, load_w=2000.5)] == ["disconnect"]


def test_emergency_expires_after_t_prepayment_days() -> None:
    m, run = disconnected_at_zero(**EMERGENCY)
    m.request_emergency(run.t)
    started = run.t
    while run.t < started + 2 * DAY - 1:
        assert run.second(0.25, load_a=3.0) == []
    assert m.state == EMERGENCY_LIMITED
    out = run.second(0.25, load_a=3.0)  # exactly 2 days after the start
    assert run.t == started + 2 * DAY
    assert [a.kind for a in out] == ["disconnect"] and m.state == EXPIRED and m.holds_breaker_open
    assert m.credit == pytest.approx(2 * DAY * 0.00025, rel=1e-9)
    with pytest.raises(PrepaymentRefused, match="used up"):
        m.request_emergency(run.t + 100)
    # a top-up that covers the credit reconnects and restores a fresh emergency allowance
    assert [a.kind for a in m.top_up(run.t + 200, 50.0)] == ["reconnect"]
    assert m.state == CREDIT_OK and m.remaining == pytest.approx(50.0 - 43.2) and m.emergency_since is None


def test_emergency_expires_while_disconnected_by_overload() -> None:
    m, run = disconnected_at_zero(**{**EMERGENCY, "t_prepayment_days": 1})
    m.request_emergency(run.t)
    started = run.t
    run.second(0.5, load_a=20.0)
    assert m.state == ZERO_DISCONNECTED
    run.until(THU.replace(hour=12) + timedelta(seconds=1 + DAY - 1), 0.0)
    assert m.state == ZERO_DISCONNECTED and run.t == started + DAY - 1
    assert run.second(0.0) == [] and m.state == EXPIRED  # already open: no second disconnect


def test_emergency_refusals() -> None:
    m, run = disconnected_at_zero()  # no emergency configured
    with pytest.raises(PrepaymentRefused, match="no emergency supply"):
        m.request_emergency(run.t)
    m2, run2 = disconnected_at_zero(emergency_limit=10.0, t_prepayment_days=0)
    with pytest.raises(PrepaymentRefused, match="no emergency supply"):
        m2.request_emergency(run2.t)
    m3 = pp(initial_value=5.0, **EMERGENCY)
    with pytest.raises(PrepaymentRefused, match="CREDIT_OK"):
        m3.request_emergency(T0)


def test_currency_priced_per_tariff() -> None:
    m = pp(unit="currency", prices={1: 2.0, 2: 0.5}, initial_value=10.0)
    run = Run(m, THU.replace(hour=12))
    run.second(1000.0, tariff=1)  # 1 kWh at 2.0
    assert m.remaining == 8.0
    run.second(1000.0, tariff=2)  # 1 kWh at 0.5
    assert m.remaining == 7.5
    for _ in range(3):
        run.second(1000.0, tariff=1)
    assert m.remaining == 1.5
    assert [a.kind for a in run.second(1000.0, tariff=1)] == ["disconnect"]
    assert m.credit == 0.5  # 2.0 priced, 1.5 left: 0.5 currency on credit
    with pytest.raises(ValueError, match="no price for tariff 3"):
        run.second(1.0, tariff=3)


def test_check_compatible() -> None:
    off = Prepayment(PrepaymentSettings())
    off.check_compatible(has_breaker=False, is_ct=True, tariff_control_on=True)  # off: nothing to check
    m = pp()
    m.check_compatible(has_breaker=True, is_ct=False, tariff_control_on=False)
    with pytest.raises(ValueError, match="breaker"):
        m.check_compatible(has_breaker=False, is_ct=False, tariff_control_on=False)
    with pytest.raises(ValueError, match="CT"):
        m.check_compatible(has_breaker=True, is_ct=True, tariff_control_on=False)
    with pytest.raises(ValueError, match="mutually exclusive"):
        m.check_compatible(has_breaker=True, is_ct=False, tariff_control_on=True)
    pp(unit="currency", prices={1: 1.0}).check_compatible(has_breaker=True, is_ct=False, tariff_control_on=True)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"emergency_limit": 80.01}, "0–80 A"),
        ({"emergency_basis": "power", "emergency_limit": 80_001.0}, "0–80000 W"),
        ({"emergency_limit": -1.0}, "emergency_limit"),
        ({"t_prepayment_days": 256}, "t_prepayment_days"),
        ({"friendly_start": "22:00"}, "together"),
        ({"friendly_start": "24:00", "friendly_end": "08:00"}, "HH:MM"),
        ({"friendly_start": "08:00", "friendly_end": "08:00"}, "differ"),
        ({"unit": "currency"}, "prices"),
        ({"unit": "currency", "prices": {9: 1.0}}, "tariff 9"),
        ({"unit": "currency", "prices": {1: -1.0}}, "≥ 0"),
        ({"prices": {1: 1.0}}, "only when unit is 'currency'"),
        ({"initial_value": -1.0}, "initial_value"),
        ({"credit_kwh": 1.0}, "credit_kwh"),
    ],
)
def test_prepayment_settings_errors(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrepaymentSettings(**settings)


def test_prepayment_settings_extremes_are_accepted() -> None:
    s = PrepaymentSettings(emergency_limit=80.0, t_prepayment_days=255, friendly_start="00:00", friendly_end="23:59")
    assert s.emergency_configured and s.window == (0, 1439)
    assert PrepaymentSettings(emergency_basis="power", emergency_limit=80_000.0).emergency_limit == 80_000.0


def test_off_ignores_consumption_and_refuses_top_up() -> None:
    m = Prepayment(PrepaymentSettings(initial_value=1.0))
    assert m.state == OFF
    run = Run(m, THU)
    assert run.second(10_000.0) == [] and m.remaining == 1.0
    with pytest.raises(PrepaymentRefused, match="off"):
        m.top_up(run.t, 1.0)
    with pytest.raises(ValueError, match="finite"):
        m.consume(run.t, math.nan, THU, True, 0.0, 0.0)


def test_enabled_without_credit_disconnects_at_the_first_allowed_second() -> None:
    m = pp(friendly_start="22:00", friendly_end="08:00")
    assert m.state == ZERO_DEFERRED
    run = Run(m, THU.replace(hour=7, minute=59, second=58))
    assert run.second(0.0) == []
    assert [a.kind for a in run.second(0.0)] == ["disconnect"]


def test_prepayment_state_survives_restart() -> None:
    cfg = {"initial_value": 0.125, "friendly_start": "22:00", "friendly_end": "08:00", "low_credit": 1.0, **EMERGENCY}
    m = pp(**cfg)
    run = Run(m, THU.replace(hour=23))
    run.until(THU.replace(hour=23, minute=30), 0.25)
    restored = pp(**cfg)
    restored.restore(roundtrip(m.to_state()))
    assert restored.to_state() == m.to_state()
    assert (restored.state, restored.remaining, restored.credit) == (ZERO_DEFERRED, 0.0, m.credit)
    assert [e.kind for e in restored.drain_events()] == ["low_credit", "state"]  # pending events kept
    run2 = Run(restored, run.local)
    run2.t = run.t
    run.until(datetime(2026, 1, 16, 8, 0), 0.25)
    run2.until(datetime(2026, 1, 16, 8, 0), 0.25)
    assert run2.actions == run.actions != []
    off = Prepayment(PrepaymentSettings())
    off.restore(roundtrip(m.to_state()))  # prepayment switched off meanwhile
    assert off.state == OFF and off.credit == m.credit


# --- fuzz ---------------------------------------------------------------------------------------
op = st.one_of(
    st.tuples(st.just("consume"), st.floats(0.0, 5000.0), st.floats(0.0, 100.0), st.booleans(),
              st.integers(0, 24 * 60 - 1), st.integers(1, 2), st.integers(1, 3000)),
    st.tuples(st.just("top_up"), st.floats(0.0, 100.0)),
    st.tuples(st.just("emergency"),),
)


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(op, max_size=60), unit=st.sampled_from(["kWh", "currency"]),
       initial=st.floats(0.0, 20.0), friendly=st.booleans())
def test_fuzz_registers_stay_consistent(ops: list[tuple[Any, ...]], unit: str, initial: float, friendly: bool) -> None:
    extra: dict[str, Any] = {"unit": "currency", "prices": {1: 0.3, 2: 1.7}} if unit == "currency" else {}
    window: dict[str, Any] = {}
    if friendly:
        window = {"friendly_start": "22:00", "friendly_end": "08:00", "friendly_working_days_only": True}
    m = pp(initial_value=initial, low_credit=2.0, **EMERGENCY, **extra, **window)
    t = T0
    expected_balance = initial
    for item in ops:
        before_credit, before_open = m.credit, m.holds_breaker_open
        if item[0] == "consume":
            _, wh, load_a, working, minute, tariff, dt = item
            t += dt
            local = THU + timedelta(minutes=minute)
            actions = m.consume(t, wh, local, working, load_a, load_a * 230.0, tariff)
            price = 1.0 if unit == "kWh" else {1: 0.3, 2: 1.7}[tariff]
            expected_balance -= wh / 1000.0 * price
            assert m.credit >= before_credit  # credit only grows while consuming
            assert all(a.kind == "disconnect" for a in actions)
        elif item[0] == "top_up":
            actions = m.top_up(t, item[1])
            expected_balance += item[1]
            assert m.credit <= before_credit  # cleared only by a top-up
            assert all(a.kind == "reconnect" for a in actions) and len(actions) <= 1
            assert not actions or before_open
        else:
            try:
                actions = m.request_emergency(t)
                assert [a.kind for a in actions] == ["reconnect"] and m.state == EMERGENCY_LIMITED
            except PrepaymentRefused:
                pass
        for value in (m.remaining, m.credit, m.balance):
            assert math.isfinite(value)
        assert m.remaining >= 0.0 and m.credit >= 0.0
        assert m.remaining == 0.0 or m.credit == 0.0
        assert m.balance == pytest.approx(expected_balance, abs=1e-9)
        assert m.state in STATES and m.state != OFF
        if m.state == CREDIT_OK:
            assert m.remaining > 0.0
        else:
            assert m.remaining == 0.0
        if m.low_credit_alarm:
            assert m.remaining < 2.0  # a top-up to ≥ 2.0 clears it
        if item[0] == "consume":
            assert m.low_credit_alarm == (m.remaining < 2.0)


# ================================================================================================
# Tamper
# ================================================================================================
def test_tamper_temporary_clears_with_the_cause() -> None:
    tamper = Tamper(TamperSettings(symbol_mode="temporary"))
    assert not tamper.symbol_on
    events = tamper.set_input(10, "magnetic", True)
    assert [(e.time, e.detector, e.kind, e.state) for e in events] == [(10, "magnetic", "start", ACTIVE_TEMP)]
    assert tamper.symbol_on and tamper.state("cover") == NONE
    assert tamper.set_input(11, "magnetic", True) == []  # no change, no event
    events = tamper.set_input(20, "magnetic", False)
    assert [(e.time, e.kind, e.state) for e in events] == [(20, "end", NONE)]
    assert not tamper.symbol_on
    assert tamper.release(30, "magnetic") == []


def test_tamper_permanent_latches_until_release() -> None:
    tamper = Tamper(TamperSettings(symbol_mode="permanent"))
    assert [e.state for e in tamper.set_input(5, "cover", True)] == [LATCHED]
    assert tamper.release(6, "cover") == []  # the cover is still open: stays latched
    assert [(e.kind, e.state) for e in tamper.set_input(7, "cover", False)] == [("end", LATCHED)]
    assert tamper.symbol_on  # the cause went away, the symbol stays
    assert tamper.release(8, "magnetic") == [] and tamper.symbol_on  # the other detector is not latched
    events = tamper.release(9, "cover")
    assert [(e.time, e.detector, e.kind, e.state) for e in events] == [(9, "cover", "released", NONE)]
    assert not tamper.symbol_on


def test_tamper_detectors_are_independent_and_release_all() -> None:
    tamper = Tamper(TamperSettings(symbol_mode="permanent"))
    tamper.set_input(1, "cover", True)
    tamper.set_input(2, "magnetic", True)
    tamper.set_input(3, "cover", False)
    tamper.set_input(4, "magnetic", False)
    assert tamper.state("cover") == tamper.state("magnetic") == LATCHED
    assert [e.detector for e in tamper.release(5)] == ["magnetic", "cover"]
    assert not tamper.symbol_on
    with pytest.raises(ValueError, match="gyro"):
        tamper.set_input(6, "gyro", True)


def test_tamper_state_survives_restart() -> None:
    tamper = Tamper(TamperSettings(symbol_mode="permanent"))
    tamper.set_input(1, "cover", True)
    tamper.set_input(2, "cover", False)
    tamper.set_input(3, "magnetic", True)
    restored = Tamper(TamperSettings(symbol_mode="permanent"))
    restored.restore(roundtrip(tamper.to_state()))
    assert restored.to_state() == tamper.to_state() and restored.symbol_on
    assert [e.kind for e in restored.release(4, "cover")] == ["released"]
    # restored under the temporary mode: the latch disappears, the present cause stays active
    temporary = Tamper(TamperSettings(symbol_mode="temporary"))
    temporary.restore(roundtrip(tamper.to_state()))
    assert temporary.state("cover") == NONE and temporary.state("magnetic") == ACTIVE_TEMP
