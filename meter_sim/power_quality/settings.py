"""The configurable power-quality and protection limits (§7.2, §7.9, §5.4): what the detectors and the meter's
voltage alarms compare with."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PqSettings(BaseModel):
    """Configurable power-quality and protection limits (§7.2, §7.9, §5.4). Volts, seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    un: Literal[230] = Field(230, description="nominal voltage Un (§1: 230 V)")
    fn: Literal[50, 60] = Field(50, description="nominal frequency fn")
    u_high_mean: Annotated[float, Field(ge=232.3, le=276)] = Field(253.0, description="U_high,mean (+1…+20 %)")
    u_low_mean: Annotated[float, Field(ge=184, le=227.7)] = Field(207.0, description="U_low,mean (−20…−1 %)")
    window_s: Annotated[int, Field(ge=10, le=1800)] = Field(600, description="U_time-period,mean, 10 s–30 min")
    u_high_sv: Annotated[float, Field(ge=232.3, le=276)] = Field(253.0, description="U_high,sv")
    u_low_sv: Annotated[float, Field(ge=184, le=227.7)] = Field(207.0, description="U_low,sv")
    outage_level: Annotated[float, Field(ge=50, le=160)] = Field(50.0, description="U_outage,level")
    outage_time_threshold_s: Annotated[int, Field(ge=0, le=1800)] = Field(
        10, description="U_outage,timethreshold: outages must last longer than this to be logged"
    )
    # §7.9: ranges unpublished; these ranges are (inferred), wide enough for [EM]'s values too.
    v_lhi: Annotated[float, Field(ge=240, le=300)] = Field(253.0, description="neutral fault V_LhiTh")
    v_nth: Annotated[float, Field(ge=10, le=180)] = Field(40.0, description="neutral fault V_NTh; V_LloTh = Un − V_NTh")
    neutral_fault_time_s: Annotated[int, Field(ge=1, le=900)] = Field(60, description="NeutralFaultTime")
    neutral_fault_disconnect: bool = Field(False, description="open the breaker on a neutral fault")
    ov_disconnect_enabled: bool = Field(False, description="overvoltage disconnect (1.1.128.0.19–22.255)")
    ov_threshold: Annotated[int, Field(ge=260, le=320)] = Field(285, description="disconnect threshold, 1 V steps")
    ov_window_s: Annotated[int, Field(ge=1, le=3600)] = Field(1, description="averaging window for disconnect")
    ov_reconnect_threshold: Annotated[int, Field(ge=250, le=270)] = Field(265, description="reconnect threshold")
    ov_reconnect_window_s: Annotated[int, Field(ge=1, le=3600)] = Field(60, description="averaging window, reconnect")

    @model_validator(mode="after")
    def _check_ov_pair(self) -> PqSettings:
        # (inferred) a reconnect threshold above the disconnect threshold would make the breaker cycle.
        if self.ov_reconnect_threshold > self.ov_threshold:
            raise ValueError(
                f"ov_reconnect_threshold ({self.ov_reconnect_threshold} V) must not exceed "
                f"ov_threshold ({self.ov_threshold} V)"
            )
        return self

    @property
    def v_llo(self) -> float:
        """V_LloTh = Un − V_NTh (190 V by default)."""
        return self.un - self.v_nth
