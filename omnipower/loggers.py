"""The logger table: every data logger of the meter, declared once, under the name MQTT uses.

A logger's `name` is its only name: the `log` of a `get {"log": …}` request, the file `omnipower-sim simulate`
writes, the key of the meter's saved logs and of its event loggers. Each `Logger` also carries its DLMS logical name
(None for the two loggers of ours, which OMNIPOWER does not document), what kind of entries it holds, its capacity
where the data sheet (or our inference) fixes one, and a line on what it holds. meter_sim/loggers.py builds the
loggers from it and meter_sim/log_export.py renders them by it; the gateway validates `get` requests with
`logger_named`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from omnipower.errors import OmnipowerError

__all__ = [
    "EVENT_LOGGERS",
    "LOGGERS",
    "LOGGERS_BY_NAME",
    "LOGGER_OBIS",
    "LOG_NAMES",
    "Logger",
    "UnknownLogError",
    "logger_named",
]

LogKind = Literal["load_profile", "debiting", "analysis", "event"]


@dataclass(frozen=True, slots=True)
class Logger:
    name: str
    obis: str | None  # DLMS logical name; None: ours (no OMNIPOWER logger is documented for it)
    kind: LogKind  # what its entries are: profile periods, register snapshots, analysis intervals or events
    capacity: int | None  # entries; None: follows from the configuration (the depth tables of §4.1, §4.4)
    description: str

    @property
    def fixed_capacity(self) -> int:
        """The capacity of a logger the table gives one (every logger but the load profile and the analysis)."""
        if self.capacity is None:
            raise ValueError(f"the {self.name} logger's capacity follows from the configuration")
        return self.capacity


LOAD_PROFILE = Logger("load_profile", "1.1.99.1.0.255", "load_profile", None,
                      "§4.1: energy registered per integration period (Z4), with a status byte")
BILLING = Logger("billing", "1.1.98.1.0.255", "debiting", 36,
                 "§4.2: the monthly debiting logger, a register snapshot at each debiting stop")
DEBITING_LOGGER_2 = Logger("debiting_logger_2", "1.1.98.2.0.255", "debiting", 175,
                           "§4.3: daily, weekly or monthly register snapshots (Z25)")
ANALYSIS = Logger("analysis", "1.1.99.1.1.255", "analysis", None,
                  "§4.4: interval means of up to 16 chosen channels (a fixed value pool)")
LOGGERS: tuple[Logger, ...] = (
    LOAD_PROFILE,
    BILLING,
    DEBITING_LOGGER_2,
    ANALYSIS,
    # Event and quality loggers (§4.5), circular
    Logger("meter_status", "1.1.99.98.2.255", "event", 200, "§4.5: tamper, load control, debiting stops, setup"),
    Logger("rtc_adjustment", "1.1.99.98.3.255", "event", 100,  # (inferred) capacity not stated
           "§13: clock adjustments (a change under 7 s is not logged)"),
    Logger("disconnect", "1.1.99.98.5.255", "event", 200, "§4.5: every breaker operation and its reason"),
    Logger("neutral_fault", "1.1.99.98.12.255", "event", 45, "§4.5, §7.9: neutral faults, start and end"),
    Logger("voltage_quality", "1.1.99.98.16.255", "event", 500,  # (inferred) start, peak and stop records fill it fast
           "§7: EN 50160 events: sags, swells, interruptions, RVC, limit violations"),
    Logger("occurrence_counters", "1.1.99.98.17.255", "event", 60,  # [EM] (not stated for OMNIPOWER)
           "§7.8: the power-quality occurrence counters, snapshot daily at midnight"),
    # Ours, apart from meter_status so that two tariff switches a day or frequent top-ups never push tamper entries
    # out of its 200 places.
    Logger("tariff", None, "event", 200, "tariff and tariff-plan changes, with their source"),
    Logger("prepayment", None, "event", 200, "top-ups and prepayment state changes (§5.5)"),
)
LOGGERS_BY_NAME: dict[str, Logger] = {lg.name: lg for lg in LOGGERS}
LOG_NAMES: tuple[str, ...] = tuple(LOGGERS_BY_NAME)
LOGGER_OBIS: dict[str, str] = {lg.name: lg.obis for lg in LOGGERS if lg.obis is not None}
EVENT_LOGGERS: tuple[Logger, ...] = tuple(lg for lg in LOGGERS if lg.kind == "event")
assert len(LOGGERS_BY_NAME) == len(LOGGERS), "logger names must be unique"
assert all(lg.capacity is not None for lg in EVENT_LOGGERS), "an event logger needs a capacity"


class UnknownLogError(OmnipowerError, ValueError):
    """A logger name not in the table."""


def logger_named(name: str) -> Logger:
    """The logger called `name`; raises UnknownLogError: "unknown log 'x' (known: load_profile, …)"."""
    try:
        return LOGGERS_BY_NAME[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name from a JSON request
        raise UnknownLogError(f"unknown log {name!r} (known: {', '.join(LOG_NAMES)})") from None
