"""Write docs/registers.md, docs/modbus-map.md and docs/cosem-objects.md from the register table, the Modbus map and
the COSEM object model, and the README's command table from the command table (tests keep them up to date)."""

from __future__ import annotations

import sys
from itertools import groupby
from pathlib import Path

from gateway.command_table import COMMANDS
from omnipower import modbus_map as mm
from omnipower.registers import ALL_REGISTERS, REGISTERS_BY_KEY, WHICH_REGISTERS

ENERGY_TYPES = {1: "A+", 2: "A+/A−", 3: "A+/R+", 4: "A+/A−/R+/R−"}
COMMANDS_BEGIN = "<!-- commands: generated from gateway/command_table.py by scripts/gen_docs.py; do not edit -->"
COMMANDS_END = "<!-- end of commands -->"


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
    for r in ALL_REGISTERS:
        spec = r.kind.spec
        types = ", ".join(ENERGY_TYPES[t] for t in sorted(r.energy_types))
        entity = r.entity_category or "primary"
        if not r.enabled_by_default:
            entity += ", disabled by default"
        lines.append(
            f"| `{r.key}` | {r.obis} | {r.name} | {spec.unit or '–'} | {spec.device_class or '–'} "
            f"| {spec.state_class or '–'} | {types} | {entity} |"
        )
    lines += ["", WHICH_REGISTERS.rstrip()]
    return "\n".join(lines) + "\n"


def render_modbus() -> str:
    doc = (mm.__doc__ or "").strip()
    lines = [
        "# Modbus register map (RS-485 module)",
        "",
        "Generated from `omnipower/modbus_map.py` by `scripts/gen_docs.py`; do not edit by hand.",
        "",
        doc,
        "",
        "## Input registers (function 04)",
        "",
        "| address (hex) | mbpoll `-r` | key | OBIS | value × 10^n | unit |",
        "|---|---|---|---|---|---|",
    ]
    for p in mm.INPUT_POINTS:
        reg = REGISTERS_BY_KEY[p.key]
        unit = reg.unit or "–"
        lines.append(f"| 0x{p.address:04X} | {p.address + 1} | `{p.key}` | {reg.obis} | {p.decimals} | {unit} |")
    lines += [
        f"| 0x{mm.TIME_ADDRESS:04X} | {mm.TIME_ADDRESS + 1} | meter clock | – | Unix seconds (unsigned) | s |",
        f"| 0x{mm.TIME_ADDRESS + 2:04X} | {mm.TIME_ADDRESS + 3} | UTC offset of the meter clock | – | 0 | s |",
        "",
        "## The meter's functions (input registers, function 04)",
        "",
        "| address (hex) | mbpoll `-r` | content |",
        "|---|---|---|",
        f"| 0x{mm.FEATURES_ADDRESS:04X} | {mm.FEATURES_ADDRESS + 1} | function bits (32 bit): "
        + " · ".join(f"bit {bit} {name}" for bit, name in enumerate(mm.FEATURE_BITS)) + " |",
        f"| 0x{mm.FEATURES_ADDRESS + 2:04X} | {mm.FEATURES_ADDRESS + 3} | energy type X9 (32 bit): 1 A+ · 2 A+/A− · "
        "3 A+/R+ · 4 A+/A−/R+/R− |",
        "",
        "## Discrete inputs (function 02)",
        "",
        "| address | alarm | phase |",
        "|---|---|---|",
        *(f"| {i} | {kind} | L{phase} |" for i, (kind, phase) in enumerate(mm.ALARM_BITS)),
    ]
    return "\n".join(lines) + "\n"


def render_cosem() -> str:
    """The COSEM objects a meter with every register serves (a meter serves those of its own registers)."""
    from omnipower import cosem
    from omnipower.cosem import cosem_objects
    from omnipower.obis import logical_name_text

    own = {cosem.LOGICAL_DEVICE_NAME: "logical device name", cosem.CLOCK: "the meter clock",
           cosem.CURRENT_ASSOCIATION: "the current association (object list, HLS)",
           cosem.ACTIVITY_CALENDAR: "the tariff calendar", cosem.SPECIAL_DAYS_TABLE: "the exception days",
           cosem.SECURITY_SETUP: "security suite 0, system titles",
           cosem.IMAGE_TRANSFER: "firmware image transfer (§8)"}

    lines = [
        "# COSEM objects (DLMS/COSEM)",
        "",
        "Generated from `omnipower/cosem.py` by `scripts/gen_docs.py`; do not edit by hand. The object list of a",
        "meter with every register of the table; a meter lists the objects of the registers it has. Values are",
        "counts: value × 10^scaler in the unit shown. The public client 16 reads every attribute; the management",
        "client 1 also writes the clock's time, the active tariff (0 = auto) and the passive calendar, and calls the",
        "methods (meter_sim/modules/dlms_server.py: `_WRITERS`, `_KEY_WRITERS`, `_OPERATIONS`; Image Transfer's:",
        "meter_sim/modules/dlms_image_transfer.py).",
        "",
        "| logical name | class | holds | scaler | unit | attributes | methods |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in cosem_objects(ALL_REGISTERS):
        holds = (o.key or own.get(o.logical_name) or (f"{o.logger}: {o.field}" if o.field else o.logger)
                 or (f"HAN push {o.push.value}" if o.push is not None else "–"))
        if o.time_key:
            holds += f" (capture time: {o.time_key})"
        scaled = o.class_id in (3, 4)
        lines.append(
            f"| {logical_name_text(o.logical_name)} | {int(o.class_id)} {o.class_id.name.replace('_', ' ').title()} "
            f"| {holds} | {o.scaler if scaled else '–'} | {o.unit.name.lower().replace('_', ' ') if scaled else '–'} "
            f"| {', '.join(map(str, o.attributes))} | {', '.join(map(str, o.methods)) or '–'} |"
        )
    return "\n".join(lines) + "\n"


def render_commands() -> str:
    """The README's command table; commands that take the same values to the same effect share a row."""
    lines = [COMMANDS_BEGIN, "| name | values | effect |", "|---|---|---|"]
    for (values, effect), group in groupby(COMMANDS, key=lambda c: (c.values, c.effect)):
        names = ", ".join(f"`{c.name}`" for c in group)
        lines.append(f"| {names} | {values} | {effect} |")
    return "\n".join([*lines, COMMANDS_END]) + "\n"


def readme_commands(readme: str) -> str:
    """The generated part of a README: from the begin marker to the end marker's line, inclusive."""
    start = readme.index(COMMANDS_BEGIN)
    end = readme.index(COMMANDS_END, start) + len(COMMANDS_END) + 1
    return readme[start:end]


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    for name, text in (("registers.md", render()), ("modbus-map.md", render_modbus()),
                       ("cosem-objects.md", render_cosem())):
        (root / "docs" / name).write_text(text)
        print(f"wrote {root / 'docs' / name}", file=sys.stderr)
    readme = (root / "README.md").read_text()
    (root / "README.md").write_text(readme.replace(readme_commands(readme), render_commands()))
    print(f"wrote the command table of {root / 'README.md'}", file=sys.stderr)
