"""The reference captures in ../shared/reference (beside the repository, never copied into it: some are
Fair Source). A test that needs them is marked `@pytest.mark.reference("han")` (the sub-folder): on a
user's clone, which has no ../shared, it skips with the reason; when `CI` is set it fails instead, so that
CI can never pass without running it (conftest.py's `pytest_runtest_setup` applies the mark)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
ABSENT = "absent"  # the one parameter a file-parametrized test gets when the folder is missing


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(path: Path) -> None:
    """Skip (a user's clone) or fail (CI) when `path` is missing."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        return
    reason = (f"{path} is absent: the reference captures live in ../shared/reference beside the repository "
              "(some are Fair Source and may not be copied in)")
    if in_ci():
        pytest.fail(f"{reason}; CI must run this test", pytrace=False)
    pytest.skip(reason)


def stems(folder: str, pattern: str = "*.hex") -> list[str]:
    """The stems of the reference files for parametrize, or [ABSENT] so that the test still runs (and the
    `reference` mark skips or fails it) rather than vanishing as an empty parameter set."""
    path = REFERENCE / folder
    found = sorted(p.stem for p in path.glob(pattern)) if path.is_dir() else []
    return found or [ABSENT]
