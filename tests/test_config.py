"""Configuration: YAML + OMNIPOWER_ environment variables; every bad value stops start-up with a
message naming the key, the value and what is allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_run_one_simulated_meter_on_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OMNIPOWER_MQTT__HOST", "OMNIPOWER_MQTT__PORT", "OMNIPOWER_METERS"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings()
    assert settings.mqtt.host is None and settings.mqtt.port == 1883 and settings.mqtt.base_topic == "omnipower"
    assert [m.id for m in settings.meters] == ["meter1"] and settings.meters[0].source == "simulated"
    assert settings.publish_interval == 10.0


def test_yaml_and_environment_with_nesting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "mqtt: {host: broker.lan, port: 1884, username: ha}\nmeters: [{id: a}, {id: b, seed: 7}]\n")
    monkeypatch.setenv("OMNIPOWER_MQTT__PORT", "8883")
    monkeypatch.setenv("OMNIPOWER_MQTT__PASSWORD", "s3cret")
    settings = load_settings(path)
    assert settings.mqtt.host == "broker.lan" and settings.mqtt.port == 8883  # the environment wins
    assert settings.mqtt.password is not None and settings.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert [m.seed for m in settings.meters] == [1, 7]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mqtt: {port: 70000}", "mqtt.port = 70000: Input should be less than or equal to 65535"),
        ("mqtt: {port: abc}", "mqtt.port = 'abc': Input should be a valid integer"),
        ("mqtt: {base_topic: 'a/#'}", "mqtt.base_topic = 'a/#': Value error, must be a non-empty MQTT topic"),
        ("mqtt: {protocol: '4'}", "mqtt.protocol = '4': Input should be 'auto', '5' or '3.1.1'"),
        ("mqt: {}", "mqt = {}: unknown key"),
        ("publish_interval: 0", "publish_interval = 0: Input should be greater than or equal to 0.5"),
        ("meters: []", "meters = []: Value error, list at least one meter (or configure a fleet)"),
        ("meters: [{seed: 1}]", "meters[0].id: required key is missing"),
        ("meters: [{id: 'a b'}]", "meters[0].id = 'a b': Value error, must use only letters, digits"),
        ("meters: [{id: bridge}]", "meters[0].id = 'bridge'"),
        ("meters: [{id: a}, {id: a}]", "meter id 'a' is used twice"),
        ("meters: [{id: a, z4: 5}]", "meters[0].z4 = 5: Input should be 1, 2, 3 or 4"),
        ("meters: [{id: a, z14: 7}]", "meters[0].z14 = 7: Value error, load-control table 007 is not modelled"),
        ("meters: [{id: a, z11: 24}]", "meters[0].z11 = 24: Input should be less than or equal to 23"),
        ("meters: [{id: a, speed: 0}]", "meters[0].speed = 0: Input should be greater than 0"),
        ("meters: [{id: a, tariff_schedule: {'7:00': 2}}]", "switch time '7:00' is not HH:MM"),
        ("meters: [{id: a, tariff_schedule: {'07:00': 5}}]", "meters[0].tariff_schedule.07:00 = 5"),
        ("meters: [{id: a, household: {pv_kwp: -1}}]", "meters[0].household.pv_kwp = -1"),
        ("meters: [{id: a, breaker: {min_reconnect_delay_s: x}}]", "meters[0].breaker.min_reconnect_delay_s = 'x'"),
        ("meters: [{id: a, source: radio}]",
         "meters[0].source = 'radio': Input should be 'simulated', 'modbus', 'han', 'optical', 'mbus', 'dlms', "
         "'wmbus' or 'sms'"),
        ("meters: [{id: a, source: modbus}]", "a modbus meter needs `transport`"),
        ("meters: [{id: a, source: modbus, transport: 'udp:1.2.3.4:5'}]",
         "meters[0].transport = 'udp:1.2.3.4:5': Value error, 'udp:1.2.3.4:5': expected tcp:HOST:PORT"),
        ("meters: [{id: a, source: modbus, transport: 'tcp:h:99999'}]", "with a port 1–65535"),
        ("meters: [{id: a, source: modbus, transport: '/dev/ttyUSB0,9600,9X9'}]",
         "'9X9' is neither a baud rate nor a framing"),
        ("meters: [{id: a, source: modbus, transport: 'tcp:h:502', unit_id: 0}]",
         "meters[0].unit_id = 0: Input should be greater than or equal to 1"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("mqtt: [unclosed", "is not valid YAML"), ("- a\n- b\n", "must hold a mapping")],
)
def test_broken_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_bad_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIPOWER_MQTT__KEEPALIVE", "-3")
    with pytest.raises(ConfigError, match=r"mqtt.keepalive = '-3': Input should be greater than or equal to 5"):
        load_settings()


def test_cli_stops_with_the_message_and_status_2(tmp_path: Path) -> None:
    path = write(tmp_path, "meters: [{id: a, z4: 9}]\n")
    result = subprocess.run([sys.executable, "-m", "gateway", "run", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "meters[0].z4 = 9: Input should be 1, 2, 3 or 4" in result.stderr


def test_speed_flag_overrides_every_simulated_meter_and_is_validated(tmp_path: Path) -> None:
    from gateway.cli import with_speed

    settings = with_speed(load_settings(write(tmp_path, "meters: [{id: a}, {id: b, speed: 5}]\n")), 60)
    assert [m.speed for m in settings.meters] == [60, 60]
    result = subprocess.run([sys.executable, "-m", "gateway", "run", "--speed", "99999"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--speed = 99999.0: Input should be less than or equal to 3600" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("meters: [{id: a, source: han, transport: 'tcp:h:1', han: {keys: 'zz:00'}}]",
         "meters[0].han.keys = '**********': Value error, must be EK:AK"),
        ("meters: [{id: a, source: han, transport: 'tcp:h:1', han: {layout: se}}]",
         "meters[0].han.layout = 'se': Input should be 'nve' or 'dk'"),
        ("meters: [{id: a, source: han, transport: 'tcp:h:1', han: {scalers: x}}]",
         "meters[0].han.scalers = 'x': Input should be 'kamstrup', 'swedish_wh' or 'ct_milliamp'"),
    ],
)
def test_han_options_are_validated_without_showing_keys(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert message in str(info.value)
    assert "zz:00" not in str(info.value)
