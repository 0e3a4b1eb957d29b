"""Metrology: per-phase U, I, P, Q, S, PF from the physics, and energy into the right registers.

Quadrants (three-phase vector summation of the phase powers):
  Q1 = import P, +Q · Q2 = export P, +Q · Q3 = export P, -Q · Q4 = import P, -Q
  A+ = Q1+Q4 · A- = Q2+Q3 · R+ = Q1+Q2 · R- = Q3+Q4 · E+ (apparent) = Q1+Q4 · E- = Q2+Q3
Energy is integrated exactly as the step-constant power times the step length, so over any
interval ΔA+ equals the sum of P+·dt the model reported. Below the starting threshold (2.3 W per
phase) a phase registers nothing.
"""

from __future__ import annotations

import math

from omnipower.registers import REGISTERS_BY_KEY

STARTING_THRESHOLD_W = 2.3
PHASE_PRESENT_V = 160.0  # a phase counts as present at or above this voltage
NO_SUPPLY_V = 50.0  # below this a phase carries no load at all

# Energy accumulators (Wh, varh, VAh), in this order; keys come from the register table.
ENERGY_KEYS: tuple[str, ...] = (
    "a_plus", "a_minus", "r_plus", "r_minus", "r1", "r2", "r3", "r4", "e_plus", "e_minus",
    *(f"a_plus_t{t}" for t in (1, 2, 3, 4)),
    *(f"a_minus_t{t}" for t in (1, 2, 3, 4)),
    *(f"r_plus_t{t}" for t in (1, 2, 3, 4)),
    *(f"r_minus_t{t}" for t in (1, 2, 3, 4)),
    *(f"a_plus_l{n}" for n in (1, 2, 3)),
    *(f"a_minus_l{n}" for n in (1, 2, 3)),
)
(A_PLUS, A_MINUS, R_PLUS, R_MINUS, R1, R2, R3, R4, E_PLUS, E_MINUS) = range(10)
A_PLUS_T, A_MINUS_T, R_PLUS_T, R_MINUS_T = 10 - 1, 14 - 1, 18 - 1, 22 - 1  # + tariff number
A_PLUS_L, A_MINUS_L = 26, 29  # + phase index

# Instantaneous values (W, var, VA, V, A, PF, Hz), in this order.
INSTANT_KEYS: tuple[str, ...] = (
    "p_plus", "p_minus", "q_plus", "q_minus", "s_plus", "s_minus", "pf", "frequency",
    *(f"{q}_l{n}" for q in ("p_plus", "p_minus", "q_plus", "q_minus", "s_plus", "s_minus", "u", "i", "pf")
      for n in (1, 2, 3)),
)
_PHASE_BASE = {q: 8 + 3 * k for k, q in enumerate(
    ("p_plus", "p_minus", "q_plus", "q_minus", "s_plus", "s_minus", "u", "i", "pf"))}

for _key in ENERGY_KEYS + INSTANT_KEYS:
    assert _key in REGISTERS_BY_KEY, f"{_key} is missing from the register table"


class Metrology:
    """Holds the energy registers and the latest instantaneous values."""

    def __init__(self) -> None:
        self.energy = [0.0] * len(ENERGY_KEYS)
        self.instant = [0.0] * len(INSTANT_KEYS)
        self.instant[INSTANT_KEYS.index("pf")] = 1.0
        self.powered = True

    def step(self, dt: float, u: list[float], p_in: list[float], q_in: list[float], closed: bool,
             f: float, tariff: int) -> float:
        """Measure one interval of `dt` seconds; return the A+ energy registered (Wh)."""
        inst = self.instant
        e = self.energy
        self.powered = u[0] >= PHASE_PRESENT_V or u[1] >= PHASE_PRESENT_V or u[2] >= PHASE_PRESENT_V
        p_tot = q_tot = 0.0
        wh = dt / 3600.0
        for i in (0, 1, 2):
            ui = u[i]
            if closed and self.powered and ui >= NO_SUPPLY_V:
                p, q = p_in[i], q_in[i]
            else:
                p = q = 0.0
            s = math.sqrt(p * p + q * q)
            inst[_PHASE_BASE["u"] + i] = ui
            inst[_PHASE_BASE["i"] + i] = s / ui if ui > 1.0 else 0.0
            inst[_PHASE_BASE["pf"] + i] = abs(p) / s if s > 0.0 else 1.0
            if abs(p) < STARTING_THRESHOLD_W:
                p = q = s = 0.0  # the phase registers nothing below the starting threshold
            inst[_PHASE_BASE["p_plus"] + i] = p if p > 0.0 else 0.0
            inst[_PHASE_BASE["p_minus"] + i] = -p if p < 0.0 else 0.0
            inst[_PHASE_BASE["q_plus"] + i] = q if q > 0.0 else 0.0
            inst[_PHASE_BASE["q_minus"] + i] = -q if q < 0.0 else 0.0
            inst[_PHASE_BASE["s_plus"] + i] = s if p >= 0.0 else 0.0
            inst[_PHASE_BASE["s_minus"] + i] = s if p < 0.0 else 0.0
            if p > 0.0:
                e[A_PLUS_L + i] += p * wh
            elif p < 0.0:
                e[A_MINUS_L + i] -= p * wh
            p_tot += p
            q_tot += q
        s_tot = math.sqrt(p_tot * p_tot + q_tot * q_tot)
        inst[0] = p_tot if p_tot > 0.0 else 0.0
        inst[1] = -p_tot if p_tot < 0.0 else 0.0
        inst[2] = q_tot if q_tot > 0.0 else 0.0
        inst[3] = -q_tot if q_tot < 0.0 else 0.0
        inst[4] = s_tot if p_tot >= 0.0 else 0.0
        inst[5] = s_tot if p_tot < 0.0 else 0.0
        inst[6] = abs(p_tot) / s_tot if s_tot > 0.0 else 1.0
        inst[7] = f
        if not self.powered:
            return 0.0
        a_plus = 0.0
        if p_tot >= 0.0:  # Q1 or Q4: import
            a_plus = p_tot * wh
            e[A_PLUS] += a_plus
            e[A_PLUS_T + tariff] += a_plus
            e[E_PLUS] += s_tot * wh
            if q_tot >= 0.0:
                e[R1] += q_tot * wh
            else:
                e[R4] -= q_tot * wh
        else:  # Q2 or Q3: export
            e[A_MINUS] -= p_tot * wh
            e[A_MINUS_T + tariff] -= p_tot * wh
            e[E_MINUS] += s_tot * wh
            if q_tot >= 0.0:
                e[R2] += q_tot * wh
            else:
                e[R3] -= q_tot * wh
        if q_tot >= 0.0:
            e[R_PLUS] += q_tot * wh
            e[R_PLUS_T + tariff] += q_tot * wh
        else:
            e[R_MINUS] -= q_tot * wh
            e[R_MINUS_T + tariff] -= q_tot * wh
        return a_plus
