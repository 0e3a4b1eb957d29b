"""The rule for tests that need ../shared/reference: skip with the reason on a user's clone, fail in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

PROBE = '''
import pytest
from shared_reference import require, stems

@pytest.mark.reference("no-such-folder")
@pytest.mark.parametrize("stem", stems("no-such-folder"))
def test_marked(stem):
    raise AssertionError("must not run without its reference files")

def test_required():
    require(__import__("pathlib").Path("/nonexistent/reference.hex"))
'''


@pytest.mark.parametrize(("ci", "outcome"), [("", "2 skipped"), ("true", "1 failed, 1 error")])
def test_absent_reference_skips_for_users_and_fails_in_ci(tmp_path: Path, ci: str, outcome: str) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS.parent / "bench")])  # as pytest's `pythonpath`
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rsf",
                             str(tmp_path / "test_probe.py")], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=120)
    assert outcome in result.stdout, result.stdout + result.stderr
    assert "is absent: the reference captures live in ../shared/reference" in result.stdout
    assert "must not run" not in result.stdout
