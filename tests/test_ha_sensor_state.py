"""Proof that tests/ha_sensor_state.py replays state messages the way Home Assistant's MQTT sensor handles them:
each rule with the release that brought it (the examples are those of HA's own tests and issues). No gateway here."""

from __future__ import annotations

import pytest
from ha_sensor_state import IGNORED, MODELLED_SINCE, render, replay

TIMESTAMP = {"device_class": "timestamp", "value_template": "{{ value_json.t }}"}
POWER = {"device_class": "power", "unit_of_measurement": "W", "value_template": "{{ value_json.p }}"}
ENUM = {"device_class": "enum", "options": ["on", "off"], "value_template": "{{ value_json.s }}"}
TEXT = {"value_template": "{{ value_json.s }}"}


def test_a_template_error_is_ignored_and_an_undefined_variable_is_logged() -> None:
    assert render("{{ [0] | map | first }}", "{}") == (IGNORED, [])
    rendered, logged = render("{{ value_json.p }}", "{}")
    assert rendered == "" and [p.severity for p in logged] == ["warning"]
    assert render("{{ value }}", "plain") == ("plain", [])


@pytest.mark.parametrize(("config", "payload", "release", "state", "severities"), [
    (TIMESTAMP, '{"t": null}', (2024, 3), None, ["warning"]),  # "None": Invalid state message (core issue #126694)
    (TIMESTAMP, '{"t": null}', (2024, 11), None, []),  # core PR #127032: "None" is unknown for every sensor
    (TIMESTAMP, '{"t": ""}', (2025, 12), None, ["warning"]),  # an empty text is no datetime on any release
    (TIMESTAMP, '{"t": "2026-01-15T12:00:00"}', (2025, 12), None, ["error"]),  # no time zone: ValueError
    (TIMESTAMP, '{"t": "2026-01-15T12:00:00+01:00"}', (2023, 3), "2026-01-15T12:00:00+01:00", []),
    (POWER, '{"p": null}', (2023, 3), None, []),  # core PR #87004: "None" is unknown for a numeric sensor
    (POWER, '{"p": ""}', (2023, 3), None, []),  # and an empty text is ignored
    (POWER, '{"p": "n/a"}', (2025, 12), None, ["error"]),  # a non-numeric value: ValueError
    (ENUM, '{"s": null}', (2024, 3), None, ["error"]),  # "None" is no option before 2024.11
    (ENUM, '{"s": null}', (2024, 11), None, []),
    (TEXT, '{"s": null}', (2024, 3), "None", []),  # a plain text sensor shows the text "None" before 2024.11
])
def test_the_state_rules_per_release(config: dict[str, object], payload: str, release: tuple[int, int],
                                     state: str | None, severities: list[str]) -> None:
    got, problems = replay(config, [payload], ha_version=release)
    assert (got, [p.severity for p in problems]) == (state, severities)


def test_releases_before_the_model_are_refused() -> None:
    with pytest.raises(ValueError, match="not modelled"):
        replay(POWER, ['{"p": 1}'], ha_version=(MODELLED_SINCE[0], MODELLED_SINCE[1] - 1))
