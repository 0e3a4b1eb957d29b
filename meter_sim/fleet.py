"""A fleet of simulated meters from one template: who is in it, who is in which shard, and how each
meter differs from the template.

A member's settings depend only on (fleet seed, member number), never on the fleet's size or the
shard that runs it, so a meter stays the same meter when the fleet grows or is split differently.
Ids are the prefix and the 1-based member number, zero-padded to the digits of `count`:
`count: 10000, id_prefix: m` gives m00001 … m10000. Shard K/N (1 ≤ K ≤ N) holds the members whose
number n has (n - 1) mod N = K - 1: round-robin, so shards are equal within one meter and disjoint.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from meter_sim.config import MeterSimSettings

S = TypeVar("S", bound=MeterSimSettings)

# Type numbers a fleet draws from (weights: how common each is in the fleet). All direct 5(100) A,
# three-phase 4-wire, class B; they differ in the energy type X9 (the registers and load-profile
# channels the meter has) and the variant X8.
FLEET_TYPE_NUMBERS: tuple[tuple[str, int], ...] = (
    ("6841131BN143101040", 6),  # A+ A- R+ R-, variant 1 (the simulator's default)
    ("6841131BN113101040", 2),  # A+ only
    ("6841131BN123101040", 1),  # A+ A-
    ("6841131BN243101040", 1),  # A+ A- R+ R-, variant 2 (last gasp, no DLMS/IEC query)
)
_PV_KWP = (0.0, 0.0, 0.0, 3.0, 4.0, 6.0, 8.0)
_EV_KW = (0.0, 0.0, 0.0, 0.0, 7.4, 11.0)
_FACTORY_CODES = frozenset({"z9", "z11", "z15", "z16", "z18", "z19"})
_SHARD = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # K, 1-based
    count: int  # N

    def holds(self, number: int) -> bool:
        """Whether member `number` (1-based) is in this shard."""
        return (number - 1) % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


ALL = Shard(1, 1)


def parse_shard(text: str) -> Shard:
    """`K/N` with 1 ≤ K ≤ N, e.g. `2/4`; ValueError naming what is wrong otherwise."""
    m = _SHARD.match(text.strip())
    if m is None:
        raise ValueError(f"shard {text!r} must be K/N with whole numbers 1 ≤ K ≤ N, e.g. 1/2")
    k, n = int(m[1]), int(m[2])
    if k > n:
        raise ValueError(f"shard {text!r}: K = {k} is more than N = {n} (shards are numbered 1 … N)")
    return Shard(k, n)


def member_id(id_prefix: str, number: int, count: int) -> str:
    return f"{id_prefix}{number:0{len(str(count))}d}"


def member_settings(template: S, fleet_seed: int, number: int, **fields: Any) -> S:
    """Member `number`'s settings: the template (of any settings class: the gateway's MeterConfig too)
    with its own seed, household and type number drawn from (fleet_seed, number), and `fields` set."""
    rng = random.Random(f"omnipower-fleet:{fleet_seed}:{number}")
    types, weights = zip(*FLEET_TYPE_NUMBERS, strict=True)
    household = template.household.model_copy(update={
        "annual_kwh": round(min(100_000.0, max(100.0, template.household.annual_kwh * rng.lognormvariate(0, 0.35))), 1),
        "pv_kwp": rng.choice(_PV_KWP),
        "ev_charger_kw": rng.choice(_EV_KW),
    })
    seed = rng.randrange(1, 2**31)
    type_number = rng.choices(types, weights)[0]
    # Validated afresh: the Z codes whose factory default depends on the type number follow the member's.
    data = {k: v for k, v in template.model_dump(exclude_unset=True).items() if k not in _FACTORY_CODES}
    data.update(seed=seed, type_number=type_number, household=household.model_dump(), **fields)
    member = type(template).model_validate(data)
    _share_blocks(member, template)
    return member


def _share_blocks(member: MeterSimSettings, template: MeterSimSettings) -> None:
    """The member's settings blocks that are frozen and equal to the template's become the template's own objects.
    Validated afresh, each member held its own copies of the same blocks (breaker, power quality, display, the
    gateway's options …): 2.3 kB a member, 23 MB over a fleet of 10,000. Put in the instance's dict, as `setattr`
    would count the field as set by the user (a reconfiguration keeps only those)."""
    for name in type(member).model_fields:
        block = getattr(member, name)
        if isinstance(block, BaseModel) and block.model_config.get("frozen") and block == getattr(template, name):
            member.__dict__[name] = getattr(template, name)


def members(count: int, shard: Shard = ALL) -> Iterator[int]:
    """The member numbers (1-based) of a shard of a fleet of `count`."""
    return iter(range(shard.index, count + 1, shard.count))
