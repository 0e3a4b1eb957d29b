"""What the meter's measuring systems see of the installation, per the type number: the connection (X4: three
systems on a 4-wire supply, or two in the Aron connection on a 3-wire supply), the current range (X5) and the
accuracy class (X6).

The household and grid models are per phase conductor, star-connected. This module turns their phase voltages
and phase loads into the inputs of the three metrology channels:

- 4-wire (X4 = 3): unchanged, one measuring system per phase.
- Aron (X4 = 2, 3x230 V): no neutral. The loads are taken as connected between the lines (the household's phase
  k load across L1–L2, L2–L3, L3–L1), the supply as 230 V between lines, and the two measuring systems share L2
  as reference (the two-wattmeter method, Blondel): system 1 measures U12 with I1, system 3 measures U32 with I3.
  Their complex powers add up to the installation's exactly, because I1 + I2 + I3 = 0 without a neutral. The
  voltage objects hold the line voltages U1 = L1–L2, U2 = L1–L3 (calculated), U3 = L2–L3, and the current
  objects the line currents, I2 calculated (§2.2, [OLI]); the middle channel carries no power.
- Accuracy: a meter registers within its class's maximum permissible error; `AccuracySettings.error_fraction`
  says how much of it this meter uses, with sign and size per current range drawn from the seed.
"""

from __future__ import annotations

import cmath
import math
import random
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

from meter_sim.type_number import CurrentRange

_SQRT3 = math.sqrt(3.0)
_ROT = (1.0 + 0j, cmath.rect(1.0, -2.0 * math.pi / 3.0), cmath.rect(1.0, 2.0 * math.pi / 3.0))

# Maximum permissible error in percent at reference conditions, (Itr ≤ I ≤ Imax, Imin ≤ I < Itr): MID classes
# A/B/C from EN 50470-3, IEC classes 2/1 from IEC 62053-21 and 0.5 from IEC 62053-22 (the standards the spec's
# classes refer to; the spec names the classes only).
MPE_PERCENT: Final[dict[str, tuple[float, float]]] = {
    "A": (2.0, 2.5), "B": (1.0, 1.5), "C": (0.5, 1.0), "2": (2.0, 2.5), "1": (1.0, 1.5), "0.5": (0.5, 1.0),
}


class AccuracySettings(BaseModel):
    """How far from ideal the simulated meter registers, within its accuracy class (type number X6)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.0, description="share of the class's maximum permissible error the meter's error reaches (0 = ideal "
        "meter, 1 = at the class limit); sign and size per current range drawn from the seed",
    )


class Accuracy:
    """A meter's registration error: a gain error for currents at or above Itr and one below it."""

    def __init__(self, accuracy_class: str, current: CurrentRange, fraction: float, seed: int) -> None:
        high, low = MPE_PERCENT[accuracy_class]
        rng = random.Random(f"accuracy-{seed}")  # its own stream: the other models draw the same as before
        self.itr = current.itr
        self.gain_high = 1.0 + fraction * high / 100.0 * rng.uniform(-1.0, 1.0)
        self.gain_low = 1.0 + fraction * low / 100.0 * rng.uniform(-1.0, 1.0)
        self.ideal = fraction == 0.0

    def apply(self, u: list[float], p: list[float], q: list[float]) -> tuple[list[float], list[float]]:
        """The powers the meter measures for the true powers p, q at voltages u (new lists)."""
        p_out, q_out = [], []
        for i in (0, 1, 2):
            s = math.hypot(p[i], q[i])
            g = self.gain_high if u[i] > 1.0 and s / u[i] >= self.itr else self.gain_low
            p_out.append(p[i] * g)
            q_out.append(q[i] * g)
        return p_out, q_out


def fuse_limit(u: list[float], p: list[float], q: list[float], imax: float) -> tuple[list[float], list[float]]:
    """(inferred) An installation is fused at or below its meter's Imax (X5), so the household never draws more:
    a phase load beyond Imax is cut back to it. Returns the loads unchanged (the same lists) when none is."""
    capped = False
    p_out, q_out = list(p), list(q)
    for i in (0, 1, 2):
        s = math.hypot(p[i], q[i])
        limit = imax * max(u[i], 1.0)
        if s > limit:
            p_out[i], q_out[i] = p[i] * limit / s, q[i] * limit / s
            capped = True
    return (p_out, q_out) if capped else (p, q)


def aron(u: list[float], p: list[float], q: list[float]) -> tuple[list[float], list[float], list[float], float]:
    """The Aron connection: line voltages (U12, U13, U23), the powers of the three channels (system 1, none,
    system 3) and the calculated line current I2, for phase voltages u (V, the star voltages of a 400 V supply,
    scaled to 230 V between lines) and the loads p, q (W, var) taken as connected L1–L2, L2–L3, L3–L1."""
    v = [u[k] / _SQRT3 * _ROT[k] for k in (0, 1, 2)]
    u12, u23, u31 = v[0] - v[1], v[1] - v[2], v[2] - v[0]
    i12 = _branch(p[0], q[0], u12)
    i23 = _branch(p[1], q[1], u23)
    i31 = _branch(p[2], q[2], u31)
    i1, i2, i3 = i12 - i31, i23 - i12, i31 - i23
    s_a = u12 * i1.conjugate()  # system 1: U12 with I1
    s_c = -u23 * i3.conjugate()  # system 3: U32 with I3
    return [abs(u12), abs(u31), abs(u23)], [s_a.real, 0.0, s_c.real], [s_a.imag, 0.0, s_c.imag], abs(i2)


def _branch(p: float, q: float, u: complex) -> complex:
    """The current of a load drawing p + jq at the voltage u across it (none without voltage)."""
    if abs(u) < 1.0:
        return 0j
    return (complex(p, q) / u).conjugate()
