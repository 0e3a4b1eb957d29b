"""Many `random.Random` generators stepped together: one row of a NumPy matrix per generator.

The array engine (docs/design-notes.md, "The array engine") steps thousands of meters' quiet seconds at once, and
each meter's household and grid draw from their own `random.Random`. Drawing them one generator at a time through a
NumPy twin (meter_sim/bulk_random.py) costs ~0.1 ms a generator to set the twin's state, so this holds the
generators' Mersenne Twister states as rows and runs the generator itself across the rows: the twist and the
tempering are the same integer operations as CPython's `_randommodule.c`, done column-wise, and `random()` builds
the same 53-bit double from two 32-bit words. The rows draw exactly what each `random.Random` would have drawn, and
`write_back` leaves each one at the state it would have reached (tests/test_random_columns.py checks both against
`random.Random` itself, at any position in its 624 words).
"""

from __future__ import annotations

from collections.abc import Sequence
from random import Random

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint32]

_N = 624  # words of state (MT19937)
_UPPER = np.uint32(0x80000000)
_LOWER = np.uint32(0x7FFFFFFF)
_MATRIX_A = np.uint32(0x9908B0DF)
_S7, _S11, _S15, _S18 = (np.uint32(k) for k in (7, 11, 15, 18))
_TWO_26 = 67108864.0
_TWO_M53 = 1.0 / 9007199254740992.0


def _twist(mt: Words) -> None:
    """MT19937's regeneration of all 624 words, in place, for every row: CPython's loop over kk, cut into spans
    whose sources are all either not yet regenerated (kk + 397) or already regenerated (kk − 227)."""
    for a, b, src in ((0, 227, 397), (227, 454, 0), (454, 623, 227)):
        y = (mt[:, a:b] & _UPPER) | (mt[:, a + 1:b + 1] & _LOWER)
        mt[:, a:b] = mt[:, src:src + b - a] ^ (y >> 1) ^ ((y & 1) * _MATRIX_A)
    y = (mt[:, 623] & _UPPER) | (mt[:, 0] & _LOWER)
    mt[:, 623] = mt[:, 396] ^ (y >> 1) ^ ((y & 1) * _MATRIX_A)


def _temper(y: Words) -> Words:
    y = y ^ (y >> _S11)
    y = y ^ ((y << _S7) & np.uint32(0x9D2C5680))
    y = y ^ ((y << _S15) & np.uint32(0xEFC60000))
    return y ^ (y >> _S18)


class RandomColumns:
    """The generators of `rngs` (not touched until `write_back`), one row each."""

    def __init__(self, rngs: Sequence[Random]) -> None:
        states = [r.getstate()[1] for r in rngs]
        self.mt: Words = np.array([s[:_N] for s in states], dtype=np.uint32).reshape(len(states), _N)
        self.pos: Ints = np.array([s[_N] for s in states], dtype=np.int64)  # the next word's index; 624: twist first
        self._rows: Ints = np.arange(len(states), dtype=np.int64)
        self._pos0: Ints | None = None  # see keep()
        self._untwisted: dict[int, Words] = {}

    def __len__(self) -> int:
        return len(self.pos)

    def random(self, rows: Ints | None = None) -> Floats:
        """The next `random.Random.random()` of each row in `rows` (all rows if None), in that order."""
        if rows is None:
            rows = self._rows
        pos = self.pos[rows]
        if (pos < _N - 1).all():  # the usual draw: both words are in the state as it is
            hi, lo = self._word(rows, pos), self._word(rows, pos + 1)
            self.pos[rows] = pos + 2
        else:
            hi = self._next_words(rows)
            lo = self._next_words(rows)
        return ((hi >> 5).astype(np.float64) * _TWO_26 + (lo >> 6).astype(np.float64)) * _TWO_M53

    def _word(self, rows: Ints, pos: Ints) -> Words:
        return _temper(self.mt[rows, pos])

    def _next_words(self, rows: Ints) -> Words:
        """One 32-bit word from each row, twisting the rows that have used up their state."""
        spent = self.pos[rows] >= _N
        if spent.any():
            which = rows[spent]
            if self._pos0 is not None:
                for r in which.tolist():
                    self._untwisted.setdefault(r, self.mt[r].copy())
            mt = self.mt[which]
            _twist(mt)
            self.mt[which] = mt
            self.pos[which] = 0
        pos = self.pos[rows]
        self.pos[rows] = pos + 1
        return self._word(rows, pos)

    def keep(self) -> None:
        """Remember every row's state as it is now, so that `undo` can take back the draws that follow."""
        self._pos0 = self.pos.copy()
        self._untwisted = {}

    def undo(self, row: int) -> None:
        """Row `row` as it was at the last `keep()`."""
        assert self._pos0 is not None
        self.pos[row] = self._pos0[row]
        old = self._untwisted.get(row)
        if old is not None:
            self.mt[row] = old

    def state(self, row: int, like: Random) -> tuple[object, ...]:
        """Row `row` as a `random.Random` state; version and Gaussian cache taken from `like`."""
        version, _, gauss = like.getstate()
        return version, (*self.mt[row].tolist(), int(self.pos[row])), gauss

    def write_back(self, row: int, rng: Random) -> None:
        """Leave `rng` as the draws taken from row `row` would have (its Gaussian cache is kept)."""
        rng.setstate(self.state(row, rng))

    def read(self, row: int, rng: Random) -> None:
        """Take `rng`'s present state into row `row` (after the exact model drew from it)."""
        internal = rng.getstate()[1]
        self.mt[row] = internal[:_N]
        self.pos[row] = internal[_N]
