"""What each package of ours may import, checked on its source: the codecs and tables (`omnipower`) stand alone, the
simulated meter (`meter_sim`) builds on them, the gateway on both; and no package imports a GPL judge (gurux-dlms is
GPL-2.0: the project, MIT, runs it in tests only)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# package → the top-level modules it must not import
FORBIDDEN = {
    "omnipower": {"meter_sim", "gateway", "gurux_dlms"},
    "meter_sim": {"gateway", "gurux_dlms"},
    "gateway": {"gurux_dlms"},
}


def imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


def test_each_package_imports_only_the_layers_below_it() -> None:
    offenders = [f"{path.relative_to(ROOT)}: {name}" for package, forbidden in FORBIDDEN.items()
                 for path in (ROOT / package).rglob("*.py") for name in imports(path)
                 if name.split(".")[0] in forbidden]
    assert offenders == []


def test_the_check_sees_imports_of_every_form(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import gateway.x\nfrom gurux_dlms import GXDLMSClient\nfrom . import near\n"
                      "def f():\n    from meter_sim.meter import Meter\n")
    assert imports(source) == ["gateway.x", "gurux_dlms", "meter_sim.meter"]
