"""Harmonic distortion of a phase current from the mix of loads on it (spec §7.7: THD I L1–L3, 31/51/71.7.124).

THD = √(Σ_{h=2..40} I_h²) / I_1 (§7.7, inferred definition), in percent. All of the following is (inferred):

- Linear loads (heaters, kettles, ovens, motors) draw a current that follows the supply voltage, so their current
  carries the network's background voltage distortion (1.5–4 %, see grid.py) plus a little of their own (motor and
  transformer saturation): LINEAR_THD_PCT = 4 %.
- Switched-mode electronics without power-factor correction (TVs, computers, chargers, LED drivers) charge their
  input capacitor in short pulses near the voltage peak: a current rich in the 3rd, 5th, 7th… harmonics. A device
  exactly at the IEC 61000-3-2 Class D limits (3.4, 1.9, 1.0, 0.5, 0.35 mA/W for h = 3…11, 3.85/h mA/W up to
  h = 39) has a THD of about 95 % at 230 V. Small devices (< 75 W: LED lamps, chargers, standby supplies) have no
  limits and measure 100–150 %, larger ones with active PFC 5–20 %; the household mix is taken as
  ELECTRONIC_THD_PCT = 100 %.
- Only the fundamental carries the active power (the voltage is nearly sinusoidal), and both kinds of load run
  close to unity displacement power factor, so each part's fundamental current is proportional to its power and
  the fundamentals add: I_1 ∝ P_linear + P_electronic.
- The harmonic currents of the two parts are not in phase: the electronics' own harmonics are set by their
  rectifiers, the linear loads' by the voltage distortion, which lags the network's harmonic currents by the
  (inductive) network impedance. Uncorrelated sources add as the root of the sum of squares (IEC 61000-3-6's
  summation law with exponent 2): I_h ∝ √((THD_el·P_el)² + (THD_lin·P_lin)²).

So THD = √((THD_el·P_el)² + (THD_lin·P_lin)²) / (P_el + P_lin): 0 without current, THD_lin for linear loads alone,
THD_el for electronics alone, and rising with the electronic share s = P_el / (P_el + P_lin) once
s > (THD_lin/THD_el)² / (1 + (THD_lin/THD_el)²) ≈ 0.16 %. Below that the linear loads' own harmonics are
diluted faster than the electronics add theirs: the THD dips, by about 0.003 percentage points.

Export (PV inverters) and EV chargers are near-sinusoidal current sources (inverters must keep their current THD
under 5 %, EN 50549-1 / IEC 61727; on-board chargers have active PFC): count their power as linear.
"""

from __future__ import annotations

import math
from typing import Final

LINEAR_THD_PCT: Final = 4.0
ELECTRONIC_THD_PCT: Final = 100.0


def current_thd(p_linear_w: float, p_electronic_w: float) -> float:
    """Percent THD of a phase current carrying `p_linear_w` of linear loads and `p_electronic_w` of switched-mode
    electronics (W, both ≥ 0: magnitudes of the active power); 0.0 when both are 0."""
    if not (math.isfinite(p_linear_w) and math.isfinite(p_electronic_w)) or p_linear_w < 0 or p_electronic_w < 0:
        raise ValueError(f"powers must be finite and ≥ 0 W, got {p_linear_w!r} and {p_electronic_w!r}")
    fundamental = p_linear_w + p_electronic_w
    if fundamental <= 0.0:
        return 0.0
    harmonic = math.hypot(ELECTRONIC_THD_PCT * p_electronic_w, LINEAR_THD_PCT * p_linear_w)
    return harmonic / fundamental
