"""The per-meter `capacity_tariff` setting: which grid company rule to track, with its parameters.

Four rules (`rule:`), each a model below:

* `norway` — "kapasitetsledd": the mean of the three highest daily maxima of the month (the highest clock hour of
  three different days), mapped to the grid company's steps. The default steps are Glitre Nett's published table
  for private customers, "Priser nettleie kapasitet fra 1. januar 2024"
  (https://www.glitrenett.no/kunde/nettleie-og-priser/nettleiepriser-privatkunde, read December 2026): a step
  applies "fra og med" its lower bound "opp til" the next one (0.00–1.99 is step 1, 2.00 starts step 2).
* `sweden_max` — "effektavgift" on the month's highest hour, optionally only inside a window (Sundsvall Elnät's
  "höglasttid": January–March and November–December, Monday–Friday 06–22,
  https://sundsvallelnat.se/priser-och-fakturor/effektabonnemang-hogspanning/).
* `sweden_mean` — the mean of the N highest hours (by default of different days), optionally in a window such as
  weekdays 07–19 (Sala-Heby Energi's rule for houses).
* `denmark_tou` — the Danish DSOs' time-of-use periods (Tarifmodel 3.0: lavlast 00–06, højlast 06–17 and 21–24,
  spidslast 17–21 all year, https://norlys.dk/kundeservice/el/tarifmodel-3-0/); the prices, which differ by
  season and company, are the user's to give.

Hours are clock hours of the meter's local time; windows are `[start, end)` hours (end 24 = midnight; start > end
wraps past midnight), ISO weekdays (1 = Monday) and months (1 = January).
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Hour = Annotated[int, Field(ge=0, le=24)]
Weekday = Annotated[int, Field(ge=1, le=7)]
Month = Annotated[int, Field(ge=1, le=12)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Model):
    """One capacity step: it applies from `from_kw` (inclusive) up to the next step's `from_kw`."""

    from_kw: Annotated[float, Field(ge=0)]
    price: float | None = Field(None, description="price per month of this step (informative)")
    label: str | None = Field(None, description="the name published as capacity_step (default: its number)")


class Window(_Model):
    """When an hour counts: every condition given must hold (none given = always)."""

    weekdays: tuple[Weekday, ...] | None = Field(None, description="ISO weekdays, 1 = Monday")
    hours: tuple[Hour, Hour] | None = Field(None, description="[start, end) clock hours, e.g. [7, 19]")
    months: tuple[Month, ...] | None = None
    excluded_dates: tuple[date, ...] = Field((), description="days that never count (public holidays)")

    @field_validator("hours")
    @classmethod
    def _hours_differ(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and value[0] % 24 == value[1] % 24:
            raise ValueError("start and end hour must differ (leave `hours` out for the whole day)")
        return value

    def contains(self, local: datetime) -> bool:
        """Whether the clock hour starting at `local` (the meter's wall time) is inside the window."""
        if self.weekdays is not None and local.isoweekday() not in self.weekdays:
            return False
        if self.months is not None and local.month not in self.months:
            return False
        if local.date() in self.excluded_dates:
            return False
        return self.hours is None or in_hours(local.hour, self.hours)


def in_hours(hour: int, span: tuple[int, int]) -> bool:
    """Whether clock hour `hour` lies in `[start, end)`, wrapping past midnight when start > end."""
    start, end = span
    return start <= hour < end if start < end else hour >= start or hour < end


# Glitre Nett, private customers, from 1 January 2024 (kr/month): see the module docstring.
GLITRE_NETT_2024 = (
    Step(from_kw=0, price=155), Step(from_kw=2, price=195), Step(from_kw=5, price=335),
    Step(from_kw=10, price=690), Step(from_kw=15, price=900), Step(from_kw=20, price=1125),
    Step(from_kw=25, price=1745), Step(from_kw=50, price=2760), Step(from_kw=75, price=3680),
    Step(from_kw=100, price=5980),
)


def _check_steps(steps: tuple[Step, ...] | None) -> tuple[Step, ...] | None:
    if steps is None:
        return None
    if not steps or steps[0].from_kw != 0:
        raise ValueError("the first step must start at from_kw 0")
    bounds = [s.from_kw for s in steps]
    if any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"from_kw must rise from step to step, got {bounds}")
    labels = step_labels(steps)
    if len(set(labels)) != len(labels):
        raise ValueError(f"step labels must differ, got {labels}")
    return steps


def step_labels(steps: tuple[Step, ...]) -> list[str]:
    return [s.label or str(n) for n, s in enumerate(steps, 1)]


class NorwayRule(_Model):
    rule: Literal["norway"]
    steps: tuple[Step, ...] = Field(GLITRE_NETT_2024, description="the grid company's steps (default Glitre Nett "
                                    "2024)")
    hours: Annotated[int, Field(ge=1, le=10)] = Field(3, description="daily maxima averaged (three in Norway)")

    _steps = field_validator("steps")(_check_steps)

    distinct_days: ClassVar[bool] = True
    window: ClassVar[Window | None] = None


class SwedenMaxRule(_Model):
    rule: Literal["sweden_max"]
    window: Window | None = Field(None, description="only hours inside it count (e.g. höglasttid)")
    steps: tuple[Step, ...] | None = Field(None, description="optional steps (most Swedish tariffs price per kW)")
    price_per_kw: float | None = Field(None, description="informative")

    _steps = field_validator("steps")(_check_steps)

    hours: ClassVar[int] = 1
    distinct_days: ClassVar[bool] = False


class SwedenMeanRule(_Model):
    rule: Literal["sweden_mean"]
    hours: Annotated[int, Field(ge=1, le=10)] = Field(3, description="the N highest hours averaged")
    distinct_days: bool = Field(True, description="at most one of the N hours per day")
    window: Window | None = None
    steps: tuple[Step, ...] | None = None
    price_per_kw: float | None = None

    _steps = field_validator("steps")(_check_steps)


class TouPeriod(_Model):
    """One Danish load period: its label and when it applies (the first period that matches an hour wins)."""

    label: Annotated[str, Field(min_length=1, max_length=40)]
    hours: tuple[Hour, Hour]
    months: tuple[Month, ...] | None = None
    weekdays: tuple[Weekday, ...] | None = None
    price: float | None = Field(None, description="øre/kWh (informative)")

    def contains(self, local: datetime) -> bool:
        return (in_hours(local.hour, self.hours) and (self.months is None or local.month in self.months)
                and (self.weekdays is None or local.isoweekday() in self.weekdays))


TARIFMODEL_3 = (
    TouPeriod(label="lavlast", hours=(0, 6)),
    TouPeriod(label="spidslast", hours=(17, 21)),
    TouPeriod(label="højlast", hours=(6, 24)),  # 06–17 and 21–24: what the two above leave
)


class DenmarkTouRule(_Model):
    rule: Literal["denmark_tou"]
    periods: tuple[TouPeriod, ...] = Field(TARIFMODEL_3, description="the DSO's load periods (default Tarifmodel "
                                           "3.0's lav/høj/spids)")
    hours: Annotated[int, Field(ge=1, le=10)] = Field(3, description="the month's highest hours listed")

    distinct_days: ClassVar[bool] = False
    window: ClassVar[Window | None] = None
    steps: ClassVar[tuple[Step, ...] | None] = None

    @model_validator(mode="after")
    def _every_hour_has_a_period(self) -> DenmarkTouRule:
        for month in range(1, 13):
            for weekday in range(1, 8):
                for hour in range(24):
                    if not any(_matches(p, month, weekday, hour) for p in self.periods):
                        raise ValueError(f"no period covers hour {hour} of weekday {weekday} in month {month}")
        return self

    def labels(self) -> list[str]:
        """Each label once, in the order given (a label may name several rows)."""
        return list(dict.fromkeys(p.label for p in self.periods))

    def period_at(self, local: datetime) -> TouPeriod:
        return next(p for p in self.periods if p.contains(local))


def _matches(period: TouPeriod, month: int, weekday: int, hour: int) -> bool:
    return (in_hours(hour, period.hours) and (period.months is None or month in period.months)
            and (period.weekdays is None or weekday in period.weekdays))


CapacityRule = NorwayRule | SwedenMaxRule | SwedenMeanRule | DenmarkTouRule
CapacityTariff = Annotated[CapacityRule, Field(discriminator="rule")]
