"""Gateway configuration: a YAML file plus OMNIPOWER_* environment variables (`__` nests).

Environment variables win over the file. Any invalid value stops start-up with a message naming
the key, the value and what is allowed (see `ConfigError`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from gateway.capacity_settings import CapacityTariff
from gateway.web.settings import WebSettings
from meter_sim.config import DlmsSettings, MeterSimSettings
from meter_sim.fleet import Shard, member_id, member_settings, members, parse_shard
from omnipower.address import parse_address
from omnipower.dlms import GloKeys, parse_glo_keys

_TOPIC_LEVEL = re.compile(r"^[A-Za-z0-9_-]+$")


class ConfigError(Exception):
    """The configuration cannot be used; the message names each offending key."""


def _check_topic_prefix(value: str) -> str:
    if not value or value.startswith("/") or value.endswith("/") or any(c in value for c in "+#\0"):
        raise ValueError("must be a non-empty MQTT topic without '+', '#' or a leading/trailing '/'")
    return value


class TlsSettings(BaseModel):
    """TLS to the broker with our own CA and, where the broker asks for one, a client certificate."""

    model_config = ConfigDict(extra="forbid")

    ca_file: Path | None = Field(None, description="PEM CA certificate(s) the broker's certificate must chain to")
    cert_file: Path | None = Field(None, description="PEM client certificate (with key_file)")
    key_file: Path | None = Field(None, description="PEM private key of the client certificate")
    insecure: bool = Field(False, description="accept any broker certificate and host name (never in production)")

    @model_validator(mode="after")
    def _files(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: {path} is not a readable file")
        return self


class MqttSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, description="broker host; unset = localhost, embedded broker if none answers")
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 60
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    tls: bool | TlsSettings = Field(False, description="true: TLS with the system's CAs; or ca_file, cert_file, "
                                    "key_file, insecure")
    outbox_limit: Annotated[int, Field(ge=100, le=10_000_000)] | None = Field(
        None, description="events (alarms, breaker changes, responses) kept while the broker is away (default: "
        "10,000, or 10 per meter of this process where that is more)")
    state_qos: Literal[0, 1] = Field(
        1, description="QoS of the periodic state and display publications (events and responses are always 1)")
    base_topic: str = "omnipower"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    discovery_mode: Literal["entity", "device"] = Field(
        "entity", description="entity: one config per entity (every HA release); device: one config per meter "
        "with every entity in it (HA 2024.11 and later); a switch migrates as HA documents")
    embedded_broker: Literal["auto", "never", "always"] = Field(
        "auto", description="auto: only when no host is configured and nothing answers on localhost"
    )

    _check_base = field_validator("base_topic", "discovery_prefix")(_check_topic_prefix)


class HanOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # shared by the members of a fleet (meter_sim/fleet.py)

    layout: Literal["nve", "dk"] = Field("nve", description="nve: list 1 + hourly list 2; dk: DLMS push 1")
    scalers: Literal["kamstrup", "swedish_wh", "ct_milliamp"] = Field(
        "kamstrup", description="units of the pushed integers (no scaler is transmitted)"
    )
    keys: SecretStr | None = Field(None, description="EK:AK, two 32-digit hex keys, for encrypted pushes")
    raw_topic: bool = Field(False, description="publish every frame as hex on <base>/<meter>/han")

    @field_validator("keys")
    @classmethod
    def _check_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_glo_keys(value.get_secret_value())
        return value

    def glo_keys(self) -> GloKeys | None:
        return None if self.keys is None else parse_glo_keys(self.keys.get_secret_value())


class OpticalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # shared by the members of a fleet (meter_sim/fleet.py)

    mode: Literal["readout", "push"] = Field(
        "readout", description="readout: mode C on every poll; push: listen to mode D pushes at 2400 Bd"
    )
    silence_s: Annotated[float, Field(ge=1, le=86400)] = Field(
        30.0, description="push mode: the meter is offline after this long without a push"
    )


class DlmsOptions(DlmsSettings):
    """`source: dlms`: the association the gateway opens, over the IEC 62056-47 wrapper or HDLC: the public client 16
    reads;
    the management client 1 also operates the breaker and sets the clock, with the LLS `password` (security low) or
    with the keys (security high_gmac: HLS-GMAC, every APDU ciphered; `system_title` is then the gateway's own)."""

    client: Literal[1, 16] = Field(16, description="client SAP: 16 public (read only), 1 management")
    security: Literal["none", "low", "high_gmac"] = Field(
        "none", description="none for client 16; low (LLS password) or high_gmac (keys) for client 1")
    hdlc: bool = Field(False, description="HDLC (IEC 62056-46) instead of the wrapper: serial lines, optical heads")
    mode_e: bool = Field(False, description="sign on with IEC 62056-21 mode E first (an optical head), then HDLC")
    physical_address: Annotated[int, Field(ge=16, le=0x3FFD)] | None = Field(
        None, description="the meter's lower HDLC address (default: none, the one-byte address any meter answers)")

    @model_validator(mode="after")
    def _security_fits_the_client(self) -> DlmsOptions:
        if (self.client, self.security) not in ((16, "none"), (1, "low"), (1, "high_gmac")):
            raise ValueError(f"client {self.client} with security {self.security!r}: the public client 16 uses "
                             "none, the management client 1 low (with password) or high_gmac (with the keys)")
        if self.security == "low" and self.password is None:
            raise ValueError("security low needs `password`")
        if self.security == "high_gmac" and self.keys is None:
            raise ValueError("security high_gmac needs `authentication_key` and `encryption_key`")
        if self.mode_e and not self.hdlc:
            raise ValueError("mode_e: the optical head's mode E switches to HDLC, so it needs `hdlc: true`")
        return self


SMS_MIN_INTERVAL_S = 300.0  # SMS cost money: no schedule tighter than one request every 5 minutes


class SmsOptions(BaseModel):
    """`source: sms`: the meter's GSM8i module read by SMS (gateway/sources/sms.py) through the modem at `transport`."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # shared by the members of a fleet (meter_sim/fleet.py)

    number: str | None = Field(None, pattern=r"^\+[0-9]{4,15}$", description="the meter's GSM8i number (international)")
    pin: SecretStr | None = Field(None, description="the meter's PIN, put before each request (gsm.pin of the meter)")
    sim_pin: SecretStr | None = Field(None, description="the PIN of the gateway modem's SIM, when it asks for one")
    interval_s: Annotated[float, Field(ge=SMS_MIN_INTERVAL_S, le=7 * 86400)] = Field(
        3600.0, description=f"seconds between requests (SMS cost money; at least {SMS_MIN_INTERVAL_S:g})")
    reply_timeout_s: Annotated[float, Field(ge=10, le=3600)] = Field(
        120.0, description="the meter is offline when its answer takes longer")


class MeterConfig(MeterSimSettings):
    """One meter of the gateway. For `source: simulated` the simulation settings apply."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    source: Literal["simulated", "modbus", "han", "optical", "mbus", "dlms", "wmbus", "sms"] = "simulated"
    transport: str | None = Field(None, description="ADDR of a wire source: tcp:HOST:PORT, pty:PATH or a device")
    unit_id: Annotated[int, Field(ge=1, le=247)] = Field(1, description="Modbus unit (slave) id")
    mbus_address: Annotated[int, Field(ge=0, le=250)] = Field(1, description="M-Bus primary address")
    mbus_secondary: str | None = Field(None, pattern=r"^[0-9F]{8}$", description="8-digit secondary address")
    han: HanOptions = HanOptions()
    optical: OpticalOptions = OpticalOptions()
    dlms: DlmsOptions = DlmsOptions()  # a simulated meter's DLMS server, or how a dlms source reads its meter
    sms: SmsOptions = SmsOptions()
    name: str | None = None
    # Bounded so that ticking the model never blocks the event loop for long (an hour of meter
    # life costs ~18 ms); longer time-warps are for `omnipower-sim simulate`.
    speed: Annotated[float, Field(gt=0, le=3600)] = Field(1.0, description="simulated seconds per real second")
    energy_periods: bool = Field(True, description="publish this hour's, day's and month's import and export")
    capacity_tariff: CapacityTariff | None = Field(
        None, description="track a grid capacity tariff: rule norway, sweden_max, sweden_mean or denmark_tou "
        "(docs/capacity-tariffs.md)")

    @field_validator("transport")
    @classmethod
    def _check_transport(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)  # AddressError is a ValueError: pydantic reports it on this key
        return value

    @model_validator(mode="after")
    def _wire_sources_need_a_transport(self) -> MeterConfig:
        if self.source != "simulated" and self.transport is None:
            raise ValueError(f"a {self.source} meter needs `transport` (tcp:HOST:PORT, pty:PATH or a device path)")
        if self.source == "sms" and self.sms.number is None:
            raise ValueError("an sms meter needs `sms.number`: the number of its GSM8i module")
        return self

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _TOPIC_LEVEL.match(value) or value == "bridge":
            raise ValueError("must use only letters, digits, '_' and '-' (and not be 'bridge')")
        return value


FLEET_DISCOVERY_MAX = 5  # fleets up to this size are announced to Home Assistant unless `discovery` says otherwise


class FleetSettings(BaseModel):
    """N simulated meters from one template, each varied by the fleet's seed (see meter_sim/fleet.py). Member ids
    are `id_prefix` + the 1-based member number zero-padded to the digits of `count` (count 10000, prefix m:
    m00001 … m10000); shard K/N runs the members n with (n - 1) mod N = K - 1."""

    model_config = ConfigDict(extra="forbid")

    count: Annotated[int, Field(ge=1, le=1_000_000)]
    id_prefix: str = Field("meter", description="member ids: this prefix and the member number")
    seed: int = Field(1, description="draws each member's seed, household and type number")
    shard: str = Field("1/1", description="K/N: this process runs the K-th of N disjoint parts of the fleet")
    discovery: bool | None = Field(None, description=f"announce members to Home Assistant (default: only fleets of "
                                   f"at most {FLEET_DISCOVERY_MAX})")
    display: bool = Field(False, description="publish each member's display topic too")
    save_interval: Annotated[float, Field(ge=1, le=86400)] = Field(
        60.0, description="seconds between saves of a member's permanent memory (a fleet does not save before "
        "every publication)")
    template: MeterSimSettings = Field(default_factory=MeterSimSettings,
                                       description="the simulation settings every member starts from")
    speed: Annotated[float, Field(gt=0, le=3600)] = Field(1.0, description="simulated seconds per real second")
    state_connection: bool = Field(True, description="publish the members' state and display on an MQTT connection "
                                   "of their own, lighter than the main one (see gateway/state_stream.py)")
    engine: Literal["columns", "per_second"] = Field(
        "columns", description="how the members' seconds are computed: `columns` steps their quiet seconds together "
        "as arrays (meter_sim/columns.py; the same registers bit for bit), `per_second` each meter on its own")

    @field_validator("id_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value or not _TOPIC_LEVEL.match(value):
            raise ValueError("must be letters, digits, '_' and '-' (a topic level with the member number)")
        return value

    @field_validator("shard")
    @classmethod
    def _check_shard(cls, value: str) -> str:
        return str(parse_shard(value))

    @property
    def part(self) -> Shard:
        return parse_shard(self.shard)

    @property
    def announced(self) -> bool:
        return self.discovery if self.discovery is not None else self.count <= FLEET_DISCOVERY_MAX

    def member_ids(self) -> list[str]:
        return [member_id(self.id_prefix, n, self.count) for n in members(self.count, self.part)]

    def member_configs(self) -> list[MeterConfig]:
        """This shard's members as meters of the gateway."""
        template = MeterConfig(id="template", speed=self.speed, **self.template.model_dump(exclude_unset=True))
        return [member_settings(template, self.seed, n, id=member_id(self.id_prefix, n, self.count))
                for n in members(self.count, self.part)]


def _default_data_dir() -> Path:
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "omnipower"


class FirmwareUpdateSettings(BaseModel):
    """Firmware updates (§8) of the meters whose source can update (dlms with the management client, simulated):
    the folder of signed images (`omnipower-sim firmware build|sign`) that Home Assistant's update entity offers the
    newest of, and that a relative `firmware_update` image path is taken in."""

    model_config = ConfigDict(extra="forbid")

    folder: Path | None = Field(None, description="folder of signed firmware images (none: no image is offered)")

    @field_validator("folder")
    @classmethod
    def _check_folder(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OMNIPOWER_", env_nested_delimiter="__", extra="forbid", yaml_file=None
    )

    mqtt: MqttSettings = MqttSettings()
    publish_interval: Annotated[float, Field(ge=0.5, le=3600)] = Field(
        10.0, description="seconds between state publications (the meter's HAN push rhythm)"
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    firmware: FirmwareUpdateSettings = FirmwareUpdateSettings()
    web: WebSettings = Field(default_factory=WebSettings, description="the status page (gateway/web/)")
    fleet: FleetSettings | None = None  # before `meters`: their check needs it
    meters: list[MeterConfig] = Field(
        default_factory=lambda: [MeterConfig(id="meter1")],
        description="the meters (default: one simulated meter, meter1; none when a fleet is configured)")

    @field_validator("meters")
    @classmethod
    def _some_meter(cls, value: list[MeterConfig], info: ValidationInfo) -> list[MeterConfig]:
        if not value and info.data.get("fleet") is None:
            raise ValueError("list at least one meter (or configure a fleet)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _a_fleet_alone(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("fleet") is not None and "meters" not in data:
            return {**data, "meters": []}
        return data

    @model_validator(mode="after")
    def _unique_ids(self) -> Settings:
        seen: set[str] = set()
        for meter in self.meters:
            if meter.id in seen:
                raise ValueError(f"meter id {meter.id!r} is used twice; each meter needs its own id")
            seen.add(meter.id)
        if self.fleet is not None:
            f = self.fleet
            clash = next((m for m in seen if m.startswith(f.id_prefix) and m[len(f.id_prefix):].isdigit()), None)
            if clash is not None:
                raise ValueError(f"meter id {clash!r} looks like a member of the fleet (id_prefix {f.id_prefix!r}); "
                                 "give the fleet another prefix")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the configuration; raise ConfigError with a readable message when it is invalid."""
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"configuration file {config_file} does not exist")
        try:
            doc = yaml.safe_load(config_file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"configuration file {config_file} is not valid YAML: {exc}") from exc
        if doc is not None and not isinstance(doc, dict):
            raise ConfigError(f"configuration file {config_file} must hold a mapping of settings at the top")

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(yaml_file=config_file)

    try:
        return _FileSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


SECRET_KEYS = {"password", "keys", "key", "pin", "sim_pin", "puk"}


def format_validation_error(exc: ValidationError) -> str:
    lines = ["invalid configuration:"]
    for err in exc.errors():
        key = _dotted(err["loc"])
        value = err.get("input")
        if err["loc"] and err["loc"][-1] in SECRET_KEYS:
            value = "**********"  # even a wrong secret may be nearly right: never echo it
        reason = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        else:
            lines.append(f"  {key} = {value!r}: {reason}")
    return "\n".join(lines)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (str(part) in ("int", "float") or str(part).startswith(("function-", "literal[", "int-", "float-"))):
            # pydantic's type tags, not keys (a key may start with "int": interval_s)
            out += f".{part}" if out else str(part)
    return out or "(top level)"
