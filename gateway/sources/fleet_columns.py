"""A fleet process's simulated members stepped together (`fleet.engine: columns`, meter_sim/columns.py).

The members are cut into blocks of at most BLOCK meters, of equal size; a block steps all its members' seconds at
once, when the first of them is read in a new second. Blocks, not the whole fleet: a block's second holds the event
loop for about a millisecond (512 members), the whole fleet's would hold it for tens, in front of the requests.
Fewer than COLUMNS_AT_LEAST members step on their own (`step_together` in gateway/sources/simulated.py).

A member's objects lag behind its row; `SimulatedSource` asks `current(row)` before it reads or saves them, and
`changed(row)` after a command changed them. A member whose clock stops running with the others' (`set_time`, an
outage that outlasts the supercap) leaves for good and steps on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from meter_sim.clock import Clock
from meter_sim.columns import Columns
from meter_sim.meter import Meter

BLOCK = 512
# Fewer members than this step on their own: a block's second costs ~0.25 ms whatever its size, a member's second
# ~7 µs on its own and ~3 µs in a block, so a block pays from ~60 members (and a small fleet at `speed: 3600` spent
# its CPU on NumPy's per-call overhead).
COLUMNS_AT_LEAST = 100


class FleetColumns:
    """Blocks of members on one clock; a member is (block, row) and is addressed by its place in `meters`."""

    def __init__(self, meters: Sequence[Meter], clock: Clock) -> None:
        self.clock = clock
        t = int(clock.now())
        for m in meters:
            m.advance_to(t)
        count = -(-len(meters) // BLOCK)  # blocks of equal size, at most BLOCK each (no block of a few)
        self.size = -(-len(meters) // count) if count else BLOCK
        self.blocks = [Columns(meters[i:i + self.size]) for i in range(0, len(meters), self.size)]

    def _at(self, member: int) -> tuple[Columns, int]:
        return self.blocks[member // self.size], member % self.size

    def holds(self, member: int) -> bool:
        block, row = self._at(member)
        return block.holds(row)

    def advance(self, member: int) -> None:
        """The member's block up to the clock's present second."""
        block, _ = self._at(member)
        block.advance_to(self.clock.now())

    def t(self, member: int) -> int:
        return self._at(member)[0].t

    def base_vector(self, member: int) -> list[float | int | str | None]:
        block, row = self._at(member)
        return block.base_vector(row)

    def current(self, member: int) -> None:
        """The member's objects up to date, to be read or saved."""
        block, row = self._at(member)
        block.write_back_one(row)

    def changed(self, member: int) -> None:
        """The member's objects were changed (a command): its row takes them in again, or it leaves if its clock
        no longer runs with the others'."""
        block, row = self._at(member)
        m = block.meters[row]
        if m.clock_offset or m.t != block.t:
            block.leave(row)
        else:
            block.read_in_one(row)
