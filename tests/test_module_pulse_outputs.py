"""Module pulse outputs (§9, Z3 codes 05, 06, 11, 12, 16): A+, A− or R+ pulsed out on I/O1 / I/O2 at 1–1000
imp/kWh (kvarh) with the Z8 pulse width, driven by the meter through simulated time."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.zcodes import z3_pulse_outputs

T0 = 1_700_000_000 - 1_700_000_000 % 3600 + 12 * 3600  # noon: the PV exports


def meter(**settings: Any) -> Meter:
    return Meter("m", MeterSimSettings(**settings), SteppedClock(T0))


def test_the_z3_table_names_the_outputs() -> None:
    assert z3_pulse_outputs(5) == (None, "a_plus")
    assert z3_pulse_outputs(6) == ("r_plus", "a_plus")
    assert z3_pulse_outputs(16) == ("a_minus", "a_plus")
    assert z3_pulse_outputs(3) == (None, None)


@pytest.mark.parametrize(("z3", "registers"), [(16, ("a_minus", "a_plus")), (6, ("r_plus", "a_plus"))])
def test_each_output_pulses_its_register_at_the_configured_constant(z3: int, registers: tuple[str, str]) -> None:
    m = meter(z3=z3, module_pulse_output_imp_per_kwh=1000, household={"pv_kwp": 8.0})
    m.advance_to(T0 + 6 * 3600)  # a feed boundary: every pulse due is counted or queued
    for n, key in enumerate(registers):
        out = m.pulse_outputs[n]
        assert out is not None
        line = out[1]
        wh = m.register(key) * 1000.0  # a new meter: its registers started at 0; kWh / kvarh → Wh / varh
        assert wh > 50.0  # the test means something: PV export, import and reactive energy all flowed
        assert line.count + line.queued in (math.floor(wh), math.floor(wh) - 1, math.floor(wh) + 1)
        assert m.readings()[f"pulse_output_{n + 1}"] == line.count  # published (an HA diagnostic counter)


def test_only_the_outputs_z3_names_are_published() -> None:
    keys = {k for k in meter(z3=5).readings() if k.startswith("pulse_output")}
    assert keys == {"pulse_output_2"}
    assert not any(k.startswith("pulse_output") for k in meter(z3=3).readings())


def test_the_constant_scales_the_pulses() -> None:
    fast, slow = (meter(z3=5, module_pulse_output_imp_per_kwh=k) for k in (1000, 10))
    for m in (fast, slow):
        m.advance_to(T0 + 3 * 3600)
    f_line, s_line = fast.pulse_outputs[1], slow.pulse_outputs[1]
    assert f_line is not None and s_line is not None and fast.pulse_outputs[0] is None
    kwh = fast.register("a_plus")
    assert f_line[1].count == pytest.approx(kwh * 1000, abs=1)
    assert s_line[1].count == pytest.approx(kwh * 10, abs=1)


def test_80_ms_pulses_cannot_keep_up_beyond_32_a_at_1000_imp_per_kwh() -> None:
    # §9: at 1000 imp/kWh an 80-ms output carries up to 32 A on 3 x 230 V (6.25 pulses/s = 22.5 kW); 30 ms 86 A.
    m = meter(z3=5, z8=3, module_pulse_output_imp_per_kwh=1000)
    m.set_load(scale=0.0, extra_w=45_000.0)  # 65 A per phase
    m.advance_to(T0 + 600)
    out = m.pulse_outputs[1]
    assert out is not None
    line = out[1]
    assert line.rate_hz == pytest.approx(6.25, abs=0.1) and line.queued > 1000
    quick = meter(z3=5, z8=1, module_pulse_output_imp_per_kwh=1000)
    quick.set_load(scale=0.0, extra_w=45_000.0)
    quick.advance_to(T0 + 600)
    q_out = quick.pulse_outputs[1]
    assert q_out is not None and q_out[1].queued <= 130  # 12.5 pulses/s fit in 16.7/s: at most a 10-s batch waits


def test_pulse_outputs_carry_on_across_a_restart_and_restart_when_the_role_changes() -> None:
    m = meter(z3=16, module_pulse_output_imp_per_kwh=100)
    m.advance_to(T0 + 3600)
    out = m.pulse_outputs[1]
    assert out is not None
    counted = out[1].count
    again = Meter("m", m.settings, SteppedClock(m.t), state=m.to_state())
    a_out = again.pulse_outputs[1]
    assert a_out is not None and a_out[1].count == counted
    again.advance_to(m.t + 3600)
    assert a_out[1].count == pytest.approx(again.register("a_plus") * 100, abs=1)
    other = Meter("m", m.settings.model_copy(update={"z3": 6}), SteppedClock(m.t), state=m.to_state())
    r_out = other.pulse_outputs[0]
    assert r_out is not None and r_out[1].count == 0  # I/O1 now pulses R+: a new output, counting from now


def test_the_constant_is_checked() -> None:
    for bad in (0, 1001):
        with pytest.raises(ValidationError, match="module_pulse_output_imp_per_kwh"):
            MeterSimSettings(module_pulse_output_imp_per_kwh=bad)
