"""Bulk draws from a `random.Random` without changing what it would have drawn.

Python's `random.Random.random()` and NumPy's legacy `RandomState.random_sample()` are the same MT19937 generator
with the same 53-bit conversion ((a >> 5) · 2^26 + (b >> 6)) / 2^53, and their states (624 words and a position)
carry over both ways. So a span's numbers can be drawn at once with NumPy, and the `random.Random` left at exactly
the state it would have after the same count of `random()` calls (tests/test_warp_reference.py checks both).
"""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


def numpy_twin(rng: random.Random) -> np.random.RandomState:
    """A RandomState at the state of `rng` (`rng` is not touched)."""
    _, internal, _ = rng.getstate()
    twin = np.random.RandomState()
    twin.set_state(("MT19937", np.array(internal[:624], dtype=np.uint32), int(internal[624]), 0, 0.0))
    return twin


def draw(rng: random.Random, n: int) -> Floats:
    """The next n numbers `rng.random()` would return, without consuming them from `rng`."""
    return numpy_twin(rng).random_sample(n)


def consume(rng: random.Random, n: int) -> None:
    """Advance `rng` as n calls of `rng.random()` would (the Gaussian cache is left as it was)."""
    version, _, gauss = rng.getstate()
    twin = numpy_twin(rng)
    twin.random_sample(n)
    _, key, pos, _, _ = twin.get_state()
    rng.setstate((version, (*(int(k) for k in key), int(pos)), gauss))
