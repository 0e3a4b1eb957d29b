"""RandomColumns draws what each random.Random would, and leaves each at the state it would reach."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from meter_sim.random_columns import RandomColumns


def generators(seeds: list[int], skips: list[int]) -> list[random.Random]:
    """Seeded generators, each moved on by a number of 32-bit words (odd counts put it between doubles)."""
    out = []
    for seed, skip in zip(seeds, skips, strict=True):
        r = random.Random(seed)
        for _ in range(skip):
            r.getrandbits(32)
        out.append(r)
    return out


@settings(max_examples=60, deadline=None)
@given(seeds=st.lists(st.integers(0, 2**40), min_size=1, max_size=6),
       skips=st.lists(st.integers(0, 1300), min_size=6, max_size=6),
       rounds=st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=1, max_size=700))
def test_rows_draw_what_each_generator_draws(seeds: list[int], skips: list[int], rounds: list[list[bool]]) -> None:
    rngs = generators(seeds, skips[:len(seeds)])
    twins = generators(seeds, skips[:len(seeds)])
    cols = RandomColumns(rngs)
    for chosen in rounds:
        rows = np.array([i for i in range(len(seeds)) if chosen[i]], dtype=np.int64)
        if not len(rows):
            continue
        got = cols.random(rows)
        want = [twins[i].random() for i in rows]
        assert got.tolist() == want
    for i, rng in enumerate(rngs):
        cols.write_back(i, rng)
        assert rng.getstate() == twins[i].getstate()
        assert rng.random() == twins[i].random()


def test_every_position_of_the_state_and_the_twist() -> None:
    """One generator at each of the 625 positions a state can have (624: the next word twists first), drawn across
    several twists, all in one matrix; then read again from a generator the exact model moved on."""
    rngs = generators([7] * 625, list(range(625)))
    twins = generators([7] * 625, list(range(625)))
    cols = RandomColumns(rngs)
    for _ in range(1000):
        assert cols.random().tolist() == [t.random() for t in twins]
    twins[3].random()
    twins[3].getrandbits(32)
    cols.read(3, twins[3])
    assert cols.random().tolist() == [t.random() for t in twins]
    for i in (0, 3, 311, 623, 624):
        cols.write_back(i, rngs[i])
        assert rngs[i].getstate() == twins[i].getstate()


def test_undo_takes_back_draws_across_a_twist() -> None:
    rngs = generators([1, 2, 3], [620, 0, 623])
    twins = generators([1, 2, 3], [620, 0, 623])
    cols = RandomColumns(rngs)
    cols.keep()
    for _ in range(5):
        cols.random()
    for i in (0, 2):
        cols.undo(i)
    assert cols.random(np.array([0, 2])).tolist() == [twins[0].random(), twins[2].random()]
    for i in (0, 2):
        cols.write_back(i, rngs[i])
        assert rngs[i].getstate() == twins[i].getstate()
