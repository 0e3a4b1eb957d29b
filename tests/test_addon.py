"""The Home Assistant add-on (deploy/home-assistant/) and the gateway's configuration model cannot drift apart:
every option is a setting with the type the setting makes it, every setting is an option or listed with its reason
(gateway/addon_options.py, NOT_IN_ADDON), and the options the Supervisor hands over start the gateway.

The Supervisor's validation of the options is reproduced from its documented grammar (`supervisor_validate`,
after supervisor/addons/options.py) so that what reaches the converter is what a real Supervisor would write to
/data/options.json: the choices of `list(…)` as strings, unknown options dropped, optional ones left out."""

from __future__ import annotations

import json
import operator
import re
import subprocess
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import BaseModel, Field, SecretStr

from gateway import __version__, addon_options
from gateway.addon_options import addon_config, ha_type, schema_problems
from gateway.cli import main
from gateway.config import ConfigError, MeterConfig, Settings, TlsSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent
REPO = ROOT / "deploy" / "home-assistant"
ADDON = REPO / "omnipower"
CONFIG: dict[str, Any] = yaml.safe_load((ADDON / "config.yaml").read_text())

# The Supervisor's schema grammar: a type, optionally followed by "?" (optional).
_ELEMENT = re.compile(r"^(?:bool|email|url|port|device(?:\(subsystem=[a-z]+\))?|str(?:\(\d*,\d*\))?"
                      r"|password(?:\(\d*,\d*\))?|int(?:\((?P<i_min>\d+)?,(?P<i_max>\d+)?\))?"
                      r"|float(?:\((?P<f_min>[\d.]+)?,(?P<f_max>[\d.]+)?\))?|match\((?P<match>.*)\)"
                      r"|list\((?P<list>.+)\))\??$")


def _check(typ: str, value: Any, key: str) -> Any:
    found = _ELEMENT.match(typ)
    assert found, f"{key}: {typ!r} is no type of the Supervisor's grammar"
    low = found.group("i_min") or found.group("f_min")
    high = found.group("i_max") or found.group("f_max")
    if typ.startswith(("int", "float")):
        number = (int if typ.startswith("int") else float)(value)
        assert (low is None or number >= float(low)) and (high is None or number <= float(high)), (key, value)
        return number
    if typ.startswith("bool"):
        assert isinstance(value, bool), (key, value)
        return value
    if typ.startswith("list"):
        assert str(value) in found.group("list").split("|"), (key, value)
        return str(value)  # the Supervisor hands the choice over as text
    if typ.startswith("match"):
        assert re.match(found.group("match"), str(value)), (key, value)
    return str(value)


def supervisor_validate(schema: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """What the Supervisor writes to /data/options.json for `options` (or an assertion naming the option)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in schema:
            continue  # the Supervisor drops unknown options (with a warning)
        typ = schema[key]
        if isinstance(typ, list):
            assert isinstance(value, list), key
            out[key] = [supervisor_validate(typ[0], item) if isinstance(typ[0], dict) else _check(typ[0], item, key)
                        for item in value]
        else:
            out[key] = _check(typ, value, key)
    for key, typ in schema.items():
        inner = typ[0] if isinstance(typ, list) else typ
        assert key in out or (isinstance(inner, str) and inner.endswith("?")), f"missing option {key}"
    return out


def _options_file(tmp_path: Path, options: dict[str, Any]) -> Path:
    path = tmp_path / "options.json"
    path.write_text(json.dumps(supervisor_validate(CONFIG["schema"], options)))
    return path


# --- the options and the model ---------------------------------------------------------------------------------

def test_every_option_is_a_setting_of_the_gateway_with_its_type() -> None:
    assert schema_problems(CONFIG["schema"], CONFIG["options"]) == []


def test_every_schema_type_is_in_the_supervisors_grammar() -> None:
    flat = {k: v for k, v in CONFIG["schema"].items() if isinstance(v, str)}
    flat |= {f"meters.{k}": v for k, v in CONFIG["schema"]["meters"][0].items()}
    bad = {key: typ for key, typ in flat.items() if not _ELEMENT.match(typ)}
    assert bad == {}


class _Forecast(BaseModel):
    provider: Literal["met_no", "smhi"] = "met_no"
    horizons: tuple[float, ...] = ()


class _MeterWithMore(MeterConfig):
    solar_forecast: _Forecast = _Forecast()
    unit_id: Annotated[int, Field(ge=1, le=255)] = 1  # a bound changed in the gateway


class _Telemetry(BaseModel):
    enabled: bool = False
    port: int = 4318


class _SettingsWithMore(Settings):
    telemetry: _Telemetry = _Telemetry()
    meters: list[_MeterWithMore] = Field(default_factory=lambda: [_MeterWithMore(id="meter1")])  # type: ignore[assignment]


def test_a_setting_added_to_the_gateway_fails_until_the_addon_offers_or_lists_it() -> None:
    problems = schema_problems(CONFIG["schema"], CONFIG["options"], _SettingsWithMore)
    assert sorted(problems) == sorted([
        "setting meters.solar_forecast.provider is neither an add-on option nor listed in NOT_IN_ADDON (with the "
        "reason)",
        "setting meters.solar_forecast.horizons is neither an add-on option nor listed in NOT_IN_ADDON (with the "
        "reason)",
        "setting telemetry.enabled is neither an add-on option nor listed in NOT_IN_ADDON (with the reason)",
        "setting telemetry.port is neither an add-on option nor listed in NOT_IN_ADDON (with the reason)",
        "option meters.unit_id has type 'int(1,247)?'; the gateway's setting makes it 'int(1,255)?'",
    ])


def test_an_option_the_gateway_lost_a_stale_exclusion_and_a_missing_default_are_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    schema = {**CONFIG["schema"], "meters": [{**CONFIG["schema"]["meters"][0], "colour": "str?"}]}
    options = {k: v for k, v in CONFIG["options"].items() if k != "log_level"}
    monkeypatch.setitem(addon_options.NOT_IN_ADDON, "meters.gone", "removed from the gateway")
    assert sorted(schema_problems(schema, options)) == [
        "NOT_IN_ADDON names meters.gone, which is no setting of the gateway",
        "option meters.colour is no setting of the gateway",
        "required option log_level has no default in `options`",
    ]


class _Kinds(BaseModel):
    flag: bool = False
    secret: SecretStr | None = None
    sap: Literal[1, 16] = 16
    layout: Literal["nve", "dk"] = "nve"
    unit: Annotated[int, Field(ge=1, le=247)] = 1
    speed: Annotated[float, Field(gt=0, le=3600)] = 1.0
    latitude: Annotated[float, Field(ge=-90, le=90)] = 56.0
    limit: Annotated[int, Field(ge=100, le=10_000_000)] | None = None
    secondary: str | None = Field(None, pattern=r"^[0-9F]{8}$")
    text: str = "x"
    tls: bool | TlsSettings = False
    schedule: dict[str, int] = Field(default_factory=dict)


@pytest.mark.parametrize(("name", "expected"), [
    ("flag", "bool"), ("secret", "password"), ("sap", "list(1|16)"), ("layout", "list(nve|dk)"),
    ("unit", "int(1,247)"), ("speed", "float(0,3600)"), ("latitude", "float(,90)"), ("limit", "int(100,10000000)"),
    ("secondary", "match(^[0-9F]{8}$)"), ("text", "str"), ("tls", None), ("schedule", None),
])
def test_the_supervisor_type_of_each_kind_of_setting(name: str, expected: str | None) -> None:
    # Exclusive and negative bounds have no form in the grammar: inclusive, or left to the gateway's own check.
    assert ha_type(_Kinds.model_fields[name]) == expected


# --- what the Supervisor hands over starts the gateway ------------------------------------------------------------

def test_the_default_options_are_the_gateways_defaults(tmp_path: Path) -> None:
    started = load_settings(None, **addon_config(_options_file(tmp_path, CONFIG["options"])))
    defaults = Settings()
    for key in CONFIG["options"]:
        assert operator.attrgetter(key)(started) == operator.attrgetter(key)(defaults), key


def test_the_documented_meters_start(tmp_path: Path) -> None:
    docs = (ADDON / "DOCS.md").read_text()
    block = re.search(r"```yaml\n(meters:.*?)```", docs, re.S)
    assert block is not None
    options = {**CONFIG["options"], **yaml.safe_load(block.group(1))}
    started = load_settings(None, **addon_config(_options_file(tmp_path, options)))
    house, garage = started.meters
    assert (house.id, house.source, house.han.layout) == ("house", "han", "nve")
    assert (garage.source, garage.dlms.client, garage.dlms.security) == ("dlms", 1, "low")
    assert garage.dlms.password is not None and garage.dlms.password.get_secret_value() == "00000000"


def test_choices_come_back_as_the_settings_values_and_emptied_texts_as_unset(tmp_path: Path) -> None:
    meter = {"id": "m", "source": "dlms", "transport": "tcp:127.0.0.1:4059", "dlms.client": 1,
             "dlms.security": "high_gmac", "dlms.authentication_key": "00" * 16, "dlms.encryption_key": "11" * 16,
             "name": ""}
    path = _options_file(tmp_path, {**CONFIG["options"], "meters": [meter]})
    assert json.loads(path.read_text())["meters"][0]["dlms.client"] == "1"  # as the Supervisor writes it
    doc = addon_config(path)
    assert doc["meters"][0]["dlms"]["client"] == 1 and "name" not in doc["meters"][0]
    assert load_settings(None, **doc).meters[0].dlms.keys == (b"\x11" * 16, b"\x00" * 16)


def test_the_options_extend_the_addons_gateway_yaml(tmp_path: Path) -> None:
    extra = tmp_path / "gateway.yaml"
    extra.write_text(yaml.safe_dump({
        "publish_interval": 60, "mqtt": {"keepalive": 30, "base_topic": "from-file"},
        "meters": [{"id": "meter1", "power_threshold_w": 5000, "source": "han"}, {"id": "spare", "seed": 7}],
    }))
    started = load_settings(None, **addon_config(_options_file(tmp_path, CONFIG["options"]), extra))
    assert (started.publish_interval, started.mqtt.base_topic, started.mqtt.keepalive) == (10, "omnipower", 30)
    meter1, spare = started.meters
    assert (meter1.id, meter1.source, meter1.power_threshold_w) == ("meter1", "simulated", 5000)
    assert (spare.id, spare.seed) == ("spare", 7)


@pytest.mark.parametrize(("options", "message"), [
    ({"meters": [{"id": "m", "source": "han", "transport": "tcp:127.0.0.1:1", "han.layout": "xx"}]},
     "meters[0].han.layout = 'xx'"),
    ({"meters": [{"id": "m", "source": "han"}]}, "a han meter needs `transport`"),
    ({"meters": [{"id": "m", "colour": "red"}]}, "add-on option meters[0].colour is no setting of this gateway"),
    ({"meters": {"id": "m"}}, "add-on option meters: a list of mappings is expected"),
    ({"log.level": "INFO"}, "add-on option log.level is no setting of this gateway"),
])
def test_a_bad_option_stops_with_its_key_named(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    path = tmp_path / "options.json"
    path.write_text(json.dumps({**CONFIG["options"], **options}))
    with pytest.raises(ConfigError, match=re.escape(message)):
        addon_config(path)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("options.json", "{not json", "add-on options"),
    ("options.json", "[1, 2]", "a JSON object is expected"),
])
def test_an_unreadable_options_file_is_named(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        addon_config(tmp_path / name)


def test_the_cli_prints_a_configuration_the_gateway_runs_with(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    options = {**CONFIG["options"], "mqtt.base_topic": "ha", "meters": [{"id": "house", "household.pv_kwp": 0}]}
    assert main(["addon-config", str(_options_file(tmp_path, options))]) == 0
    written = tmp_path / "gateway.yaml"
    written.write_text(capsys.readouterr().out)
    started = load_settings(written)
    assert (started.mqtt.base_topic, started.meters[0].id, started.meters[0].household.pv_kwp) == ("ha", "house", 0)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"publish_interval": 0}))
    assert main(["addon-config", str(bad)]) == 2
    assert "publish_interval = 0" in capsys.readouterr().err


# --- the add-on's files agree with each other ---------------------------------------------------------------------

def _dockerfile_env(name: str) -> str:
    found = re.search(rf"^\s*{name}=(\S+)", (ADDON / "Dockerfile").read_text(), re.M)
    assert found, name
    return found.group(1)


def test_the_addon_files_agree() -> None:
    build = yaml.safe_load((ADDON / "build.yaml").read_text())
    assert CONFIG["arch"] == ["aarch64", "amd64"] and set(build["build_from"]) == set(CONFIG["arch"])
    assert CONFIG["version"] == __version__
    assert CONFIG["services"] == ["mqtt:need"] and CONFIG["uart"] is True and CONFIG["init"] is False
    assert [m["type"] for m in CONFIG["map"]] == ["addon_config"]
    assert CONFIG["ingress"] is True and CONFIG["ingress_port"] == int(_dockerfile_env("OMNIPOWER_WEB__PORT"))
    assert _dockerfile_env("OMNIPOWER_DATA_DIR") == "/data"
    translations = yaml.safe_load((ADDON / "translations" / "en.yaml").read_text())["configuration"]
    assert set(translations) == set(CONFIG["schema"])
    assert (ADDON / "Dockerfile").read_text().count("ARG BUILD_FROM\nFROM $BUILD_FROM\n") == 1
    assert yaml.safe_load((REPO / "repository.yaml").read_text())["name"]


def test_the_service_scripts_parse_and_hand_the_broker_on() -> None:
    s6 = ADDON / "rootfs" / "etc" / "s6-overlay" / "s6-rc.d"
    run, finish = s6 / "omnipower" / "run", s6 / "omnipower" / "finish"
    start = ADDON / "rootfs" / "usr" / "local" / "bin" / "omnipower-addon"
    for script, shell in ((run, "bash"), (finish, "bash"), (start, "sh")):
        assert script.stat().st_mode & 0o111, script
        subprocess.run([shell, "-n", str(script)], check=True)
    text = run.read_text()
    for field in ("host", "port", "username", "password"):
        assert f'OMNIPOWER_MQTT__{field.upper()}="$(bashio::services mqtt "{field}")"' in text
    assert "exec /usr/local/bin/omnipower-addon\n" in text
    assert (s6 / "omnipower" / "type").read_text() == "longrun\n"
    assert (s6 / "user" / "contents.d" / "omnipower").exists()
