"""First-order recurrences x[n] = a·x[n−1] + c[n] over long spans, in NumPy without a Python loop per step.

The per-second model updates its slow noises (the household's load jitter, the grid's voltage noise and frequency
walk) as `x += c − x·k`, i.e. x[n] = (1 − k)·x[n−1] + c[n]. Here they are computed in blocks of B steps: laid out
with the blocks side by side (B rows, one column per block), one NumPy operation advances every block by a step
(B − 1 such steps, each over all blocks at once), each block starting from 0; a recurrence of the same kind
over the blocks (blocked in turn) then carries each block's start value in, weighted by a^(i+1) at its step i. The
result is the same recurrence in exact arithmetic; in floating point it differs from the step-by-step sums by a
few units in the last place (relative ~1e-15), which is why the time-warp's agreement is stated as 1e-9 relative
and not bit for bit. (No matrix product: BLAS threads stall on a machine whose other cores are busy.)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
_BLOCK = 64  # steps per block: few Python steps, and a^64 keeps the block carry well conditioned


def first_order(c: Floats, a: float, x0: float) -> Floats:
    """x[n] = a·x[n−1] + c[n] for n = 0…len(c)−1, with x[−1] = x0 (|a| < 1)."""
    n = len(c)
    b = _BLOCK
    if n <= 2 * b:  # the carry's own recurrence ends here: too short for blocks
        out = [0.0] * n
        y = x0
        for i, ci in enumerate(c.tolist()):
            y = a * y + ci
            out[i] = y
        return np.array(out)
    m = -(-n // b)
    padded = c
    if n % b:
        padded = np.zeros(m * b)
        padded[:n] = c
    x = np.ascontiguousarray(padded.reshape(m, b).T)  # x[i, k] = c[k·b + i]: step i of block k
    tmp = np.empty(m)
    for i in range(1, b):
        np.multiply(x[i - 1], a, out=tmp)
        x[i] += tmp
    # The value before each block: y[k] = a^b·y[k−1] + (block k−1's last value from 0), y[0] = x0 — the same
    # kind of recurrence, m long: blocked in turn (a Python loop over the blocks took a third of the time)
    carry = np.empty(m)
    carry[0] = x0
    carry[1:] = first_order(x[-1, :-1], a**b, x0)
    x += np.multiply.outer(a ** np.arange(1, b + 1, dtype=np.float64), carry)
    out_: Floats = x.T.reshape(-1)[:n]
    return out_
