"""The container images built and run for real with podman: deploy/Containerfile and the Home Assistant add-on's
Dockerfile, both from the Debian bookworm base that deploy/build-base.sh makes with debootstrap (no image registry
is reachable here). Each container's gateway connects to a Mosquitto started on the host and publishes its
simulated meter; on `podman stop` it says "offline". The add-on's also serves its status page (its ingress panel).

The add-on runs its start script (omnipower-addon) as the entry point: the base has no s6-overlay or bashio, the
Supervisor's part (the s6 run script puts the broker in the environment) is done here by `-e`.

Where podman cannot run (not installed, not root) these tests skip with the reason; with CI set they fail.
The flags: explicit `--ulimit`s (the sandbox refuses to raise rlimits), `--runtime runc` (crun, where it is
podman's default, refuses the sandbox's cgroup layout) and `--network host` (the containers reach the host's
Mosquitto on its loopback); see deploy/README.md."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from conftest import Mosquitto, free_port, probe_client
from shared_reference import in_ci

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "deploy" / "home-assistant" / "omnipower"
BASE = "localhost/omnipower-base:bookworm"
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
BUILD_TIMEOUT = 900  # a cold build fetches Debian and PyPI packages; a warm one takes seconds


def _podman_or_skip() -> None:
    reason = None
    if shutil.which("podman") is None:
        reason = "podman is not installed (scripts/test.sh installs the Debian packages podman, runc, debootstrap)"
    elif os.geteuid() != 0:
        reason = "the base image is made with debootstrap, which needs root"
    else:
        info = subprocess.run([*PODMAN, "info"], capture_output=True, text=True, timeout=120)
        if info.returncode != 0:
            reason = f"podman cannot run here: {info.stderr.strip()[-500:]}"
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"{reason}; CI must run the container tests", pytrace=False)
    pytest.skip(reason)


def _run(command: list[str], timeout: float = BUILD_TIMEOUT) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n" \
                                 f"{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def base_image() -> str:
    _podman_or_skip()
    assert _run([str(ROOT / "deploy" / "build-base.sh")]).strip() == BASE
    return BASE


@pytest.fixture(scope="module")
def gateway_image(base_image: str) -> str:
    tag = "localhost/omnipower-gateway:test"
    _run([*PODMAN, "build", *LIMITS, "--build-arg", f"BASE={base_image}", "-f", str(ROOT / "deploy" / "Containerfile"),
          "-t", tag, str(ROOT)])
    return tag


@pytest.fixture(scope="module")
def addon_image(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    tag = "localhost/omnipower-addon:test"
    context = tmp_path_factory.mktemp("addon") / "omnipower"
    shutil.copytree(ADDON, context, ignore=shutil.ignore_patterns("src"))
    _run([str(ADDON.parent / "vendor.sh"), str(context / "src")])
    # As Home Assistant's builder calls it (build.yaml's base as BUILD_FROM), with our local base instead.
    _run([*PODMAN, "build", *LIMITS, "--build-arg", f"BUILD_FROM={base_image}", "--build-arg", "BUILD_ARCH=amd64",
          "--build-arg", f"BUILD_VERSION={yaml.safe_load((ADDON / 'config.yaml').read_text())['version']}",
          "-t", tag, str(context)])
    return tag


@contextmanager
def container(*args: str) -> Iterator[str]:
    name = f"omnipower-test-{uuid.uuid4().hex[:8]}"
    _run([*PODMAN, "run", "-d", "--name", name, *LIMITS, *args], timeout=120)
    try:
        yield name
    finally:
        subprocess.run([*PODMAN, "rm", "-f", "-v", name], capture_output=True, timeout=120)


def _logs(name: str) -> str:
    done = subprocess.run([*PODMAN, "logs", name], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


async def _publishes_and_stops(mosquitto: Mosquitto, base: str, meters: list[str], *args: str,
                               while_running: Callable[[], Awaitable[None]] | None = None) -> str:
    """Start the container, see each meter's state and the bridge online, stop it and see it go offline."""
    async with probe_client(mosquitto, f"{base}/#") as probe:
        with container(*args) as name:
            try:
                for meter in meters:
                    state = (await probe.wait_for(f"{base}/{meter}/state", timeout=90)).json()
                    assert state["a_plus"] >= 0 and state["p_plus"] >= 0 and state["time"], state
                await probe.wait_for(f"{base}/bridge/state", lambda m: m.json()["state"] == "online")
                if while_running is not None:
                    await while_running()
                mark = probe.mark()
                await asyncio.to_thread(_run, [*PODMAN, "stop", "-t", "20", name], 60)
                await probe.wait_for(f"{base}/bridge/state", lambda m: m.json()["state"] == "offline", after=mark)
            except BaseException:
                print(_logs(name))
                raise
            return _logs(name)


async def test_the_containerfile_image_publishes_a_simulated_meter(gateway_image: str, mosquitto: Mosquitto) -> None:
    logs = await _publishes_and_stops(
        mosquitto, "omnipower", ["meter1"],
        "-e", f"OMNIPOWER_MQTT__HOST={mosquitto.host}", "-e", f"OMNIPOWER_MQTT__PORT={mosquitto.port}",
        "-e", "OMNIPOWER_PUBLISH_INTERVAL=1", gateway_image)
    assert "data in /data" in logs


async def test_the_addon_image_runs_the_options(addon_image: str, mosquitto: Mosquitto, tmp_path: Path) -> None:
    data, config = tmp_path / "data", tmp_path / "config"
    data.mkdir()
    config.mkdir()
    options = yaml.safe_load((ADDON / "config.yaml").read_text())["options"]
    options |= {"publish_interval": 1, "mqtt.base_topic": "ha-omnipower",
                "meters": [{"id": "house", "source": "simulated", "household.pv_kwp": 0}]}
    (data / "options.json").write_text(json.dumps(options))
    # The add-on's own gateway.yaml (addon_config): a second meter the options do not name.
    (config / "gateway.yaml").write_text(yaml.safe_dump({"meters": [{"id": "spare", "seed": 7}]}))
    # The status page is on (the Dockerfile's web settings); on a free loopback port here rather than 0.0.0.0:8099,
    # since the container shares the host's network. The Supervisor's ingress proxy sends its path prefix.
    web_port, prefix = free_port(), "/api/hassio_ingress/test-token"

    def status_page() -> str:
        request = urllib.request.Request(f"http://127.0.0.1:{web_port}/", headers={"X-Ingress-Path": prefix})
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200
            return str(reply.read().decode())

    async def page_shows_the_meters() -> None:
        page = await asyncio.to_thread(status_page)
        assert "house" in page and "spare" in page and f'href="{prefix}/static/page.css"' in page

    await _publishes_and_stops(
        mosquitto, "ha-omnipower", ["house", "spare"],
        "-e", f"OMNIPOWER_MQTT__HOST={mosquitto.host}", "-e", f"OMNIPOWER_MQTT__PORT={mosquitto.port}",
        "-e", "OMNIPOWER_WEB__HOST=127.0.0.1", "-e", f"OMNIPOWER_WEB__PORT={web_port}",
        "-v", f"{data}:/data", "-v", f"{config}:/config:ro", "--entrypoint", "/usr/local/bin/omnipower-addon",
        addon_image, while_running=page_shows_the_meters)
    assert (data / "house.json").is_file() and (data / "spare.json").is_file()  # state kept in the add-on's /data
