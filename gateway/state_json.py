"""The `state` topic's JSON for a simulated meter, written straight from the model's values.

The plain path builds the readings (`Meter.readings`: each value divided into its published unit and rounded)
and then `json.dumps` them; a fleet publishes that thousands of times a second, and both steps cost more than
the meter's physics. Here each register is formatted once, with `%.Nf` at its published resolution: the text
is the decimal that `round(value, N)` stands for, so a reader parses exactly the float the plain path would
have published. `tests/test_state_json.py` holds this against `json.dumps(Meter.readings())`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from math import isfinite

from omnipower.registers import TOTAL_KEYS, Register

# What the gateway needs of a state besides its JSON: the totals it guards (never backwards) and what the
# console line of each publication shows.
SUMMARY_KEYS = ("a_plus", "a_minus", "p_plus", "p_minus", "u_l1", "u_l2", "u_l3", "tariff", "breaker")

Value = float | int | str | None


class StateJson:
    """Renders one register set's state; built once per register set (a reconfigured meter gets a new one)."""

    def __init__(self, registers: tuple[Register, ...]) -> None:
        self.registers = registers
        # (the key's JSON prefix, key, unit divisor, format, hour counter: published as a whole number)
        self._plan = tuple((f",{json.dumps(r.key)}:", r.key, r.kind.spec.base_per_unit, _format(r.kind.spec.decimals),
                            r.kind.spec.decimals, r.key == "hour_counter") for r in registers)
        self._summary = tuple((r.key, r.kind.spec.base_per_unit, r.kind.spec.decimals) for r in registers
                              if r.key in TOTAL_KEYS or r.key in SUMMARY_KEYS)

    def render(self, time: str, base: Mapping[str, Value], extra: Mapping[str, Value]) -> bytes:
        """`{"time": …, <each register>…, <extra>…}` as `json.dumps(readings, separators=(",", ":"))` would give
        it (up to the spelling of numbers), from the model's unrounded base values."""
        parts = ['{"time":', json.dumps(time)]
        append = parts.append
        for prefix, key, per_unit, spec, decimals, whole in self._plan:
            value = base[key]
            append(prefix)
            if type(value) is float:
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
        for key, value in extra.items():
            append(f",{json.dumps(key)}:{json.dumps(value)}")
        append("}")
        return "".join(parts).encode()

    def summary(self, time: str, base: Mapping[str, Value]) -> dict[str, Value]:
        """The totals and the console line's values, in published units (as `Meter.readings` has them)."""
        out: dict[str, Value] = {"time": time}
        for key, per_unit, decimals in self._summary:
            value = base[key]
            if type(value) is float:
                value = round(value / per_unit, decimals) + 0.0
                out[key] = int(value) if key == "hour_counter" else value
            else:
                out[key] = value
        return out


def _format(decimals: int) -> str:
    """`%.Nf`; with no decimals still a float's spelling (`12.0`, as json.dumps(round(x, 0)) gives it)."""
    return f"%.{decimals}f" if decimals else "%.0f.0"
