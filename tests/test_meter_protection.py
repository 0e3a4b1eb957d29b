"""Power quality and protection inside the meter (spec §5.4, §7, §7.9): events reach the voltage
quality and neutral-fault logs, the breaker opens with its reason and recloses once allowed."""

from __future__ import annotations

from datetime import UTC, datetime

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.power_quality import PqSettings

T0 = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp())


def meter(**pq: object) -> Meter:
    return Meter("m", MeterSimSettings(power_quality=PqSettings(**pq)), SteppedClock(T0))


def volts(m: Meter, *u: float | None) -> None:
    for phase, value in enumerate(u, 1):
        m.set_phase_voltage(phase, value)


def test_neutral_fault_after_60_s_disconnects_and_stays_open_until_reconnected() -> None:
    m = meter(neutral_fault_disconnect=True)
    m.advance_to(T0 + 600)
    volts(m, 260, 258, 180)  # two phases above 253 V, one below 190 V
    m.advance_to(T0 + 660)  # held 60 s: not yet
    assert m.breaker.state == "connected" and len(m.logs["neutral_fault"].entries()) == 0
    m.advance_to(T0 + 661)  # longer than 60 s
    assert (m.breaker.state, m.breaker.reason) == ("disconnected", "neutral_fault")
    assert [e.type for e in m.logs["neutral_fault"].entries()] == ["neutral_fault_start"]
    alarms = [e for e in m.drain_events() if getattr(e, "type", None) == "neutral_fault"]
    assert [a.active for a in alarms] == [True]  # type: ignore[attr-defined]
    volts(m, None, None, None)
    m.advance_to(T0 + 1000)  # cleared: no automatic reclosing after a neutral fault (§5.2 names none)
    assert (m.breaker.state, m.breaker.reason) == ("disconnected", "neutral_fault")
    assert [e.type for e in m.logs["neutral_fault"].entries()] == ["neutral_fault_start", "neutral_fault_end"]
    m.breaker_command("connect")  # a person recloses it
    assert m.breaker.state == "connected"
    assert [e.type for e in m.logs["disconnect"].entries()] == ["disconnected", "connected"]


def test_neutral_fault_without_disconnect_only_logs_and_alarms() -> None:
    m = meter()
    m.advance_to(T0 + 600)
    volts(m, 260, 258, 180)
    m.advance_to(T0 + 700)
    assert m.breaker.state == "connected"
    assert [e.type for e in m.logs["neutral_fault"].entries()] == ["neutral_fault_start"]


def test_overvoltage_disconnect_with_the_technical_descriptions_example() -> None:
    """270 V over a 2 s window disconnects; 260 V over 5 s reconnects (TD worked example)."""
    m = meter(ov_disconnect_enabled=True, ov_threshold=270, ov_window_s=2, ov_reconnect_threshold=260,
              ov_reconnect_window_s=5)
    m.advance_to(T0 + 600)
    volts(m, 275, None, None)
    m.advance_to(T0 + 601)
    assert m.breaker.state == "connected"  # one second of a 2 s window
    m.advance_to(T0 + 602)
    assert (m.breaker.state, m.breaker.reason) == ("disconnected", "overvoltage")
    volts(m, None, None, None)
    m.advance_to(T0 + 620)
    assert (m.breaker.state, m.breaker.reason) == ("connected", "overvoltage_cleared")


def test_a_remote_disconnect_is_not_undone_by_a_cleared_fault() -> None:
    m = meter(ov_disconnect_enabled=True)
    m.advance_to(T0 + 600)
    volts(m, 300, None, None)
    m.advance_to(T0 + 602)
    assert m.breaker.reason == "overvoltage"
    m.breaker_command("release")  # the utility takes over: manual reconnection path
    volts(m, None, None, None)
    m.advance_to(T0 + 900)
    assert m.breaker.state == "ready_for_reconnection"


def test_voltage_quality_log_and_daily_occurrence_snapshot() -> None:
    m = meter()
    m.advance_to(T0 + 600)
    volts(m, 200, None, None)  # below U_low,sv = 207 V for 3 s
    m.advance_to(T0 + 603)
    volts(m, None, None, None)
    m.advance_to(T0 + 86400)
    types = [e.type for e in m.logs["voltage_quality"].entries()]
    assert types[:3] == ["sv_min_start", "sv_min_peak", "sv_min_stop"]
    (snapshot,) = [e for e in m.logs["occurrence_counters"].entries() if e.t == T0 + 23 * 3600]  # 00:00 +01:00
    assert snapshot.type == "snapshot" and "Interupts_Short" in snapshot.detail
