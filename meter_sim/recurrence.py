"""First-order recurrences x[n] = a·x[n−1] + c[n] over long spans, in NumPy without a Python loop per step.

The per-second model updates its slow noises (the household's load jitter, the grid's voltage noise and frequency
walk) as `x += c − x·k`, i.e. x[n] = (1 − k)·x[n−1] + c[n]. Here they are computed in blocks: within a block of B
steps a triangular matrix of powers of a gives every value from the block's inputs (one matrix product for all
blocks), and a short recurrence over the blocks carries each block's start value in. The result is the same
recurrence in exact arithmetic; in floating point it differs from the step-by-step sums by a few units in the last
place (relative ~1e-15), which is why the time-warp's agreement is stated as 1e-9 relative and not bit for bit.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
_BLOCK = 64  # steps per block: a 64×64 matrix product is cheap, and a^64 keeps the block carry well conditioned


@lru_cache(maxsize=16)
def _kernel(a: float, b: int) -> tuple[Floats, Floats]:
    """(T, p): T[j, i] = a^(i−j) for j ≤ i (0 above), so that block @ T is the in-block recurrence from 0;
    p[i] = a^(i+1), the weight of the value before the block at step i."""
    i = np.arange(b)
    d = i[None, :] - i[:, None]
    t = np.where(d >= 0, a ** np.maximum(d, 0).astype(np.float64), 0.0)
    return t, a ** (i + 1).astype(np.float64)


def first_order(c: Floats, a: float, x0: float) -> Floats:
    """x[n] = a·x[n−1] + c[n] for n = 0…len(c)−1, with x[−1] = x0 (|a| < 1)."""
    n = len(c)
    if n == 0:
        return np.empty(0)
    b = _BLOCK
    m = -(-n // b)
    padded = np.zeros(m * b)
    padded[:n] = c
    kernel, weights = _kernel(a, b)
    local = padded.reshape(m, b) @ kernel  # each block from a zero start
    # The value before each block: y[k] = a^b·y[k−1] + local[k−1, −1], a recurrence over m blocks.
    ends = local[:, -1]
    carry = np.empty(m)
    y = x0
    ab = a**b
    if m <= 4096:
        for k in range(m):  # few blocks: a plain loop is cheapest
            carry[k] = y
            y = ab * y + ends[k]
    else:
        inner = first_order(ends, ab, 0.0)  # the same method one level up
        carry[0] = x0
        carry[1:] = inner[:-1] + x0 * ab ** np.arange(1, m, dtype=np.float64)
    out = local + carry[:, None] * weights[None, :]
    return out.reshape(-1)[:n]
