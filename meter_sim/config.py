"""Settings of one simulated meter (validated with pydantic; unknown keys are errors)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

INTEGRATION_PERIOD_S = {1: 300, 2: 900, 3: 1800, 4: 3600}  # Z4 codes


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
    z4: Literal[1, 2, 3, 4] = Field(2, description="integration period: 1=5, 2=15, 3=30, 4=60 min")
    z11: Annotated[int, Field(ge=0, le=23)] = Field(1, description="GMT offset code")
    z14: Annotated[int, Field(ge=0, le=999)] = Field(
        1, description="load control: 0 off, 1 register (relays set by remote command)"
    )
    z15: Literal[0, 1] = Field(1, description="daylight saving: 0 none, 1 EU")
    z19: Literal[0, 1, 2] = Field(1, description="breaker position at delivery: 0 undefined, 1 on, 2 off")
    power_threshold_w: Annotated[float, Field(ge=0, le=1_000_000)] = Field(
        0.0, description="power threshold PTH (96.51.1) in W; periods whose P+ mean exceeds it are counted (0 = off)"
    )
    tariff_schedule: dict[str, Annotated[int, Field(ge=1, le=4)]] = Field(
        default_factory=lambda: {"00:00": 1, "06:00": 2, "22:00": 1},
        description="local switch times HH:MM → tariff 1–4",
    )
    household: HouseholdSettings = HouseholdSettings()
    breaker: BreakerSettings = BreakerSettings()

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
