"""The logger table (omnipower/loggers.py) is the one vocabulary of loggers: the meter keeps, saves and renders
exactly the table's loggers under its names, a `get` for another name is refused with the table's list, the README
lists the same names, and logs saved under the meter's old internal name still restore."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.log_export import query_log
from meter_sim.loggers import BillingLog, EventLogs
from meter_sim.meter import Meter
from omnipower.loggers import EVENT_LOGGERS, LOG_NAMES, LOGGERS, UnknownLogError, logger_named

T0 = int(datetime(2026, 1, 15, tzinfo=UTC).timestamp())


def _meter() -> Meter:
    return Meter("m", MeterSimSettings(z25=1), SteppedClock(T0))  # debiting logger 2 daily


def test_every_logger_of_the_table_is_readable_by_its_name() -> None:
    m = _meter()
    m.advance_to(T0 + 2 * 86400)
    m.debiting_stop("command")
    m.breaker_command("disconnect")
    for logger in LOGGERS:
        entries, total = query_log(m, logger.name, limit=None)
        assert total == len(entries)
    assert query_log(m, "debiting_logger_2", limit=None)[1] == 2  # two midnights
    assert query_log(m, "billing", limit=None)[1] == 1
    assert [e["type"] for e in query_log(m, "disconnect", limit=None)[0]] == ["disconnected"]


def test_an_unknown_log_is_refused_with_the_table_s_names() -> None:
    expected = f"unknown log 'diary' (known: {', '.join(LOG_NAMES)})"
    with pytest.raises(UnknownLogError) as info:
        logger_named("diary")
    assert str(info.value) == expected
    with pytest.raises(ValueError, match=re.escape(expected)):
        query_log(_meter(), "diary")
    with pytest.raises(UnknownLogError):
        logger_named(["not", "a", "name"])  # type: ignore[arg-type]  # a JSON list in a request


def test_the_meter_keeps_the_table_s_loggers_with_its_capacities() -> None:
    logs = EventLogs()
    assert logs.names == tuple(lg.name for lg in EVENT_LOGGERS)
    assert all(logs[lg.name].capacity == lg.capacity for lg in EVENT_LOGGERS)
    assert BillingLog.monthly().capacity == logger_named("billing").capacity
    assert BillingLog.debiting2().capacity == logger_named("debiting_logger_2").capacity
    state = _meter().logs_state()
    assert {"load_profile", "billing", "debiting_logger_2", "analysis"} <= set(state)
    assert set(state["events"]) == {lg.name for lg in EVENT_LOGGERS}


def test_logs_saved_under_the_old_name_billing2_still_restore() -> None:
    m = _meter()
    m.advance_to(T0 + 3 * 86400)
    saved = m.logs_state()
    saved["billing2"] = saved.pop("debiting_logger_2")  # as saved before the logger table
    restored = Meter("m", m.settings, SteppedClock(m.t), state=m.to_state(), logs=saved)
    assert restored.billing2.entries() == m.billing2.entries() and len(m.billing2.entries()) == 3


def test_the_readme_lists_the_table_s_logger_names_for_get() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `omnipower/<meter>/get`"))
    listed = re.search(r"for a logger \((.*?)\)", row)
    assert listed is not None
    assert tuple(re.findall(r"`([a-z_0-9]+)`", listed.group(1))) == LOG_NAMES
