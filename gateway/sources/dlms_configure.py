"""MQTT `configure` over DLMS: what of it the meter's COSEM objects can take, as the SETs and ACTION that carry it.

The object model (omnipower/cosem.py, the simulator's meter_sim/modules/dlms_server.py) has one remote setting that a
head-end writes whole: the tariff calendar, as the Activity Calendar's passive calendar (attributes 6–9) and its
activation (method 1). So `configure {"tariff_calendar": …}` goes over DLMS; every other setting is refused here with
the reason, before anything is sent. The calendar is checked by the meter's own model of it (`TariffCalendar`) and
encoded by the same function that shows the meter's calendar as COSEM (`calendar_of`), so what we write is what the
meter itself would show.

What the Activity Calendar cannot carry is refused with its reason: several plans (one calendar only); working days
and exception days (the meter keeps its own: the Special Days Table is not writable); a season whose holiday plan is
not its non-working plan (holidays are the Special Days Table's)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from gateway.commands import CommandError
from meter_sim.modules.dlms_calendar import calendar_of, passive_attributes
from meter_sim.tariffs import TariffCalendar
from omnipower.dlms import Data

_KEEPS = ("working_days", "exception_days")  # the meter's own over DLMS


def calendar_writes(value: Any) -> tuple[dict[str, Any], dict[int, Data]]:
    """configure's value (its canonical JSON text, or the object) → the tariff calendar setting and the passive
    calendar attributes (6–9) that carry it; CommandError for what DLMS cannot carry."""
    settings = json.loads(value) if isinstance(value, str) else value
    if not isinstance(settings, dict):
        raise CommandError("configure", "expected a JSON object of settings")
    other = sorted(k for k in settings if k != "tariff_calendar")
    if other:
        raise CommandError(f"configure.{other[0]}", "not carried over DLMS: the meter's COSEM objects take only "
                           "`tariff_calendar` (the Activity Calendar); change the rest on the meter's own port")
    setting = settings.get("tariff_calendar")
    if not isinstance(setting, dict):
        raise CommandError("configure.tariff_calendar", "expected a JSON object (day_plans and seasons)")
    kept = [k for k in _KEEPS if k in setting]
    if kept:
        raise CommandError(f"configure.tariff_calendar.{kept[0]}", "the meter keeps its own over DLMS (its Special "
                           "Days Table is not writable); leave it out")
    try:
        calendar = TariffCalendar.model_validate(setting)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CommandError(f"configure.tariff_calendar.{where}" if where else "configure.tariff_calendar",
                           first["msg"]) from None
    if calendar.plan_count > 1:
        raise CommandError("configure.tariff_calendar.plans", "one plan only over DLMS: the Activity Calendar is "
                           "one calendar")
    for n, season in enumerate(calendar.plan_seasons(1), 1):
        if season.holiday != season.non_working:
            raise CommandError(f"configure.tariff_calendar.seasons[{n}].holiday",
                               f"{season.holiday!r}: over DLMS a season's holidays take its non-working plan "
                               f"({season.non_working!r}); the holidays are the meter's Special Days Table")
    return setting, passive_attributes(calendar_of(calendar, 1))
