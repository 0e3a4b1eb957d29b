"""Active tariff (1–4): a daily schedule of local switch times, overridable by command."""

from __future__ import annotations

from collections.abc import Mapping


class TariffSchedule:
    def __init__(self, switches: Mapping[str, int]) -> None:
        points = sorted((int(k[:2]) * 60 + int(k[3:]), v) for k, v in switches.items())
        if not points:
            raise ValueError("a tariff schedule needs at least one switch time")
        self._points = points

    def tariff_at(self, minute_of_day: int) -> int:
        """The tariff in force at a local minute of the day; before the first switch the last one of
        the previous day still holds."""
        current = self._points[-1][1]
        for minute, tariff in self._points:
            if minute > minute_of_day:
                break
            current = tariff
        return current


class Tariffs:
    """The schedule plus an optional override set by a remote command (`None` = follow the schedule)."""

    def __init__(self, schedule: TariffSchedule, override: int | None = None) -> None:
        self.schedule = schedule
        self.override = override
        self.scheduled = 1

    def update(self, minute_of_day: int) -> None:
        self.scheduled = self.schedule.tariff_at(minute_of_day)

    @property
    def active(self) -> int:
        return self.override if self.override is not None else self.scheduled

    def set_override(self, tariff: int | None) -> None:
        if tariff is not None and not 1 <= tariff <= 4:
            raise ValueError(f"tariff must be 1–4 or auto, got {tariff}")
        self.override = tariff
