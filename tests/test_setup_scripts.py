"""The set-up scripts as a newcomer meets them: a plain user without root and without sudo gets one line
naming the missing Debian packages and the command, and a clear exit status (it used to be
`sudo: command not found`, status 127)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture
def bare_path() -> Iterator[str]:
    """A PATH with the few commands the function needs and no sudo, readable by any user."""
    folder = tempfile.mkdtemp()
    os.chmod(folder, 0o755)
    for tool in ("id",):
        found = shutil.which(tool)
        assert found, tool
        os.symlink(found, os.path.join(folder, tool))
    yield folder
    shutil.rmtree(folder)


def as_plain_user(command: list[str], path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    if os.geteuid() == 0:  # CI runs as root: become nobody for this one command
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to run as a plain user"
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)


def test_a_user_without_sudo_is_told_what_to_install(bare_path: str) -> None:
    script = f"source {SCRIPTS / 'debian.sh'}; need_debian_packages mosquitto mbpoll; echo not reached"
    result = as_plain_user(["/bin/bash", "-c", script], bare_path)
    assert result.returncode == 3, result
    assert result.stdout == ""
    assert result.stderr == ("setup: missing Debian packages: mosquitto mbpoll; "
                             "install them as root with: apt-get install mosquitto mbpoll\n")


def test_nothing_missing_needs_nothing(bare_path: str) -> None:
    script = f"source {SCRIPTS / 'debian.sh'}; need_debian_packages; echo fine"
    result = as_plain_user(["/bin/bash", "-c", script], bare_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "fine\n", "")

