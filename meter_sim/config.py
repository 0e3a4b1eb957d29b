"""Settings of one simulated meter (validated with pydantic; unknown keys are errors)."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from meter_sim.disconnect import SmartDisconnectSettings
from meter_sim.display import DisplayLists
from meter_sim.loggers import ANALYSIS_DEFAULT_INTERVAL_S, check_analysis_config
from meter_sim.power_quality import PqSettings
from meter_sim.prepayment import Prepayment, PrepaymentSettings
from meter_sim.tamper import TamperSettings
from meter_sim.tariffs import TariffCalendar, check_tariff_codes
from meter_sim.type_number import TypeNumber, normalize_type_number, parse_type_number
from meter_sim.wiring import AccuracySettings
from meter_sim.zcodes import Z_DEFAULTS, check_z, check_z_codes, z_defaults
from omnipower.firmware_image import PublicKey, check_version, load_public_key

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

INTEGRATION_PERIOD_S = {1: 300, 2: 900, 3: 1800, 4: 3600}  # Z4 codes
# Our simulated meter: the spec's worked example (three-phase, 3 systems, 5(100) A, class B,
# A+/A-/R+/R-, standard breaker, radio, supercap, S0, Norway) but Variant 1, which answers DLMS
# and IEC 62056-21 queries (Variant 2 does not, and our optical and RS-485 ports do).
SIM_TYPE_NUMBER = "6841131BN143101040"
_FACTORY_Z = (9, 11, 15, 16, 19)  # Z codes whose default depends on the type number (see _factory_codes)
# Z codes kept as numbers only (their meaning is beyond what the model simulates, or order-form data)
OTHER_Z = (1, 2, 3, 5, 8, 9, 10, 12, 13, 16, 17, 18, 20)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BreakerSettings(StrictModel):
    push_button_requires_release: bool = Field(
        True, description="push-button reconnection only after a remote release command"
    )
    min_reconnect_delay_s: Annotated[float, Field(ge=0, le=3600)] = Field(
        5.0, description="minimum time between a disconnection and any reconnection"
    )


class DisplaySettings(StrictModel):
    """Display lists (Z5 order form; changeable remotely). Omitted lists keep the module defaults; the legal
    registers are always in the manual list."""

    automatic: tuple[str, ...] | None = Field(None, description="automatic scroll list, ≤ 16 items, 10 s each")
    manual: tuple[str, ...] | None = Field(None, description="push-button list, ≤ 30 items (legal items always in)")
    battery: tuple[str, ...] | None = Field(None, description="battery (no mains) list, ≤ 8 items")

    def lists(self, energy_type: int, battery: bool = True) -> DisplayLists:
        """The lists for one meter; `battery` False for a meter without a battery (X12 = 0): the supercap keeps
        only the clock, so without mains the display stays blank and there is no battery list."""
        given = {k: v for k, v in self.model_dump().items() if v is not None}
        if not battery:
            if given.get("battery"):
                raise ValueError("this meter has no battery (type number X12 = 0, supercap only), so no battery "
                                 "display list: leave display.battery out")
            given["battery"] = ()
        return DisplayLists.model_validate({"energy_type": energy_type, **given})


class AnalysisLoggerSettings(StrictModel):
    """Analysis logger 1.1.99.1.1.255 (Z10 order form): 1–16 registers by MQTT key, every 5/15/30/60 min."""

    channels: tuple[str, ...] = Field(
        ("u_l1", "u_l2", "u_l3", "i_l1", "i_l2", "i_l3", "thd_u_l1", "thd_u_l2", "thd_u_l3", "frequency"),
        description="register keys to log (1–16)",
    )
    interval_s: int = Field(ANALYSIS_DEFAULT_INTERVAL_S, description="300, 900, 1800 or 3600 s")

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from omnipower.registers import REGISTERS_BY_KEY

        for key in value:
            reg = REGISTERS_BY_KEY.get(key)
            if reg is None or reg.kind.spec.state_class != "measurement":
                raise ValueError(f"{key!r} is not an instantaneous register (e.g. u_l1, i_l2, thd_u_l3, frequency)")
        return value

    @model_validator(mode="after")
    def _fits_the_logger(self) -> AnalysisLoggerSettings:
        check_analysis_config(self.channels, self.interval_s)  # count, duplicates, interval: the logger's rules
        return self


def factory_analysis_logger(energy_type: int, phases: int) -> AnalysisLoggerSettings:
    """The factory channels (§4.4): powers by energy type (A+ → P+; A+/A− adds P−; A+/R+ adds Q+; four
    quadrants → P+, P−, Q+, Q−) and the mean voltage and current of every phase, every 15 minutes."""
    powers = {1: ("p_plus",), 2: ("p_plus", "p_minus"), 3: ("p_plus", "q_plus"),
              4: ("p_plus", "p_minus", "q_plus", "q_minus")}[energy_type]
    per_phase = tuple(f"{q}_l{n}" for n in range(1, phases + 1) for q in ("u", "i"))
    return AnalysisLoggerSettings(channels=powers + per_phase)


class HouseholdSettings(StrictModel):
    annual_kwh: Annotated[float, Field(ge=100, le=100_000)] = 4500.0
    pv_kwp: Annotated[float, Field(ge=0, le=50)] = 4.0
    ev_charger_kw: Annotated[float, Field(ge=0, le=22)] = 0.0
    latitude: Annotated[float, Field(ge=-90, le=90)] = 56.0
    longitude: Annotated[float, Field(ge=-180, le=180)] = 10.0


class DlmsSettings(StrictModel):
    """The meter's DLMS/COSEM associations (meter_sim/modules/dlms_server.py): the public client 16 reads without
    authentication; the management client 1 authenticates with this password (low-level security) or with the
    keys (high-level security HLS-GMAC, security suite 0, every APDU ciphered); without them it is refused."""

    password: SecretStr | None = Field(None, description="LLS password of the management client 1 (never logged)")
    authentication_key: SecretStr | None = Field(None, description="HLS-GMAC authentication key AK, 32 hex digits")
    encryption_key: SecretStr | None = Field(None, description="HLS-GMAC global unicast encryption key EK, 32 hex "
                                             "digits")
    system_title: str | None = Field(None, description='16 hex digits (default: "KAME" and the serial number)')

    @field_validator("password")
    @classmethod
    def _check_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 1 <= len(value.get_secret_value().encode()) <= 64:
            raise ValueError("must be 1 to 64 bytes")
        return value

    @field_validator("authentication_key", "encryption_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[0-9A-Fa-f]{32}", value.get_secret_value()):
            raise ValueError("must be 32 hex digits (a 16-byte AES key)")
        return value

    @field_validator("system_title")
    @classmethod
    def _check_title(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9A-Fa-f]{16}", value):
            raise ValueError("must be 16 hex digits (8 bytes)")
        return value

    @model_validator(mode="after")
    def _keys_go_together(self) -> DlmsSettings:
        if (self.authentication_key is None) != (self.encryption_key is None):
            raise ValueError("authentication_key and encryption_key go together (HLS-GMAC needs both)")
        return self

    @property
    def keys(self) -> tuple[bytes, bytes] | None:
        """(EK, AK) when HLS-GMAC is configured."""
        if self.encryption_key is None or self.authentication_key is None:
            return None
        return (bytes.fromhex(self.encryption_key.get_secret_value()),
                bytes.fromhex(self.authentication_key.get_secret_value()))


class WmbusSettings(StrictModel):
    """The wireless M-Bus module (Kamstrup's C1 module for OMNIPOWER; meter_sim/modules/wmbus_radio.py, omnipower/
    wmbus.py). One block for both programs: the simulator transmits with it, the gateway's `wmbus` source reads
    with it (`format`: which receiver's output it reads; the simulator emulates that receiver unless
    `--wmbus-format` says otherwise)."""

    key: SecretStr | None = Field(None, description="AES-128 key, 32 hex digits: telegrams encrypted with "
                                  "AES-128-CTR in the extended link layer (none: sent in clear)")
    interval_s: Annotated[int, Field(ge=4, le=86400)] = Field(
        16, description="seconds between telegrams (Kamstrup's C mode: 16 s; every 8th a full frame); at least 4 "
        "so that no two telegrams of one minute share a counter block")
    format: Literal["rtl_wmbus", "im871a"] = Field(
        "rtl_wmbus", description="the receiver: rtl_wmbus text lines or an IMST iM871A stick's HCI frames")
    id: str | None = Field(None, pattern=r"^[0-9]{8}$", description="the 8-digit radio identification number "
                           "(default: the meter's serial number, derived from its id as every interface does)")

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[0-9A-Fa-f]{32}", value.get_secret_value()):
            raise ValueError("must be 32 hex digits (a 16-byte AES-128 key)")
        return value

    @property
    def key_bytes(self) -> bytes | None:
        return None if self.key is None else bytes.fromhex(self.key.get_secret_value())

    def radio_id(self, meter_id: str) -> int:
        """The identification number the module sends: `id`, else the meter's serial number."""
        from meter_sim.meter import serial_number  # meter.py imports this module

        return int(self.id) if self.id is not None else serial_number(meter_id)


_E164 = re.compile(r"^\+[0-9]{4,15}$")


def _check_number(value: str) -> str:
    if not _E164.match(value):
        raise ValueError(f"{value!r} is not an international number: '+' and 4–15 digits, e.g. +4520000001")
    return value


def _check_pin(value: SecretStr | None) -> SecretStr | None:
    if value is not None and not re.fullmatch(r"[0-9]{4,8}", value.get_secret_value()):
        raise ValueError("must be 4 to 8 digits")
    return value


class HeadEndModemSettings(StrictModel):
    """The head-end's modem that `omnipower-sim serve --gsm ADDR` exposes (meter_sim/gsm_modem.py): its SIM's number,
    PIN (None: the SIM asks for none) and PUK (which unblocks it after three wrong PINs)."""

    number: str = Field("+4520000000", description="the head-end modem's number (international)")
    pin: SecretStr | None = Field(None, description="its SIM PIN, 4–8 digits (default: none asked)")
    puk: SecretStr = Field(SecretStr("12345678"), description="its SIM PUK, 8 digits")

    _number = field_validator("number")(_check_number)
    _pin = field_validator("pin")(_check_pin)

    @field_validator("puk")
    @classmethod
    def _check_puk(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"[0-9]{8}", value.get_secret_value()):
            raise ValueError("must be 8 digits")
        return value


class GsmSettings(StrictModel):
    """The GSM8i module (68 50 053, meter_sim/modules/gsm8i.py): answers reading requests by SMS (omnipower/
    sms_reading.py) and carries the DLMS wrapper over GPRS."""

    number: str = Field(description="the module's number (international, e.g. +4520000001)")
    pin: SecretStr | None = Field(None, description="4–8 digits a request must start with (default: none)")
    whitelist: tuple[str, ...] = Field((), description="senders that get answers (empty: every sender)")
    head_end: HeadEndModemSettings = HeadEndModemSettings()

    _number = field_validator("number")(_check_number)
    _pin = field_validator("pin")(_check_pin)

    @field_validator("whitelist")
    @classmethod
    def _check_whitelist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for number in value:
            _check_number(number)
        return value

    @model_validator(mode="after")
    def _two_numbers(self) -> GsmSettings:
        if self.head_end.number == self.number:
            raise ValueError(f"head_end.number {self.number} is the module's own number: give the head-end another")
        return self


class FirmwareSettings(StrictModel):
    """The meter's firmware (§8, meter_sim/firmware.py): the version it was delivered with, and the manufacturer's
    public key its image transfer verifies images against. No key: image transfer is disabled. A private key never
    belongs here (it is refused): it stays with whoever signs images (`omnipower-sim firmware sign`)."""

    version: str | None = Field(None, description="the version delivered (default: by the type number's firmware "
                                "line, e.g. 5098736-U1 for a direct meter)")
    public_key: str | None = Field(None, description="the manufacturer's Ed25519 or ECDSA P-256 public key: PEM "
                                   "(SubjectPublicKeyInfo) text, or the path of a PEM file")

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str | None) -> str | None:
        if value is not None:
            check_version(value)  # EncodeError is a ValueError: pydantic names the key
        return value

    @field_validator("public_key")
    @classmethod
    def _check_key(cls, value: str | None) -> str | None:
        """The key as PEM text (a path is read here, so that the settings hold what the meter trusts)."""
        if value is None:
            return None
        pem = value if "-----BEGIN" in value else _read_key_file(value)
        if "PRIVATE KEY-----" in pem:
            raise ValueError("a private key: the meter holds only the manufacturer's public key (SubjectPublicKeyInfo "
                             "PEM); keep the private key with the signer")
        load_public_key(pem.encode())
        return pem

    @cached_property
    def key(self) -> PublicKey | None:
        return None if self.public_key is None else load_public_key(self.public_key.encode())


def _read_key_file(path: str) -> str:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read(64 * 1024)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"neither PEM text nor a readable PEM file: {exc}") from None


class MeterSimSettings(StrictModel):
    """What the simulated meter needs beyond its id. Z codes use the data sheet's numbering."""

    seed: int = 1
    start: datetime | None = Field(None, description="simulated start time (default: now)")
    type_number: str = Field(SIM_TYPE_NUMBER, description="the 18-character type number 68X1…X16 (dashes allowed)")
    z1: int = Field(Z_DEFAULTS[1], description="display decimals: 1 = 7.0, 2 = 6.1, 3 = 7.2, 4 = 6.3")
    z2: int = Field(Z_DEFAULTS[2], description="LED at no load: 1 off, 2 on")
    z3: int = Field(Z_DEFAULTS[3], description="module I/O1/I/O2 roles")
    z5: int = Field(Z_DEFAULTS[5], description="display configuration (order form)")
    z8: int = Field(Z_DEFAULTS[8], description="pulse width / alarm input: 1/2 30 ms, 3/4 80 ms; 2 and 4 alarm on")
    z9: int = Field(Z_DEFAULTS[9], description="disconnect setup: 000 none, 001 default")
    z10: int = Field(Z_DEFAULTS[10], description="analysis logger setup / maximum power (000 default)")
    z12: int = Field(Z_DEFAULTS[12], description="pulse input unit: 0 none, 1 kWh, 2 m³, 3 l")
    z13: int = Field(Z_DEFAULTS[13], description="tariff control: 000 off, 001 module port, 002 register, xxx table")
    z16: int = Field(Z_DEFAULTS[16], description="RF frequency code (000 none)")
    z17: int = Field(Z_DEFAULTS[17], description="push button 2 setup (000 none)")
    z18: int = Field(1, description="IEC 62056-21: 000 off, 001 A+C UD1, 002 A+C UD2")
    z20: int = Field(Z_DEFAULTS[20], description="calendar: 000 no exception days")
    z4: Literal[1, 2, 3, 4] = Field(2, description="integration period: 1=5, 2=15, 3=30, 4=60 min")
    z6: Annotated[int, Field(ge=1, le=28)] = Field(1, description="debiting stop day of the month")
    z7: Annotated[int, Field(ge=0, le=24)] = Field(
        1, description="debiting interval: 0 external only, 1 monthly, 2–3 every 2nd, 4–6 every 3rd, "
        "7–12 every 6th month, 13–24 yearly (in Jan…Dec)"
    )
    z11: Annotated[int, Field(ge=0, le=23)] = Field(1, description="GMT offset code")
    z14: Annotated[int, Field(ge=0, le=999)] = Field(
        1, description="load control: 0 off, 1 register (relays set by remote command)"
    )
    z15: Literal[0, 1] = Field(1, description="daylight saving: 0 none, 1 EU")
    z25: Literal[1, 2, 3] = Field(1, description="debiting logger 2: 1 daily, 2 weekly, 3 monthly")
    z19: Literal[0, 1, 2] = Field(1, description="breaker position at delivery: 0 undefined, 1 on, 2 off")
    power_threshold_w: Annotated[float, Field(ge=0, le=1_000_000)] = Field(
        0.0, description="power threshold PTH (96.51.1) in W; periods whose P+ mean exceeds it are counted (0 = off)"
    )
    tariff_schedule: dict[str, Annotated[int, Field(ge=1, le=4)]] = Field(
        default_factory=lambda: {"00:00": 1, "06:00": 2, "22:00": 1},
        description="local switch times HH:MM → tariff 1–4",
    )
    tariff_calendar: TariffCalendar | None = Field(
        None, description="the internal tariff plans (Z13 = table): seasons (or up to 3 plans of seasons), day "
        "types, day plans naming T1–T8, exception days; "
        "default: tariff_schedule every day"
    )
    tariff_command_overrides_any_source: bool = Field(
        True, description="simulator extension: a tariff command overrides the calendar or module inputs (as a "
        "head-end switching Z13 to register would); false = the meter's rule, only Z13 = 002 takes commands"
    )
    accuracy: AccuracySettings = AccuracySettings()
    household: HouseholdSettings = HouseholdSettings()
    power_quality: PqSettings = PqSettings()
    breaker: BreakerSettings = BreakerSettings()
    dlms: DlmsSettings = DlmsSettings()
    han_layout: Literal["nve", "dk"] | None = Field(
        None, description="the HAN port's push layout (§10.4 HAN-NVE lists, §10.5 the Danish push 1), also what its "
        "DLMS Push Setup objects name; default: as the meter's country is delivered (dk in Denmark, else nve)")
    wmbus: WmbusSettings = WmbusSettings()
    gsm: GsmSettings | None = Field(None, description="a GSM8i module: SMS reading and GPRS (default: none fitted)")
    firmware: FirmwareSettings = FirmwareSettings()
    smart_disconnect: SmartDisconnectSettings = SmartDisconnectSettings()
    prepayment: PrepaymentSettings = PrepaymentSettings()
    tamper: TamperSettings = TamperSettings()
    display: DisplaySettings = DisplaySettings()
    analysis_logger: AnalysisLoggerSettings | None = Field(
        None, description="analysis-logger setup: the order form Z10 names (needed when Z10 ≠ 000), or a remote "
        "reconfiguration; default (Z10 = 000): the factory setup, which follows the energy type (§4.4)",
    )
    module_pulse_output_imp_per_kwh: Annotated[int, Field(ge=1, le=1000)] = Field(
        1, description="module pulse outputs (Z3 A+/A−/R+ out): pulses per kWh or kvarh, 1–1000 (§9, default 1); "
        "width from Z8",
    )
    pulse_input_divisor: Annotated[float, Field(ge=0.1, le=1000.0)] = Field(
        1.0, description="module pulse input divisor: pulses per unit (Z12), 0.100–1000.000 (25 l/pulse in m³: 40)"
    )

    @model_validator(mode="before")
    @classmethod
    def _factory_codes(cls, data: Any) -> Any:
        """Z codes left out take the factory's choice for this type number: the country's GMT offset (Z11),
        summer time (Z15) and radio frequency (Z16), no disconnect setup and no delivery position without a
        breaker (Z9, Z19), and 1107 (Z18) on unless the variant answers no 1107 query."""
        if not isinstance(data, dict):
            return data
        try:
            kind = parse_type_number(str(data.get("type_number", SIM_TYPE_NUMBER)))
        except ValueError:
            return data  # the type_number validator reports it
        defaults = z_defaults(kind)
        factory = {f"z{n}": defaults[n] for n in _FACTORY_Z}
        factory["z18"] = 1 if kind.supports_dlms_query else 0  # Variant 2 answers no 1107 query (§10.1)
        return {**factory, **data}

    @field_validator("type_number")
    @classmethod
    def _check_type_number(cls, value: str) -> str:
        parse_type_number(value)  # ValueError names the field X1…X16 and what it allows
        return normalize_type_number(value)

    @field_validator(*(f"z{n}" for n in OTHER_Z))
    @classmethod
    def _check_other_z(cls, value: int, info: Any) -> int:
        return check_z(int(info.field_name[1:]), value)

    @model_validator(mode="after")
    def _codes_fit_the_type_number(self) -> MeterSimSettings:
        codes = {n: getattr(self, f"z{n}") for n in (*OTHER_Z, 4, 6, 7, 11, 14, 15, 19, 25)}
        check_z_codes(codes, self.type)
        t = self.type
        if t.meter_type == "single_phase":
            raise ValueError(f"type_number {t.grouped}: X1 = 6 is a single-phase meter; the simulator models the "
                             "three-phase OMNIPOWER (X1 = 4 direct, 5 CT)")
        try:
            check_tariff_codes(self.z3, self.z13, self.z20, self.calendar)
        except ValueError as exc:
            raise ValueError(f"tariffs: {exc}") from None
        if self.smart_disconnect.basis != "none":
            if not t.has_breaker:
                raise ValueError("smart_disconnect needs a meter with a breaker (type number X10 = 2 or 3)")
            if self.z9 == 0:
                raise ValueError("smart_disconnect.basis is set but Z9 = 000 (no disconnect function): set z9 to 1")
        try:
            Prepayment(self.prepayment).check_compatible(t.has_breaker, t.is_ct, self.z13 != 0)
        except ValueError as exc:
            raise ValueError(f"prepayment: {exc}") from None
        if self.z10 != 0 and self.analysis_logger is None:
            raise ValueError(
                f"Z10 = {self.z10:03d} names an analysis-logger order form, whose contents are unpublished: give its "
                "channels and interval as analysis_logger (or set z10 to 0 for the factory setup)"
            )
        try:  # a list naming an item this energy type lacks is refused here
            self.display.lists(t.energy_type, battery=t.has_battery)
        except ValidationError as exc:
            raise ValueError(f"display: {exc.errors()[0]['msg']}") from None
        except ValueError as exc:
            raise ValueError(f"display: {exc}") from None
        return self

    @cached_property
    def type(self) -> TypeNumber:
        return parse_type_number(self.type_number)

    @field_validator("z14")
    @classmethod
    def _check_z14(cls, value: int) -> int:
        if value not in (0, 1):
            raise ValueError(
                f"load-control table {value:03d} is not modelled (table contents are unpublished order-form data); "
                "use 0 (off) or 1 (register: relays set by remote command)"
            )
        return value

    @field_validator("tariff_schedule")
    @classmethod
    def _check_schedule(cls, value: dict[str, int]) -> dict[str, int]:
        if not value:
            raise ValueError("needs at least one switch time, e.g. {'00:00': 1}")
        for key in value:
            if not _HHMM.match(key):
                raise ValueError(f"switch time {key!r} is not HH:MM (00:00–23:59)")
        return value

    @property
    def calendar(self) -> TariffCalendar:
        """The tariff calendar in force: `tariff_calendar`, or `tariff_schedule` on every day."""
        if self.tariff_calendar is not None:
            return self.tariff_calendar
        return _daily_calendar(tuple(self.tariff_schedule.items()))

    @property
    def analysis_setup(self) -> AnalysisLoggerSettings:
        """The analysis logger's channels and interval: as configured, else the factory setup (Z10 = 000)."""
        if self.analysis_logger is not None:
            return self.analysis_logger
        return factory_analysis_logger(self.type.energy_type, self.type.phases)

    @property
    def integration_period_s(self) -> int:
        return INTEGRATION_PERIOD_S[self.z4]


@lru_cache(maxsize=64)  # frozen, so shared: a fleet's thousands of members have a few schedules (4 kB each)
def _daily_calendar(schedule: tuple[tuple[str, int], ...]) -> TariffCalendar:
    return TariffCalendar.from_schedule(dict(schedule))
