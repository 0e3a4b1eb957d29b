"""The docs stay true: the generated register reference and the README's two commands."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_register_reference_is_generated_from_the_table() -> None:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "registers.md").read_text() == module.render(), "run scripts/gen_docs.py"
    assert (ROOT / "docs" / "modbus-map.md").read_text() == module.render_modbus(), "run scripts/gen_docs.py"
    assert (ROOT / "docs" / "cosem-objects.md").read_text() == module.render_cosem(), "run scripts/gen_docs.py"


def test_readme_states_the_two_commands_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## The two commands.*?```sh\n(.*?)```", readme, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["./scripts/demo.sh", "./scripts/test.sh"]
    assert "exec ./scripts/test.sh\n" in (ROOT / ".ci" / "run").read_text()
    for script in commands:
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"
