"""Metrology: per-phase U, I, P, Q, S, PF from the physics, and energy into the right registers.

Quadrants (three-phase vector summation of the phase powers):
  Q1 = import P, +Q · Q2 = export P, +Q · Q3 = export P, -Q · Q4 = import P, -Q
  A+ = Q1+Q4 · A- = Q2+Q3 · R+ = Q1+Q2 · R- = Q3+Q4 · E+ (apparent) = Q1+Q4 · E- = Q2+Q3
Energy is integrated exactly as the step-constant power times the step length, so over any
interval ΔA+ equals the sum of P+·dt the model reported. Below the starting threshold (2.3 W, on CT meters 0.6 W, per
phase) a phase registers nothing.

`Metrology.step` runs once per simulated second (31.5 million times a simulated year), so it is
written out per phase with constant indices instead of a loop over the phases (1.7x faster), and it
adds to the active tariff's six registers (A±, R±, E±; T1–T8) at literal offsets, with
every value computed by the same float operations in the same order as in the loop it replaced, so
the results are bit for bit the same. That loop is kept as `reference_step`, which finds every value's place by its
register key; what the fast step gives up is that readability and its indices' independence of the layout (asserted
at import). A change to what a step measures must be made in both: tests/test_fast_paths_reference.py runs them
side by side on random inputs and wants them equal bit for bit. The instantaneous values are computed every step,
not on demand: the meter reads them every second (analysis-logger means, smart disconnect).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from omnipower.registers import MAX_TARIFF, REGISTERS_BY_KEY

# The one home of these §1 numbers: the type number, the display and power quality import them from here.
STARTING_THRESHOLD_W: Final = 2.3  # §1: per phase, direct meters; below it a phase registers nothing
STARTING_THRESHOLD_CT_W: Final = 0.6  # §1: per phase, CT meters
PHASE_PRESENT_V: Final = 160.0  # §1: a phase counts as present at or above this voltage
NO_SUPPLY_V: Final = 50.0  # below this a phase carries no load at all

# Energy accumulators (Wh, varh, VAh), in this order; keys come from the register table. All 8 tariffs are
# counted whatever the configuration (§2.8); which of them a meter publishes is meter_registers' business.
_TARIFFS = range(1, MAX_TARIFF + 1)
ENERGY_KEYS: tuple[str, ...] = (
    "a_plus", "a_minus", "r_plus", "r_minus", "r1", "r2", "r3", "r4", "e_plus", "e_minus",
    *(f"a_plus_l{n}" for n in (1, 2, 3)),
    *(f"a_minus_l{n}" for n in (1, 2, 3)),
    *(f"{q}_t{t}" for q in ("a_plus", "a_minus", "r_plus", "r_minus", "e_plus", "e_minus") for t in _TARIFFS),
)
(A_PLUS, A_MINUS, R_PLUS, R_MINUS, R1, R2, R3, R4, E_PLUS, E_MINUS) = range(10)
A_PLUS_L, A_MINUS_L = 10, 13  # + phase index
A_PLUS_T, A_MINUS_T, R_PLUS_T, R_MINUS_T, E_PLUS_T, E_MINUS_T = 15, 23, 31, 39, 47, 55  # + tariff number (1–8)

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
# step() writes `instant` with literal indices (written out below); fail at import if the layout ever changes:
#   0–7 totals p+ p- q+ q- s+ s- pf f · then per phase L1, L2, L3: 8 p+ · 11 p- · 14 q+ · 17 q- · 20 s+ · 23 s- ·
#   26 u · 29 i · 32 pf
assert INSTANT_KEYS[:8] == ("p_plus", "p_minus", "q_plus", "q_minus", "s_plus", "s_minus", "pf", "frequency")
assert len(INSTANT_KEYS) == 35 and [_PHASE_BASE[q] for q in (
    "p_plus", "p_minus", "q_plus", "q_minus", "s_plus", "s_minus", "u", "i", "pf")] == list(range(8, 35, 3))
# Likewise the energies: 0–9 totals, 10–12 A+ L1–L3, 13–15 A- L1–L3, then 8 tariffs each of A+ A- R+ R- E+ E-.
assert (A_PLUS_L, A_MINUS_L) == (10, 13) and ENERGY_KEYS[10] == "a_plus_l1" and ENERGY_KEYS[13] == "a_minus_l1"
assert [ENERGY_KEYS[i + 1] for i in (A_PLUS_T, A_MINUS_T, R_PLUS_T, R_MINUS_T, E_PLUS_T, E_MINUS_T)] == [
    "a_plus_t1", "a_minus_t1", "r_plus_t1", "r_minus_t1", "e_plus_t1", "e_minus_t1"]
assert ENERGY_KEYS[E_MINUS_T + MAX_TARIFF] == "e_minus_t8" and len(ENERGY_KEYS) == E_MINUS_T + MAX_TARIFF + 1
assert ENERGY_KEYS[:10] == ("a_plus", "a_minus", "r_plus", "r_minus", "r1", "r2", "r3", "r4", "e_plus", "e_minus")

_sqrt = math.sqrt


class Metrology:
    """Holds the energy registers and the latest instantaneous values."""

    def __init__(self, starting_threshold_w: float = STARTING_THRESHOLD_W) -> None:
        self.starting_threshold_w = starting_threshold_w  # per phase: 2.3 W direct, 0.6 W CT (§1)
        self.energy = [0.0] * len(ENERGY_KEYS)
        self.instant = [0.0] * len(INSTANT_KEYS)
        self.instant[INSTANT_KEYS.index("pf")] = 1.0
        self.powered = True

    def to_state(self) -> dict[str, float]:
        """The energy registers by key (the instantaneous values are measured afresh)."""
        return dict(zip(ENERGY_KEYS, self.energy, strict=True))

    def restore(self, state: dict[str, Any]) -> None:
        """Registers saved before one existed start at 0. In place: others hold on to the list."""
        self.energy[:] = [float(state.get(k, 0.0)) for k in ENERGY_KEYS]

    def step(self, dt: float, u: Sequence[float], p_in: Sequence[float], q_in: Sequence[float], closed: bool,
             f: float, tariff: int) -> float:
        """Measure one interval of `dt` seconds with `tariff` (1–8) active; return the A+ energy registered (Wh)."""
        e = self.energy
        u1, u2, u3 = u[0], u[1], u[2]
        powered = u1 >= PHASE_PRESENT_V or u2 >= PHASE_PRESENT_V or u3 >= PHASE_PRESENT_V
        self.powered = powered
        # A phase carries its load only through closed contacts, with the meter powered and the phase present.
        p1 = q1 = p2 = q2 = p3 = q3 = 0.0
        if closed and powered:
            if u1 >= NO_SUPPLY_V:
                p1, q1 = p_in[0], q_in[0]
            if u2 >= NO_SUPPLY_V:
                p2, q2 = p_in[1], q_in[1]
            if u3 >= NO_SUPPLY_V:
                p3, q3 = p_in[2], q_in[2]
        inst = self.instant
        wh = dt / 3600.0
        sqrt = _sqrt
        st = self.starting_threshold_w
        # L1. I and PF come from the load before the starting threshold; the sign of P picks import or
        # export; |P| below the threshold registers nothing (NaN, never produced by the model, is passed on).
        s1 = sqrt(p1 * p1 + q1 * q1)
        inst[26] = u1
        inst[29] = s1 / u1 if u1 > 1.0 else 0.0
        if p1 >= st:
            inst[32] = p1 / s1
            inst[8] = p1
            inst[11] = 0.0
            inst[20] = s1
            inst[23] = 0.0
            e[10] += p1 * wh
        elif p1 <= -st:
            inst[32] = -p1 / s1
            inst[8] = 0.0
            inst[11] = -p1
            inst[20] = 0.0
            inst[23] = s1
            e[13] -= p1 * wh
        else:
            inst[32] = abs(p1) / s1 if s1 > 0.0 else 1.0
            inst[8] = inst[11] = inst[20] = inst[23] = 0.0
            if p1 == p1:  # not NaN
                p1 = q1 = s1 = 0.0
        if q1 > 0.0:
            inst[14] = q1
            inst[17] = 0.0
        elif q1 < 0.0:
            inst[14] = 0.0
            inst[17] = -q1
        else:
            inst[14] = inst[17] = 0.0
        # L2, as L1.
        s2 = sqrt(p2 * p2 + q2 * q2)
        inst[27] = u2
        inst[30] = s2 / u2 if u2 > 1.0 else 0.0
        if p2 >= st:
            inst[33] = p2 / s2
            inst[9] = p2
            inst[12] = 0.0
            inst[21] = s2
            inst[24] = 0.0
            e[11] += p2 * wh
        elif p2 <= -st:
            inst[33] = -p2 / s2
            inst[9] = 0.0
            inst[12] = -p2
            inst[21] = 0.0
            inst[24] = s2
            e[14] -= p2 * wh
        else:
            inst[33] = abs(p2) / s2 if s2 > 0.0 else 1.0
            inst[9] = inst[12] = inst[21] = inst[24] = 0.0
            if p2 == p2:  # not NaN
                p2 = q2 = s2 = 0.0
        if q2 > 0.0:
            inst[15] = q2
            inst[18] = 0.0
        elif q2 < 0.0:
            inst[15] = 0.0
            inst[18] = -q2
        else:
            inst[15] = inst[18] = 0.0
        # L3, as L1.
        s3 = sqrt(p3 * p3 + q3 * q3)
        inst[28] = u3
        inst[31] = s3 / u3 if u3 > 1.0 else 0.0
        if p3 >= st:
            inst[34] = p3 / s3
            inst[10] = p3
            inst[13] = 0.0
            inst[22] = s3
            inst[25] = 0.0
            e[12] += p3 * wh
        elif p3 <= -st:
            inst[34] = -p3 / s3
            inst[10] = 0.0
            inst[13] = -p3
            inst[22] = 0.0
            inst[25] = s3
            e[15] -= p3 * wh
        else:
            inst[34] = abs(p3) / s3 if s3 > 0.0 else 1.0
            inst[10] = inst[13] = inst[22] = inst[25] = 0.0
            if p3 == p3:  # not NaN
                p3 = q3 = s3 = 0.0
        if q3 > 0.0:
            inst[16] = q3
            inst[19] = 0.0
        elif q3 < 0.0:
            inst[16] = 0.0
            inst[19] = -q3
        else:
            inst[16] = inst[19] = 0.0
        # Summed from 0.0 in phase order, as the running sum of a loop (0.0 + -0.0 is +0.0).
        p_tot = 0.0 + p1 + p2 + p3
        q_tot = 0.0 + q1 + q2 + q3
        s_tot = sqrt(p_tot * p_tot + q_tot * q_tot)
        inst[0] = p_tot if p_tot > 0.0 else 0.0
        inst[1] = -p_tot if p_tot < 0.0 else 0.0
        inst[2] = q_tot if q_tot > 0.0 else 0.0
        inst[3] = -q_tot if q_tot < 0.0 else 0.0
        inst[4] = s_tot if p_tot >= 0.0 else 0.0
        inst[5] = s_tot if p_tot < 0.0 else 0.0
        inst[6] = abs(p_tot) / s_tot if s_tot > 0.0 else 1.0
        inst[7] = f
        if not powered:
            return 0.0
        # Literal indices, like the per-phase ones above (layout asserted at import): the totals A+ 0, A- 1, R+ 2,
        # R- 3, R1–R4 4–7, E+ 8, E- 9; the active tariff's registers at k = A_PLUS_T + tariff, A- k+8, R+ k+16,
        # R- k+24, E+ k+32, E- k+40.
        k = tariff + 15
        a_plus = 0.0
        apparent = s_tot * wh
        if p_tot >= 0.0:  # Q1 or Q4: import
            a_plus = p_tot * wh
            e[0] += a_plus
            e[k] += a_plus
            e[8] += apparent
            e[k + 32] += apparent
            if q_tot >= 0.0:
                e[4] += q_tot * wh
            else:
                e[7] -= q_tot * wh
        else:  # Q2 or Q3: export
            e[1] -= p_tot * wh
            e[k + 8] -= p_tot * wh
            e[9] += apparent
            e[k + 40] += apparent
            if q_tot >= 0.0:
                e[5] += q_tot * wh
            else:
                e[6] -= q_tot * wh
        if q_tot >= 0.0:
            e[2] += q_tot * wh
            e[k + 16] += q_tot * wh
        else:
            e[3] -= q_tot * wh
            e[k + 24] -= q_tot * wh
        return a_plus


_INSTANT_AT = {key: i for i, key in enumerate(INSTANT_KEYS)}
_ENERGY_AT = {key: i for i, key in enumerate(ENERGY_KEYS)}


def reference_step(m: Metrology, dt: float, u: Sequence[float], p_in: Sequence[float], q_in: Sequence[float],
                   closed: bool, f: float, tariff: int) -> float:
    """`Metrology.step` as the plain loop over the phases it was unrolled from, every place found by its key: the
    reference the fast step is tested against (same float operations in the same order, so the same bits)."""
    e, inst = m.energy, m.instant
    at, energy_at = _INSTANT_AT.__getitem__, _ENERGY_AT.__getitem__
    powered = any(ui >= PHASE_PRESENT_V for ui in u)
    m.powered = powered
    wh = dt / 3600.0
    st = m.starting_threshold_w
    p_tot = q_tot = 0.0
    for n in (1, 2, 3):
        un = u[n - 1]
        # A phase carries its load only through closed contacts, with the meter powered and the phase present.
        p, q = (p_in[n - 1], q_in[n - 1]) if closed and powered and un >= NO_SUPPLY_V else (0.0, 0.0)
        s = _sqrt(p * p + q * q)
        inst[at(f"u_l{n}")] = un
        inst[at(f"i_l{n}")] = s / un if un > 1.0 else 0.0
        imports, exports = p >= st, p <= -st
        if imports or exports:  # at or above the starting threshold: the sign of P picks import or export
            inst[at(f"pf_l{n}")] = abs(p) / s
            e[energy_at(f"a_plus_l{n}" if imports else f"a_minus_l{n}")] += abs(p) * wh
        else:
            inst[at(f"pf_l{n}")] = abs(p) / s if s > 0.0 else 1.0
            if p == p:  # below the threshold a phase registers nothing (NaN, never produced, is passed on)
                p = q = s = 0.0
        inst[at(f"p_plus_l{n}")] = p if imports else 0.0
        inst[at(f"p_minus_l{n}")] = -p if exports else 0.0
        inst[at(f"s_plus_l{n}")] = s if imports else 0.0
        inst[at(f"s_minus_l{n}")] = s if exports else 0.0
        inst[at(f"q_plus_l{n}")] = q if q > 0.0 else 0.0
        inst[at(f"q_minus_l{n}")] = -q if q < 0.0 else 0.0
        p_tot += p
        q_tot += q
    s_tot = _sqrt(p_tot * p_tot + q_tot * q_tot)
    inst[at("p_plus")] = p_tot if p_tot > 0.0 else 0.0
    inst[at("p_minus")] = -p_tot if p_tot < 0.0 else 0.0
    inst[at("q_plus")] = q_tot if q_tot > 0.0 else 0.0
    inst[at("q_minus")] = -q_tot if q_tot < 0.0 else 0.0
    inst[at("s_plus")] = s_tot if p_tot >= 0.0 else 0.0
    inst[at("s_minus")] = s_tot if p_tot < 0.0 else 0.0
    inst[at("pf")] = abs(p_tot) / s_tot if s_tot > 0.0 else 1.0
    inst[at("frequency")] = f
    if not powered:
        return 0.0

    def add(key: str, value: float) -> None:  # to the total and to the active tariff's register
        e[energy_at(key)] += value
        e[energy_at(f"{key}_t{tariff}")] += value

    quadrant = (1 if q_tot >= 0.0 else 4) if p_tot >= 0.0 else (2 if q_tot >= 0.0 else 3)
    e[energy_at(f"r{quadrant}")] += abs(q_tot) * wh
    add("a_plus" if p_tot >= 0.0 else "a_minus", abs(p_tot) * wh)
    add("e_plus" if p_tot >= 0.0 else "e_minus", s_tot * wh)
    add("r_plus" if q_tot >= 0.0 else "r_minus", abs(q_tot) * wh)
    return p_tot * wh if p_tot >= 0.0 else 0.0
