"""The totals guard of the state publisher (a total_increasing register never goes backwards on MQTT): its
fast path for the common state (`StatePublisher._guard_totals`: the same totals as last time, none smaller)
against its plain form (`guard_each`, register by register), on hypothesis-made sequences of readings: totals
going up, down and staying, keys coming and going, values that are not numbers and NaN."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.state_publisher import StatePublisher
from omnipower.registers import REGISTERS_BY_KEY, TOTAL_KEYS

TOTALS = sorted(TOTAL_KEYS)[:6]


def publisher() -> StatePublisher:
    return StatePublisher(None, {"m1": None}, 1.0, None, lambda msgs, urgent: None)  # type: ignore[arg-type,dict-item]


VALUES = st.one_of(st.floats(0, 100), st.integers(0, 100), st.none(), st.just("n/a"), st.just(math.nan))
READINGS = st.dictionaries(st.sampled_from([*TOTALS, "p_plus", "time"]), VALUES, min_size=1)
# Readings; whether they are the last ones (same keys) moved a little up or down instead, the fast path's case.
STEP = st.tuples(READINGS, st.booleans())


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=30), st.lists(st.sampled_from([0.9, 1.0, 1.1, 2.0]), min_size=1))
def test_the_fast_path_decides_as_the_plain_guard(steps: list[tuple[dict[str, Any], bool]],
                                                  drift: list[float]) -> None:
    fast, plain = publisher(), publisher()
    previous: dict[str, Any] = {}
    for n, (drawn, again) in enumerate(steps):
        readings = drawn
        if again and previous:
            readings = {k: v * drift[n % len(drift)] if isinstance(v, float) else v for k, v in previous.items()}
        previous = readings
        a, b = dict(readings), dict(readings)
        assert fast._guard_totals("m1", a) == plain.guard_each("m1", b)
        assert a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        left, right = fast.published_totals("m1"), plain.published_totals("m1")
        assert left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)


def test_a_total_that_goes_backwards_is_replaced_by_the_last_one_published() -> None:
    p = publisher()
    first: dict[str, float | int | str | None] = {"a_plus": 10.0, "a_minus": 1.0}
    assert p._guard_totals("m1", dict(first)) is False
    assert p._guard_totals("m1", {"a_plus": 10.5, "a_minus": 1.0}) is False  # the fast path, nothing smaller
    smaller: dict[str, float | int | str | None] = {"a_plus": 10.25, "a_minus": 1.5}
    assert p._guard_totals("m1", smaller) is True
    assert smaller == {"a_plus": 10.5, "a_minus": 1.5}
    assert p.published_totals("m1") == {"a_plus": 10.5, "a_minus": 1.5}


A_PLUS_PLACES = REGISTERS_BY_KEY["a_plus"].kind.spec.decimals
# Totals near the register's resolution: whole steps of it and a little either side, so that an unrounded total can
# be smaller than the last while it rounds to the same, to a smaller or to a larger published value.
NEAR_STEPS = st.builds(lambda k, d: k / 10**A_PLUS_PLACES + d, st.integers(0, 30),
                       st.floats(-1.2, 1.2).map(lambda x: x / 10**A_PLUS_PLACES))


@settings(max_examples=300, deadline=None)
@given(st.lists(NEAR_STEPS, min_size=1, max_size=40))
def test_published_totals_never_go_backwards_from_unrounded_summaries(totals: list[float]) -> None:
    """As `state_messages` uses the guard: a rendered state's summary holds the totals unrounded, and when the guard
    finds one smaller the state is read again (rounded) and guarded, and published from those readings; otherwise
    the rendered text, which spells the rounded total, is published. What is published is the running maximum."""
    p = publisher()
    shown: list[float] = []
    for total in totals:
        if p._guard_totals("m1", {"a_plus": total}):
            readings: dict[str, float | int | str | None] = {"a_plus": round(total, A_PLUS_PLACES) + 0.0}
            p._guard_totals("m1", readings)
            value = readings["a_plus"]
            assert isinstance(value, float)
            shown.append(value)
        else:
            shown.append(round(total, A_PLUS_PLACES) + 0.0)
    assert shown == [max(round(t, A_PLUS_PLACES) + 0.0 for t in totals[:n + 1]) for n in range(len(totals))]
