"""The `state` topic's JSON for a simulated meter, written straight from the model's values.

The plain path builds the readings (`Meter.readings`: each value divided into its published unit and rounded)
and then `json.dumps` them; a fleet publishes that thousands of times a second, and both steps cost more than
the meter's physics. Here each register is formatted once, with `%.Nf` at its published resolution: the text
is the decimal that `round(value, N)` stands for, so a reader parses exactly the float the plain path would
have published. `tests/test_state_json.py` holds this against `json.dumps(Meter.readings())`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from math import isfinite
from operator import itemgetter, truediv
from typing import Any

from meter_sim.meter import DEMAND_KEYS, VECTOR_KEYS
from omnipower.registers import REGISTERS_BY_KEY, TOTAL_KEYS, Register

# What the gateway needs of a state besides its JSON: the totals it guards (never backwards) and what the
# console line of each publication shows.
SUMMARY_KEYS = ("a_plus", "a_minus", "p_plus", "p_minus", "u_l1", "u_l2", "u_l3", "tariff", "breaker")
_SUMMED = TOTAL_KEYS | frozenset(SUMMARY_KEYS)  # the registers a summary carries

Value = float | int | str | None
_HOUR_SPEC = REGISTERS_BY_KEY["hour_counter"].kind.spec
# A number that formatted as minus zero ("-0.000", "-0.0"), where it ends: after a key, before the next.
_NEGATIVE_ZERO = re.compile(r"(?<=:)-(?=0(?:\.0+)?[,}])")


@functools.cache
def state_json(registers: tuple[Register, ...]) -> StateJson:
    """One renderer per register set, shared by the meters that have it (a fleet has a handful of sets)."""
    return StateJson(registers)


class StateJson:
    """Renders one register set's state; built once per register set (a reconfigured meter gets a new one).

    The fast path is one `%` formatting of a template, `{"time":%s,"a_plus":%.3f,…}`, with the values scaled to
    their published units (by C-level maps, not a loop per register). It holds
    while each register has the type it had when the template was made (floats where `%.Nf` stands); any other
    second — a float that is inf or nan, a value of another type — takes `render_each`, one register at a time.
    """

    def __init__(self, registers: tuple[Register, ...], sample: Mapping[str, Value] | None = None,
                 hole: int | None = None) -> None:
        """`hole`: a text given with each render (`raw`) goes in before register number `hole` (see `Split`)."""
        self.registers = registers
        self._hole = hole
        # (the key's JSON prefix, key, unit divisor, format, hour counter: published as a whole number)
        self._plan = tuple((f",{json.dumps(r.key)}:", r.key, r.kind.spec.base_per_unit, _format(r.kind.spec.decimals),
                            r.kind.spec.decimals, r.key == "hour_counter") for r in registers)
        self._summary = tuple((r.key, r.kind.spec.base_per_unit, r.kind.spec.decimals) for r in registers
                              if r.key in _SUMMED)
        self._keys = tuple(r.key for r in registers)
        self._hours_at = self._keys.index("hour_counter") if "hour_counter" in self._keys else None
        self._get_all = itemgetter(*self._keys)
        self._get_from_vector = itemgetter(*(VECTOR_KEYS.index(key) for key in self._keys))
        self._types: tuple[type, ...] | None = None
        self._template = ""
        self._units: tuple[float, ...] = ()
        self._get_floats: Any = None
        self._others: tuple[tuple[int, bool], ...] = ()  # (position, whole)
        self._order: Any = None
        self._summed: tuple[tuple[str, ...], Any, tuple[tuple[str, int], ...]] = ((), None, ())
        self._compiled: dict[tuple[type, ...], tuple[Any, ...]] = {}
        self._strings: dict[str, str] = {}
        self._tails: dict[tuple[tuple[str, Value], ...], str] = {}

    def _compile(self, types: tuple[type, ...]) -> None:
        """The template for this combination of value types (floats formatted in it, the rest as text); kept, as
        the meters sharing this renderer alternate between a few (a peak's time is None until the first peak).

        The template takes its values by position (named `%(key)s` fields cost a dict and a lookup each, a third
        of the formatting): the time, the scaled floats and the other values' texts, put in the registers' order
        by one itemgetter."""
        known = self._compiled.get(types)
        if known is not None:
            self._template, self._units, self._get_floats, self._others, self._order, self._summed = known
            self._types = types
            return
        parts = ['{"time":%s']
        floats: list[str] = []
        units: list[float] = []
        others: list[str] = []
        slots: list[tuple[bool, int]] = []  # per register: (a float?, its index among the floats or the others)
        for n, ((prefix, key, per_unit, spec, _, whole), kind) in enumerate(zip(self._plan, types, strict=True)):
            if n == self._hole:
                parts.append("%s")
            escaped = prefix.replace("%", "%%")
            if issubclass(kind, float) and not whole:  # numpy's float64 too (the time-warp leaves some)
                parts.append(escaped + spec)
                slots.append((True, len(floats)))
                floats.append(key)
                units.append(per_unit)
            else:
                parts.append(escaped + "%s")
                slots.append((False, len(others)))
                others.append(key)
        # The arguments are [time, *floats, *others, raw]: register i's position in that list.
        order = [0] + [1 + i if is_float else 1 + len(floats) + i for is_float, i in slots]
        raw_at = 1 + len(floats) + len(others)
        if self._hole is not None:
            order.insert(1 + self._hole, raw_at)
            if self._hole >= len(self._plan):
                parts.append("%s")
        self._template = "".join(parts)
        self._units = tuple(units)
        # Both take from the tuple of all the values in the registers' order.
        at = {key: n for n, key in enumerate(self._keys)}
        self._get_floats = itemgetter(*(at[key] for key in floats)) if len(floats) > 1 else None
        self._others = tuple((at[p[1]], p[5]) for p in self._plan if p[1] in set(others))
        self._order = itemgetter(*order)
        # The summary's registers: those among the scaled floats (keys, a getter of them), and the others (taken
        # as they are: key, position).
        summed = [(key, floats.index(key)) for key, _, _ in self._summary if key in floats]
        self._summed = (tuple(k for k, _ in summed), _picker([i for _, i in summed]),
                        tuple((key, at[key]) for key, _, _ in self._summary if key not in floats))
        self._types = types
        self._compiled[types] = (self._template, self._units, self._get_floats, self._others, self._order,
                                 self._summed)

    def render(self, time: str, base: Mapping[str, Value], extra: Mapping[str, Value]) -> bytes:
        """`{"time": …, <each register>…, <extra>…}` as `json.dumps(readings, separators=(",", ":"))` would give
        it (up to the spelling of numbers), from the model's unrounded base values."""
        return self.render_state(time, base, extra)[0]

    def render_state(self, time: str, base: Mapping[str, Value],
                     extra: Mapping[str, Value]) -> tuple[bytes, dict[str, Value]]:
        """`render` and a summary: the totals and the console line's values in published units, its floats the
        scaled values *unrounded*. Rounding to a register's resolution is monotone, so a total that is not smaller
        than the last one is not published smaller either: the totals guard compares these as they are, and
        rounds only the rare total that did get smaller (`StatePublisher.guard_each`). Rounding each of ~50
        totals for every state (`round(x, 3)` goes through a decimal conversion) cost a tenth of a fleet's time
        (py-spy, docs/performance.md)."""
        return self._render(time, self._get_all(base), extra, lambda: base, "")

    def render_vector(self, time: str, vector: list[Value], extra: Mapping[str, Value],
                      raw: str = "") -> tuple[bytes, dict[str, Value]]:
        """`render_state` from `Meter.base_vector` (the values in `VECTOR_KEYS` order), which costs half as much to
        build as `Meter.base_values`' dict; `raw` goes in the hole (see `__init__`)."""
        return self._render(time, self._get_from_vector(vector), extra,
                            lambda: dict(zip(VECTOR_KEYS, vector, strict=True)), raw)

    def _render(self, time: str, values: tuple[Value, ...], extra: Mapping[str, Value],
                base: Callable[[], Mapping[str, Value]], raw: str) -> tuple[bytes, dict[str, Value]]:
        """`values`: each register's, in the registers' order; `base()`: all of them by key, for the plain path."""
        types = tuple(map(type, values))
        if types != self._types:
            self._compile(types)
        if self._get_floats is None:
            return self._render_plain(time, base(), extra, raw)
        scaled = list(map(float, map(truediv, self._get_floats(values), self._units)))  # numpy's floats too
        if not isfinite(sum(scaled)):  # an inf or a nan somewhere: json's own spelling, register by register
            return self._render_plain(time, base(), extra, raw)
        keys, pick, as_they_are = self._summed
        summary: dict[str, Value] = {"time": time}
        summary.update(zip(keys, pick(scaled), strict=True))  # unrounded: see render_state's docstring
        for key, position in as_they_are:
            summary[key] = values[position]
        hours = None  # the hour counter, the one register published as a whole number ("whole" below)
        if self._hours_at is not None and isinstance(value := values[self._hours_at], float):
            summary["hour_counter"] = hours = self._hours(value)
        texts = [self._text(time), *scaled]
        for position, whole in self._others:
            texts.append(str(hours) if whole and hours is not None else self._text(values[position]))
        texts.append(raw)
        text = self._template % self._order(texts)
        if ":-0" in text:
            text = _NEGATIVE_ZERO.sub("", text)  # the plain path publishes round(x) + 0.0: never -0.0
        return (text + self._tail(extra) + "}").encode(), summary

    def _render_plain(self, time: str, base: Mapping[str, Value],
                      extra: Mapping[str, Value], raw: str) -> tuple[bytes, dict[str, Value]]:
        return self.render_each(time, base, extra, raw), self.summary(time, base)

    def _tail(self, extra: Mapping[str, Value]) -> str:
        """The extra keys' JSON (`tariff_control`), kept per value: a fleet has a few."""
        try:
            items = tuple(extra.items())
            tail = self._tails.get(items)
        except TypeError:  # a value that cannot be a dict key
            items, tail = None, None
        if tail is None:
            tail = "".join(f",{json.dumps(k)}:{self._text(v)}" for k, v in extra.items())
            if items is not None:
                if len(self._tails) > 64:
                    self._tails.clear()
                self._tails[items] = tail
        return tail

    @staticmethod
    def _hours(value: float) -> int:
        """The hour counter as published, a whole number. `round(x)` and `round(x, 0)` both round half to even,
        exactly; the first without the decimal conversion."""
        x = value / _HOUR_SPEC.base_per_unit
        return int(round(x) if _HOUR_SPEC.decimals == 0 else round(x, _HOUR_SPEC.decimals))

    def _text(self, value: Value) -> str:
        if type(value) is int:
            return str(value)
        if value is None:
            return "null"
        if type(value) is str:
            text = self._strings.get(value)
            if text is None:
                if len(self._strings) > 256:
                    self._strings.clear()
                text = self._strings[value] = json.dumps(value)
            return text
        return json.dumps(value)

    def render_each(self, time: str, base: Mapping[str, Value], extra: Mapping[str, Value], raw: str = "") -> bytes:
        """`render`, one register at a time: any types, inf and nan."""
        parts = ['{"time":', json.dumps(time)]
        append = parts.append
        for n, (prefix, key, per_unit, spec, decimals, whole) in enumerate(self._plan):
            if n == self._hole:
                append(raw)
            value = base[key]
            append(prefix)
            if isinstance(value, float):
                if whole:
                    append(str(int(round(value / per_unit, decimals))))
                    continue
                if not isfinite(value):  # json's own spelling of inf and nan
                    append(json.dumps(value))
                    continue
                text = spec % (value / per_unit)
                if text[0] == "-" and float(text.removesuffix(".0") if not decimals else text) == 0.0:
                    text = text[1:]  # the plain path publishes round(x) + 0.0: never -0.0
                append(text)
            else:
                append(json.dumps(value))
        if self._hole is not None and self._hole >= len(self._plan):
            append(raw)
        for key, value in extra.items():
            append(f",{json.dumps(key)}:{json.dumps(value)}")
        append("}")
        return "".join(parts).encode()

    def summary(self, time: str, base: Mapping[str, Value]) -> dict[str, Value]:
        """The totals and the console line's values, in published units and rounded (as `Meter.readings` has
        them; `render_state`'s summary leaves them unrounded, and the guard takes either)."""
        out: dict[str, Value] = {"time": time}
        for key, per_unit, decimals in self._summary:
            value = base[key]
            if isinstance(value, float):
                value = round(value / per_unit, decimals) + 0.0
                out[key] = int(value) if key == "hour_counter" else value
            else:
                out[key] = value
        return out


@functools.cache
def split_state_json(registers: tuple[Register, ...]) -> Split | None:
    """The `Split` of a register set (shared, as `state_json`), or None when its demand registers (those the summary
    does not need: the power-threshold counter is a total, which the guard reads every time) are not one run of the
    register table."""
    at = [n for n, r in enumerate(registers) if r.key in _DEMAND and r.key not in _SUMMED]
    if not at or at != list(range(at[0], at[-1] + 1)):
        return None
    return Split(registers, at[0], at[-1] + 1)


_DEMAND = frozenset(DEMAND_KEYS)
_HEAD = '{"time":""'


class Split:
    """A state rendered in two parts: the demand registers, which change once a period (`Meter.demand_part`), kept
    as text by the caller between renders; and the rest, rendered every time with that text in its hole.

    Why: formatting the ~32 demand registers (peaks, their times, means, accumulated peaks) every second was about a
    quarter of a fleet member's render (33 -> 24 us timed alone). The bytes are those of `StateJson.render_vector`
    for the whole register set (tests/test_state_json.py holds the two together)."""

    def __init__(self, registers: tuple[Register, ...], start: int, end: int) -> None:
        self.registers = registers
        self._outer = StateJson(registers[:start] + registers[end:], hole=start)
        self._inner = StateJson(registers[start:end])

    def render_vector(self, time: str, vector: list[Value], extra: Mapping[str, Value], token: object,
                      kept: list[Any]) -> tuple[bytes, dict[str, Value]]:
        """`StateJson.render_vector` of the whole set. `token`: `Meter.demand_part` after `vector` was taken; `kept`:
        the caller's [token, text] of its last render, which this one reuses while the token is the same object."""
        if kept[0] is not token:
            text = self._inner.render_vector("", vector, {})[0].decode()
            kept[0], kept[1] = token, text[len(_HEAD):-1]
        return self._outer.render_vector(time, vector, extra, kept[1])


def _picker(indices: list[int]) -> Any:
    """A getter of these items as a tuple (itemgetter gives a tuple only from two)."""
    if len(indices) > 1:
        return itemgetter(*indices)
    return lambda values: tuple(values[i] for i in indices)


def _format(decimals: int) -> str:
    """`%.Nf`; with no decimals still a float's spelling (`12.0`, as json.dumps(round(x, 0)) gives it)."""
    return f"%.{decimals}f" if decimals else "%.0f.0"
