"""The judge's second half: what Home Assistant makes of a state message for an MQTT sensor, per release.

tests/ha_rules.py judges the discovery payloads; this replays the state messages through the same steps as HA, so
that a template which makes HA log (or show a wrong state) fails a test. Written from HA's source (paths in
``home-assistant/core``), sharing no code with ``gateway/``:

* ``homeassistant/helpers/template.py`` -- ``Template.async_render_with_possible_json_value``: ``value`` and, when
  the payload is JSON, ``value_json``; the result stripped; a ``jinja2.TemplateError`` returns the caller's error
  value without logging when one is given (the MQTT sensor gives ``PayloadSentinel.DEFAULT``), other exceptions
  propagate (HA logs them). ``make_logging_undefined``: an undefined variable logs "Template variable warning"
  where it is printed or tested, and "Template variable error" (then raises) where it is used.
  ``ImmutableSandboxedEnvironment``.
* ``homeassistant/components/mqtt/sensor.py`` -- ``_update_state``: ``PayloadSentinel.DEFAULT`` returns without a
  change. From core PR #87004 (HA 2023.3): a sensor that expects a number takes ``"None"`` as unknown and ignores
  ``""``; any other sensor keeps the text, except date/timestamp ones, which parse it with
  ``dt_util.parse_datetime`` and log "Invalid state message" (state unknown) when it is no datetime. From core PR
  #127032 (merged 2024-09-29, taken here as HA 2024.11, the first release certain to carry it): ``"None"`` makes
  every sensor unknown, before any other check.
* ``homeassistant/components/sensor/__init__.py`` -- ``_numeric_state_expected`` (not date/enum/timestamp, and a
  state class, unit, display precision or device class); ``state``: a numeric sensor with a non-numeric value, an
  enum sensor with a value outside its options and a timestamp without time zone raise ``ValueError`` (an error in
  the log, the state not written).

Releases before 2023.3 passed the previous state as the template's error value and had no ``"None"`` rule; they are
not modelled (:data:`MODELLED_SINCE`). ``parse_datetime`` is modelled with ``datetime.fromisoformat`` (HA tries
ciso8601, then an ISO 8601 regex: the same strings for what a gateway publishes).
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import jinja2
from ha_rules import HAVersion, Problem
from jinja2.sandbox import ImmutableSandboxedEnvironment

MODELLED_SINCE: Final[HAVersion] = (2023, 3)  # core PR #87004: PayloadSentinel, "None" and "" for numeric sensors
NONE_IS_UNKNOWN_FOR_ALL_SINCE: Final[HAVersion] = (2024, 11)  # core PR #127032
PAYLOAD_NONE: Final = "None"  # mqtt/const.py
_NON_NUMERIC: Final = frozenset({"date", "enum", "timestamp"})  # sensor/const.py NON_NUMERIC_DEVICE_CLASSES


class _Ignored:
    def __repr__(self) -> str:
        return "<PayloadSentinel.DEFAULT>"


IGNORED: Final = _Ignored()  # the template failed: the sensor ignores the message


_LOGGED: list[Problem] = []  # what the undefined variables of the render in progress logged


class _LoggingUndefined(jinja2.Undefined):
    """make_logging_undefined (non-strict): warn where printed or tested, log an error (then raise) where used."""

    def _warn(self) -> None:
        _LOGGED.append(Problem("warning", "value_template", f"Template variable warning: {self._undefined_message}"))

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        _LOGGED.append(Problem("error", "value_template", f"Template variable error: {self._undefined_message}"))
        return super()._fail_with_undefined_error(*args, **kwargs)

    def __str__(self) -> str:
        self._warn()
        return super().__str__()

    def __bool__(self) -> bool:
        self._warn()
        return super().__bool__()

    __getattr__ = _fail_with_undefined_error


_ENV: Final = ImmutableSandboxedEnvironment(undefined=_LoggingUndefined)


@functools.lru_cache(maxsize=4096)
def _compiled(template: str) -> jinja2.Template:
    return _ENV.from_string(template)


def render(template: str, payload: str | bytes) -> tuple[str | _Ignored, list[Problem]]:
    """The value_template's output as the MQTT sensor gets it (IGNORED for a template error), and what HA logged."""
    _LOGGED.clear()
    value = payload.decode() if isinstance(payload, bytes) else payload
    variables: dict[str, Any] = {"value": value}
    with contextlib.suppress(ValueError):
        variables["value_json"] = json.loads(value)
    try:
        rendered: str | _Ignored = _compiled(template).render(**variables).strip()
    except jinja2.TemplateError:
        rendered = IGNORED
    return rendered, list(_LOGGED)


def _numeric_expected(config: Mapping[str, object]) -> bool:
    device_class = config.get("device_class")
    if device_class in _NON_NUMERIC:
        return False
    if any(config.get(k) is not None for k in ("state_class", "unit_of_measurement", "suggested_display_precision")):
        return True
    return device_class is not None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


State = str | None  # None: unknown


def sensor_state(config: Mapping[str, object], rendered: str | _Ignored, previous: State,
                 *, ha_version: HAVersion) -> tuple[State, list[Problem]]:
    """The state after one rendered state message (mqtt/sensor.py _update_state + the sensor entity's checks)."""
    if ha_version < MODELLED_SINCE:
        raise ValueError(f"HA {ha_version} is not modelled (from {MODELLED_SINCE})")
    if isinstance(rendered, _Ignored):
        return previous, []
    if rendered == PAYLOAD_NONE and ha_version >= NONE_IS_UNKNOWN_FOR_ALL_SINCE:
        return None, []
    device_class = config.get("device_class")
    if _numeric_expected(config):
        if rendered == "":
            return previous, []
        if rendered == PAYLOAD_NONE:
            return None, []
        if not _is_number(rendered):
            return previous, [Problem("error", "state", f"sensor has the non-numeric value {rendered!r} "
                                                          "(sensor/__init__.py raises ValueError)")]
        return rendered, []
    if device_class in (None, "enum"):
        options = config.get("options")
        if device_class == "enum" and isinstance(options, list) and rendered not in options:
            return previous, [Problem("error", "state", f"enum sensor state {rendered!r} is not one of its options")]
        return rendered, []
    try:
        parsed = datetime.fromisoformat(rendered)
    except ValueError:
        return None, [Problem("warning", "state", f"Invalid state message {rendered!r} (mqtt/sensor.py: "
                                                  f"{device_class} sensor, HA {ha_version[0]}.{ha_version[1]})")]
    if device_class == "timestamp" and parsed.tzinfo is None:
        return previous, [Problem("error", "state", f"{rendered!r} is missing timezone information")]
    return rendered, []


def replay(config: Mapping[str, object], payloads: Iterable[str | bytes],
           *, ha_version: HAVersion) -> tuple[State, list[Problem]]:
    """The sensor's state after each of `payloads` in turn (from unknown) and everything HA logged on the way."""
    return replay_releases(config, payloads, [ha_version])[ha_version]


def replay_releases(config: Mapping[str, object], payloads: Iterable[str | bytes],
                    releases: Iterable[HAVersion]) -> dict[HAVersion, tuple[State, list[Problem]]]:
    """`replay` for several releases (the template renders the same on all of them: rendered once)."""
    template = config.get("value_template")
    rendered: list[tuple[str | _Ignored, list[Problem]]] = [
        render(template, p) if isinstance(template, str) else ((p.decode() if isinstance(p, bytes) else p), [])
        for p in payloads]
    out: dict[HAVersion, tuple[State, list[Problem]]] = {}
    for release in releases:
        state: State = None
        problems: list[Problem] = []
        for text, logged in rendered:
            state, found = sensor_state(config, text, state, ha_version=release)
            problems += logged + found
        out[release] = (state, problems)
    return out
