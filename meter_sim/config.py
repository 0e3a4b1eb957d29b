"""Settings of one simulated meter (validated with pydantic; unknown keys are errors)."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meter_sim.power_quality import PqSettings
from meter_sim.type_number import TypeNumber, normalize_type_number, parse_type_number
from meter_sim.zcodes import Z_DEFAULTS, check_z, check_z_codes

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

INTEGRATION_PERIOD_S = {1: 300, 2: 900, 3: 1800, 4: 3600}  # Z4 codes
# Our simulated meter: the spec's worked example (three-phase, 3 systems, 5(100) A, class B,
# A+/A-/R+/R-, standard breaker, radio, supercap, S0, Norway) but Variant 1, which answers DLMS
# and IEC 62056-21 queries (Variant 2 does not, and our optical and RS-485 ports do).
SIM_TYPE_NUMBER = "6841131BN143101040"
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


class HouseholdSettings(StrictModel):
    annual_kwh: Annotated[float, Field(ge=100, le=100_000)] = 4500.0
    pv_kwp: Annotated[float, Field(ge=0, le=50)] = 4.0
    ev_charger_kw: Annotated[float, Field(ge=0, le=22)] = 0.0
    latitude: Annotated[float, Field(ge=-90, le=90)] = 56.0
    longitude: Annotated[float, Field(ge=-180, le=180)] = 10.0


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
    household: HouseholdSettings = HouseholdSettings()
    power_quality: PqSettings = PqSettings()
    breaker: BreakerSettings = BreakerSettings()

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
    def integration_period_s(self) -> int:
        return INTEGRATION_PERIOD_S[self.z4]
