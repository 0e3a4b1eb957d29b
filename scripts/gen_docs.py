"""Write docs/registers.md from the register table (a test keeps it up to date)."""

from __future__ import annotations

import sys
from pathlib import Path

from omnipower.registers import REGISTERS

ENERGY_TYPES = {1: "A+", 2: "A+/A−", 3: "A+/R+", 4: "A+/A−/R+/R−"}


def render() -> str:
    lines = [
        "# Readings",
        "",
        "Generated from `omnipower/registers.py` by `scripts/gen_docs.py`; do not edit by hand.",
        "Each row is one key of the `<base>/<meter>/state` JSON and one Home Assistant entity.",
        "",
        "| key | OBIS | name | unit | HA device class | HA state class | energy types (X9) | entity |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in REGISTERS:
        spec = r.kind.spec
        types = ", ".join(ENERGY_TYPES[t] for t in sorted(r.energy_types))
        entity = r.entity_category or "primary"
        if not r.enabled_by_default:
            entity += ", disabled by default"
        lines.append(
            f"| `{r.key}` | {r.obis} | {r.name} | {spec.unit or '–'} | {spec.device_class or '–'} "
            f"| {spec.state_class or '–'} | {types} | {entity} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "docs" / "registers.md"
    target.write_text(render())
    print(f"wrote {target}", file=sys.stderr)
