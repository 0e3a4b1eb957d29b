"""Secrets stay secret: a run with a broker password and HAN keys configured, at DEBUG, with a wrong
password tried too and a configuration error, never shows a secret in a log line, on MQTT (bridge/info
included) or in an error message."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import Mosquitto, free_port, probe_client

pytestmark = pytest.mark.integration

PASSWORD = "S3cret-broker-Passw0rd"
EK = "000102030405060708090A0B0C0D0E0F"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
SECRETS = (PASSWORD, EK, AK, EK.lower(), AK.lower())


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def broker_with_password(tmp_path: Path) -> Mosquitto:
    port = free_port()
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "gw", PASSWORD], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "probe", "probe"], check=True)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n"
                    f"persistence false\nlog_dest file {tmp_path / 'mosquitto.log'}\n"
                    + ("user root\n" if os.geteuid() == 0 else ""))
    return Mosquitto("127.0.0.1", port, conf, tmp_path / "mosquitto.log")


def write_config(tmp_path: Path, port: int, password: str) -> Path:
    doc = {
        "mqtt": {"host": "127.0.0.1", "port": port, "username": "gw", "password": password},
        "publish_interval": 0.5,
        "log_level": "DEBUG",
        "data_dir": str(tmp_path / "data"),
        "meters": [
            {"id": "m1", "start": "2026-01-15T11:00:00+00:00"},
            {"id": "h1", "source": "han", "transport": f"tcp:127.0.0.1:{free_port()}",  # nothing answers
             "han": {"keys": f"{EK}:{AK}"}},
        ],
    }
    path = tmp_path / f"gateway-{len(password)}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def run_until(config: Path, *markers: str, timeout: float = 60.0) -> str:
    """The gateway's output from its start until every marker has appeared in it (a loaded machine starts it
    slowly: no fixed time), then its stop; an AssertionError names the markers missing after `timeout`."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "gateway", "run", "--config", str(config),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    out = ""
    try:
        async with asyncio.timeout(timeout):
            while not all(m in out.lower() for m in markers):
                line = await proc.stdout.readline()
                if not line:
                    break
                out += line.decode(errors="replace")
    except TimeoutError:
        pass
    proc.send_signal(signal.SIGTERM)
    rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    out += rest.decode(errors="replace")
    missing = [m for m in markers if m not in out.lower()]
    assert not missing, f"{missing} not in the gateway's output:\n{out}"
    return out


async def test_no_secret_in_logs_mqtt_or_errors(tmp_path: Path) -> None:
    broker = broker_with_password(tmp_path)
    broker.start()
    try:
        client = probe_client(broker, "#", username="probe", password="probe")
        async with client as probe:
            log = await run_until(write_config(tmp_path, broker.port, PASSWORD), "m1 2026-01-15",
                                  "meter h1 does not answer")
            info = await probe.wait_for("omnipower/bridge/info")
        assert "m1 2026-01-15" in log and "meter h1 does not answer" in log  # the run did what it should
        assert leaks(log) == [], log
        published = b"\n".join(m.payload for m in probe.messages).decode(errors="replace")
        assert len(probe.messages) > 10 and leaks(published) == []
        assert leaks(info.payload.decode()) == []

        refused = await run_until(write_config(tmp_path, broker.port, PASSWORD + "x"), "not authori")
        assert leaks(refused) == []
    finally:
        broker.stop()


def test_no_secret_in_configuration_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({
        "mqtt": {"password": PASSWORD, "port": 99999},
        "meters": [{"id": "h1", "source": "han", "transport": "tcp:127.0.0.1:1", "han": {"keys": f"{EK}:{AK}00"}}],
    }))
    result = subprocess.run([sys.executable, "-m", "gateway", "run", "--config", str(bad)], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, OMNIPOWER_MQTT__USERNAME="gw"))
    assert result.returncode == 2
    assert "mqtt.port" in result.stderr and "han.keys" in result.stderr, result.stderr
    assert leaks(result.stderr + result.stdout) == []
