"""The module's pulse outputs (§9; Z3 codes 05, 06, 11, 12, 16 put A+, A− or R+ out on I/O1 / I/O2), each an S0-like
line at 1–1000 imp/kWh (kvarh) with the Z8 width, fed with the growth of its register since the last feed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meter_sim.metrology import ENERGY_KEYS
from meter_sim.s0 import S0Output, z8_width_ms
from meter_sim.zcodes import z3_pulse_outputs

PulseOutput = tuple[int, S0Output]  # (index of its register in the energy list, the line)


class PulseOutputs:
    """I/O1 and I/O2 (None where Z3 gives the port no pulse output). `energy` is the meter's register list."""

    def __init__(self, z3: int, imp_per_kwh: int, z8: int, energy: list[float]) -> None:
        self.outputs: tuple[PulseOutput | None, ...] = tuple(
            None if key is None else (ENERGY_KEYS.index(key), S0Output(imp_per_kwh, z8_width_ms(z8)))
            for key in z3_pulse_outputs(z3))
        self.fed = [0.0] * len(self.outputs)  # each output's register when it was last fed
        self._energy = energy

    def __iter__(self) -> Iterator[PulseOutput | None]:
        return iter(self.outputs)

    def __getitem__(self, n: int) -> PulseOutput | None:
        return self.outputs[n]

    def feed(self, mono: int) -> None:
        for n, out in enumerate(self.outputs):
            if out is not None:
                energy = self._energy[out[0]]
                out[1].feed(mono, energy - self.fed[n])
                self.fed[n] = energy

    def to_state(self) -> list[dict[str, Any] | None]:
        return [None if o is None else {"register": ENERGY_KEYS[o[0]], "line": o[1].to_state(), "fed": fed}
                for o, fed in zip(self.outputs, self.fed, strict=True)]

    def restore(self, saved: list[dict[str, Any] | None]) -> None:
        """Outputs pulsing the same register as when saved carry on; a new or changed one starts from now (the
        registers are restored first)."""
        for n, out in enumerate(self.outputs):
            if out is None:
                continue
            s = saved[n] if n < len(saved) else None
            if s is not None and s["register"] == ENERGY_KEYS[out[0]]:
                out[1].restore(s["line"])
                self.fed[n] = float(s["fed"])
            else:
                self.fed[n] = self._energy[out[0]]
