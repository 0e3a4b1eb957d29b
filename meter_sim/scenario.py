"""Scenarios: a YAML file that scripts the meter's inputs over simulated time (docs/scenarios.md).

    scenario: {name: winter-month, description: …}
    events:
      - {at: "0d 00:00", kind: load, shape: {"00:00": 0.6, "07:00": 1.3, "09:00": 0.8, "17:00": 1.5, "23:00": 0.7}}
      - {at: "2d 18:00", kind: load, extra_w: 7400, duration: 3h, repeat: {every: 2d}}   # EV charging
      - {at: "5d 03:10", kind: outage, duration: 2h}
      - {at: "9d 14:00", kind: sag, phase: all, depth_v: 80, duration: 200ms}

`Scenario.load(path)` / `Scenario.parse(text)` validate the file (pydantic, unknown keys are errors; every
message names the place: "events[3].phase: …"). `Scenario.timeline(start, end)` expands it into the meter calls
to make, sorted by time (file order at equal times); `run(meter, scenario, until)` advances the meter between
them and applies each at its time, recording an `Outcome` per call — a refusal by the meter (breaker, prepayment,
a bad value) is an outcome with status "error", never the end of the run.

Values that last (load and PV factors, forced voltages, outage, neutral loss, tamper, module inputs, tariff) live
in channels. An event without `duration` sets a channel's base value; an event with a `duration` (or a `shape`)
is a layer on top of it, removed when it ends. Load and PV layers compose: their `scale`s multiply and their
`extra_w` add up (a holiday at 0.4 scales the daily shape; two extra loads add). On every other channel the
layer started last wins, and when it ends the channel goes back to the layer below or the base. The runner calls
the meter only when a channel's resulting value changes, once per second at most (its final value at that time).

Everything is whole seconds (the model steps 1 s), except the length of a sub-second sag/swell.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator

from meter_sim.grid import NOMINAL_V
from meter_sim.refusals import MeterRefused
from meter_sim.tariffs import MAX_TARIFF

DAY_S = 86_400
SUB_SECOND_MAX_MS = 1000  # sags/swells up to 1 s go to the meter's sag/swell counters (§7.5)


class ScenarioError(ValueError):
    """An invalid scenario; `problems` holds one "place: reason" line each (e.g. "events[3].phase: …")."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- times and durations ------------------------------------------------------------------------------------------
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": DAY_S * 1000, "w": 7 * DAY_S * 1000}
_TOKEN = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d|w)(?![a-z])|(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])")


def parse_duration_ms(value: object, *, signed: bool = False) -> int:
    """A duration in milliseconds from "90s", "36h", "1h30m", "2d 06:30", "06:30:15", "200ms" or a number of
    seconds. Units: ms, s, m/min, h, d, w; "HH:MM[:SS]" adds a time of day. A leading "-" only when `signed`."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration")
        ms = round(value * 1000)
        if ms < 0 and not signed:
            raise ValueError(f"{value!r} is negative")
        return ms
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration such as '90s', '36h' or '2d 06:30'")
    text = value.strip()
    sign = 1
    if text[:1] in ("+", "-"):
        if text[0] == "-":
            if not signed:
                raise ValueError(f"{value!r} is negative")
            sign = -1
        text = text[1:].strip()
    total, pos, seen = 0, 0, set()
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        match = _TOKEN.match(text, pos) if pos < len(text) else None
        if match is None:
            break
        number, unit, hours, minutes, seconds = match.groups()
        what = "m" if unit == "min" else unit or "HH:MM"
        if what in seen:
            raise ValueError(f"{value!r} names {what} twice")
        seen.add(what)
        if unit is not None:
            total += round(float(number) * _UNIT_MS[unit])
        else:
            h, m, s = int(hours), int(minutes), int(seconds or 0)
            if h > 23 or m > 59 or s > 59:
                raise ValueError(f"{value!r}: {match.group(0)} is not a time of day (00:00–23:59:59)")
            total += ((h * 60 + m) * 60 + s) * 1000
        pos = match.end()
    if not seen or pos < len(text):
        raise ValueError(
            f"{value!r} is not a duration: use units ms, s, m, h, d, w and/or HH:MM[:SS], "
            "e.g. '90s', '36h', '1h30m', '2d 06:30'"
        )
    return sign * total


def _whole_seconds(ms: int, what: str) -> int:
    if ms % 1000:
        raise ValueError(f"{what} must be whole seconds (the model steps 1 s), got {ms / 1000:g} s")
    return ms // 1000


@dataclass(frozen=True, slots=True)
class Offset:
    """A time relative to the start of the run (the meter's `start`), in seconds."""

    seconds: int


@dataclass(frozen=True, slots=True)
class Absolute:
    """An absolute time, UTC epoch seconds."""

    t: int


def _parse_instant(value: object) -> int:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time such as '2026-01-05T06:30:00+01:00'") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{value!r} is not an ISO 8601 time")
    if value.tzinfo is None:
        raise ValueError(f"{value.isoformat()!r} needs a UTC offset (e.g. +01:00 or Z)")
    t = value.timestamp()
    if t != int(t):
        raise ValueError(f"{value.isoformat()!r} must be a whole second")
    return int(t)


def _parse_at(value: object) -> Offset | Absolute:
    if isinstance(value, Offset | Absolute):
        return value
    if isinstance(value, datetime) or (isinstance(value, str) and re.match(r"\s*\d{4}-\d{2}-\d{2}", value)):
        return Absolute(_parse_instant(value))
    return Offset(_whole_seconds(parse_duration_ms(value), "at"))


def _parse_seconds(value: object) -> int:
    seconds = _whole_seconds(parse_duration_ms(value), "a duration")
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than 0 s")
    return seconds


def _parse_signed_seconds(value: object) -> int:
    return _whole_seconds(parse_duration_ms(value, signed=True), "a shift")


def _parse_ms(value: object) -> int:
    ms = parse_duration_ms(value)
    if ms <= 0:
        raise ValueError(f"{value!r} must be longer than 0 ms")
    return ms


At = Annotated[Offset | Absolute, PlainValidator(_parse_at)]
Seconds = Annotated[int, PlainValidator(_parse_seconds)]
SignedSeconds = Annotated[int, PlainValidator(_parse_signed_seconds)]
Millis = Annotated[int, PlainValidator(_parse_ms)]
Instant = Annotated[int, PlainValidator(_parse_instant)]
Phase = Literal[1, 2, 3, "all"]
Scale = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def _problem(field_name: str, reason: str) -> ValueError:
    """A cross-field error; `_format` moves the field name into the place ("events[2].duration: …")."""
    return ValueError(f"{field_name}: {reason}")


# --- the edges an event makes: each event class says which (`_Event.edges`) -----------------------------------------
@dataclass(frozen=True, slots=True)
class _Edge:
    """A change at t: a meter call (`call` set) or a channel change: base values, or a layer set/removed."""

    t: int
    event: int
    kind: str
    note: str | None
    call: str | None = None
    args: tuple[Any, ...] = ()
    channel: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    layer: tuple[int, int] | None = None  # None: set the base
    remove: bool = False


@dataclass(frozen=True, slots=True)
class _Occurrence:
    """One occurrence of events[index] at t (the `occurrence`-th of its repeats), in a run ending at `end`; builds
    the edges the event makes."""

    index: int
    kind: str
    note: str | None
    t: int
    occurrence: int
    end: float | None

    @property
    def layer(self) -> tuple[int, int]:
        return (self.index, self.occurrence)

    def call(self, name: str, *args: Any) -> _Edge:
        """A meter call at t."""
        return _Edge(self.t, self.index, self.kind, self.note, call=name, args=args)

    def change(self, channel: str, values: dict[str, Any], *, at: int | None = None, layer: bool = False,
               remove: bool = False) -> _Edge:
        """A channel change at t (or at `at`): its base values, or this occurrence's layer set or removed."""
        return _Edge(self.t if at is None else at, self.index, self.kind, self.note, channel=channel, values=values,
                     layer=self.layer if layer or remove else None, remove=remove)

    def lasting(self, channel: str, values: dict[str, Any], duration: int | None) -> Iterator[_Edge]:
        """Set the channel's base (no duration), or a layer over it for `duration` seconds."""
        if duration is None:
            yield self.change(channel, values)
            return
        yield self.change(channel, values, layer=True)
        yield self.change(channel, {}, at=self.t + duration, remove=True)


def _phases(phase: Phase) -> tuple[int, ...]:
    return (1, 2, 3) if phase == "all" else (phase,)


# --- the file's models --------------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Repeat(_Model):
    every: Seconds = Field(description="time between occurrences, e.g. '1d'")
    count: Annotated[int, Field(ge=1)] | None = Field(None, description="occurrences, the first included "
                                                      "(default: until the end of the run)")


class _Event(_Model):
    at: At = Field(description="offset from the run's start ('2d 06:30', '36h', '90s') or ISO time with offset")
    repeat: Repeat | None = None
    note: str | None = Field(None, description="free text, copied to scenario.json")

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        """The meter calls and channel changes of one occurrence (every event kind says its own)."""
        raise NotImplementedError(f"{type(self).__name__} does not say its edges")


class _Lasting(_Event):
    duration: Seconds | None = Field(None, description="how long the value applies (default: from then on)")


class _Toggle(_Lasting):
    active: bool = True

    @model_validator(mode="after")
    def _check_toggle(self) -> _Toggle:
        if self.duration is not None and not self.active:
            raise _problem("active", "an event with a duration switches the condition on for that long; "
                                     "use active: false without duration to switch it off")
        return self

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        return at.lasting(at.kind, {"active": self.active}, self.duration)  # the channel named after the kind


class _Shaped(_Lasting):
    scale: Scale | None = Field(None, description="factor (1 = the household model as it is)")
    shape: dict[str, Scale] | None = Field(None, description="daily factors by time of day 'HH:MM' (held until "
                                                             "the next point), from `at` on for `days` days")
    days: Annotated[int, Field(ge=1)] | None = Field(None, description="days a shape runs (default: to the end)")

    def _check_shape(self, where: str, what: str) -> None:
        if self.shape is None:
            if self.days is not None:
                raise _problem("days", "applies only to a shape")
            if self.scale is None and getattr(self, "extra_w", None) is None:
                raise _problem(where, f"give {what} (or a shape)")
            return
        if self.scale is not None:
            raise _problem("scale", "a shape gives the factors itself; drop scale")
        if self.duration is not None:
            raise _problem("duration", "a shape runs for `days` days; drop duration")
        if self.repeat is not None:
            raise _problem("repeat", "a shape repeats daily by itself; use days")
        if not self.shape:
            raise _problem("shape", "needs at least one point, e.g. {'00:00': 1.0}")
        for key in self.shape:
            if not _CLOCK.match(key):
                raise _problem("shape", f"{key!r} is not a time of day HH:MM[:SS] (quote it in YAML)")

    def points(self) -> list[tuple[int, float]]:
        """The shape as (second of the day, factor), in time order."""
        out = []
        for key, value in (self.shape or {}).items():
            h, m, s = _CLOCK.match(key).groups()  # type: ignore[union-attr]  # checked in validation
            out.append(((int(h) * 60 + int(m)) * 60 + int(s or 0), value))
        return sorted(out)

    def extra(self) -> dict[str, Any]:
        """Values the channel takes besides the scale (a load's extra_w)."""
        return {}

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        channel, extra = at.kind, self.extra()
        if self.shape is None:
            yield from at.lasting(channel, {**({"scale": self.scale} if self.scale is not None else {}), **extra},
                                  self.duration)
            return
        points = self.points()
        if self.days is not None:
            days = self.days
        elif at.end is not None:
            days = max(1, math.ceil((at.end - at.t) / DAY_S))
        else:
            raise ScenarioError([f"events[{at.index}].days: needed when the run's end is not known"])
        if points[0][0] > 0:  # before the first point of the day the last one holds (the shape is cyclic)
            yield at.change(channel, {"scale": points[-1][1], **extra}, layer=True)
        for day in range(days):
            for second, value in points:
                yield at.change(channel, {"scale": value, **extra}, at=at.t + day * DAY_S + second, layer=True)
        yield at.change(channel, {}, at=at.t + days * DAY_S, remove=True)


class LoadEvent(_Shaped):
    """Household consumption × scale plus a constant extra load (W, spread over the 3 phases)."""

    kind: Literal["load"]
    extra_w: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _check(self) -> LoadEvent:
        self._check_shape("scale", "scale and/or extra_w")
        return self

    def extra(self) -> dict[str, Any]:
        return {"extra_w": self.extra_w} if self.extra_w is not None else {}


class PvEvent(_Shaped):
    """PV production × scale (0 = none, e.g. snow on the panels)."""

    kind: Literal["pv"]

    @model_validator(mode="after")
    def _check(self) -> PvEvent:
        self._check_shape("scale", "scale")
        return self


class VoltageEvent(_Lasting):
    """Force a phase voltage (null = back to the grid model)."""

    kind: Literal["voltage"]
    phase: Phase
    volts: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None

    @model_validator(mode="after")
    def _check(self) -> VoltageEvent:
        if self.volts is None and self.duration is not None:
            raise _problem("volts", "a value is needed with a duration (null means back to the grid)")
        return self

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        for phase in _phases(self.phase):
            yield from at.lasting(f"voltage{phase}", {"volts": self.volts}, self.duration)


class _Dip(_Event):
    phase: Phase
    depth_v: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = Field(description="deviation from Un = 230 V")
    duration: Millis = Field(description="≤ 1 s: a sub-second event for the sag/swell counters; longer: whole "
                                         "seconds of forced voltage (a single-value deviation)")

    @model_validator(mode="after")
    def _check_dip(self) -> _Dip:
        if self.duration > SUB_SECOND_MAX_MS and self.duration % 1000:
            raise _problem("duration", f"above 1 s it must be whole seconds, got {self.duration / 1000:g} s")
        return self

    def residual_v(self) -> float:
        """The voltage a dip of whole seconds holds the phase at."""
        raise NotImplementedError

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        for phase in _phases(self.phase):
            if self.duration <= SUB_SECOND_MAX_MS:
                yield at.call("voltage_event", at.kind, phase, float(self.duration), self.depth_v)
            else:
                yield from at.lasting(f"voltage{phase}", {"volts": self.residual_v()}, self.duration // 1000)


class SagEvent(_Dip):
    kind: Literal["sag"]

    @model_validator(mode="after")
    def _check(self) -> SagEvent:
        if self.depth_v > NOMINAL_V:
            raise _problem("depth_v", f"a sag cannot go below 0 V (depth ≤ {NOMINAL_V:g} V)")
        return self

    def residual_v(self) -> float:
        return NOMINAL_V - self.depth_v


class SwellEvent(_Dip):
    kind: Literal["swell"]

    def residual_v(self) -> float:
        return NOMINAL_V + self.depth_v


class OutageEvent(_Toggle):
    """All-phase power cut."""

    kind: Literal["outage"]


class NeutralLossEvent(_Toggle):
    """Broken neutral: the star point shifts with the phase loads."""

    kind: Literal["neutral_loss"]


class TamperEvent(_Toggle):
    kind: Literal["tamper"]
    detector: Literal["magnetic", "cover"]

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        return at.lasting(f"tamper_{self.detector}", {"active": self.active}, self.duration)


class ButtonEvent(_Event):
    """short: a press of the push button (display scroll); hold: the 6-s hold on the disconnect item."""

    kind: Literal["button"]
    press: Literal["short", "hold"] = "short"
    presses: Annotated[int, Field(ge=1, le=100)] = 1

    @model_validator(mode="after")
    def _check(self) -> ButtonEvent:
        if self.press == "hold" and self.presses != 1:
            raise _problem("presses", "a hold is one action; use repeat for more")
        return self

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        if self.press == "hold":
            yield at.call("breaker_command", "push_button")
            return
        for _ in range(self.presses):
            yield at.call("press_button")


class TopUpEvent(_Event):
    kind: Literal["top_up"]
    amount: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = Field(description="in the prepayment unit")

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        yield at.call("top_up", self.amount)


class ModuleInputsEvent(_Lasting):
    """230 V on the module's I/O1 / I/O2 inputs (true) or not (false); a port left out keeps its value. The ports
    are tariff or alarm inputs as Z3 says."""

    kind: Literal["module_inputs"]
    port1: bool | None = None
    port2: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> ModuleInputsEvent:
        if self.port1 is None and self.port2 is None:
            raise _problem("port1", "give port1 and/or port2")
        return self

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        ports = {k: v for k, v in (("port1", self.port1), ("port2", self.port2)) if v is not None}
        return at.lasting("module_inputs", ports, self.duration)


class PulsesEvent(_Event):
    kind: Literal["pulses"]
    pulses: Annotated[int, Field(ge=1)]

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        yield at.call("pulse_input", self.pulses)


class SetTimeEvent(_Event):
    """Set the meter's clock: to an absolute time, or shifted from the true time by `shift` ("+90s", "-1h")."""

    kind: Literal["set_time"]
    to: Instant | None = None
    shift: SignedSeconds | None = None

    @model_validator(mode="after")
    def _check(self) -> SetTimeEvent:
        if (self.to is None) == (self.shift is None):
            raise _problem("to", "give either to (an ISO time) or shift (e.g. '+90s')")
        return self

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        yield at.call("set_time", float(self.to if self.to is not None else at.t + (self.shift or 0)))


class DebitingStopEvent(_Event):
    kind: Literal["debiting_stop"]

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        yield at.call("debiting_stop", "command")


class TariffEvent(_Lasting):
    """Tariff command (null = back to automatic)."""

    kind: Literal["tariff"]
    tariff: Annotated[int, Field(ge=1, le=MAX_TARIFF)] | None

    @model_validator(mode="after")
    def _check(self) -> TariffEvent:
        if self.tariff is None and self.duration is not None:
            raise _problem("tariff", "a tariff is needed with a duration (null means automatic)")
        return self

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        return at.lasting("tariff", {"tariff": self.tariff}, self.duration)


class BreakerEvent(_Event):
    """A remote breaker command."""

    kind: Literal["breaker"]
    action: Literal["connect", "disconnect", "release"]

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        yield at.call("breaker_command", self.action)


class EmergencyCreditEvent(_Event):
    """Prepayment: the consumer (or head-end) asks for emergency supply after the credit ran out."""

    kind: Literal["emergency_credit"]

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        yield at.call("request_emergency")


class TamperReleaseEvent(_Event):
    """Head-end release of a latched tamper indication (all detectors when none is named)."""

    kind: Literal["tamper_release"]
    detector: Literal["magnetic", "cover"] | None = None

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        yield at.call("tamper_release", self.detector)


class LoadControlEvent(_Event):
    """Switch a load-control relay by remote command."""

    kind: Literal["load_control"]
    relay: Literal[1, 2]
    state: Literal["on", "off"]

    def edges(self, at: _Occurrence) -> Iterator[_Edge]:
        yield at.call("load_control_command", self.relay, self.state)


Event = Annotated[
    LoadEvent | PvEvent | VoltageEvent | SagEvent | SwellEvent | OutageEvent | NeutralLossEvent | TamperEvent
    | ButtonEvent | TopUpEvent | ModuleInputsEvent | PulsesEvent | SetTimeEvent | DebitingStopEvent | TariffEvent
    | BreakerEvent | EmergencyCreditEvent | TamperReleaseEvent | LoadControlEvent,
    Field(discriminator="kind"),
]
EVENT_MODELS: tuple[type[_Event], ...] = get_args(get_args(Event)[0])
KINDS: tuple[str, ...] = tuple(get_args(m.model_fields["kind"].annotation)[0] for m in EVENT_MODELS)


class ScenarioInfo(_Model):
    name: str = "unnamed"
    description: str = ""


class Scenario(_Model):
    scenario: ScenarioInfo = ScenarioInfo()
    events: list[Event] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _ignore_meters(cls, data: Any) -> Any:
        # A scenario file may carry the `meters` list too, so that one file serves --config and --scenario.
        if isinstance(data, dict) and "meters" in data:
            data = {k: v for k, v in data.items() if k != "meters"}
        return data

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """Validate YAML text; raises ScenarioError naming each problem's place."""
        try:
            doc = yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects
        except yaml.YAMLError as exc:
            raise ScenarioError([f"not valid YAML: {exc}"]) from None
        return cls.from_dict(doc if doc is not None else {})

    @classmethod
    def from_dict(cls, doc: Any) -> Scenario:
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            raise ScenarioError([_format(e) for e in exc.errors()]) from None

    @classmethod
    def load(cls, path: Path) -> Scenario:
        return cls.parse(path.read_text(encoding="utf-8"))

    def timeline(self, start: float, end: float | None = None) -> list[Action]:
        """The meter calls of this scenario for a run from `start` to `end` (UTC s): sorted by time, file order
        at equal times, only t < end. Raises ScenarioError for an event before the start, or for an open-ended
        repeat or shape when `end` is None."""
        return _resolve(self, int(start), end)


# --- YAML: times of day stay strings --------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads 17:00 as the base-60 integer 1020 and turns ISO times into datetimes; here both stay
    strings (parsed by the scenario itself), so "at: 17:00" and shape keys mean what they say."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def _format(error: Any) -> str:
    """"events[3].phase: reason" from a pydantic error (the discriminator's tag left out of the place)."""
    loc: tuple[Any, ...] = tuple(error["loc"])
    msg = str(error["msg"]).removeprefix("Value error, ")
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif i == 2 and loc[0] == "events" and part in KINDS:
            continue
        else:
            parts.append(("." if parts else "") + str(part))
    kind = error["type"]
    if kind == "union_tag_invalid":
        msg = f"{error['ctx']['tag']!r} is not one of {', '.join(KINDS)}"
        parts.append(".kind")
    elif kind == "extra_forbidden":
        event_kind = loc[2] if len(loc) > 2 and loc[0] == "events" and loc[2] in KINDS else None
        msg = f"unknown key{f' for kind {event_kind}' if event_kind else ''}"
    elif kind == "union_tag_not_found":
        msg = f"missing (one of {', '.join(KINDS)})"
        parts.append(".kind")
    elif (m := re.match(r"^([a-z_0-9]+): (.*)$", msg, re.S)) and loc and loc[-1] in KINDS:
        parts.append(f".{m.group(1)}")
        msg = m.group(2)
    return f"{''.join(parts) or 'scenario'}: {msg}"


# --- the timeline ---------------------------------------------------------------------------------------------------
# The Meter methods a scenario drives, with their parameters in call order.
CALLS: dict[str, tuple[str, ...]] = {
    "set_load": ("scale", "extra_w"),
    "set_pv": ("scale",),
    "set_phase_voltage": ("phase", "volts"),
    "set_outage": ("active",),
    "set_neutral_loss": ("active",),
    "voltage_event": ("kind", "phase", "duration_ms", "depth_v"),
    "set_tamper": ("detector", "active"),
    "press_button": (),
    "breaker_command": ("action",),
    "top_up": ("amount",),
    "set_module_inputs": ("port1", "port2"),
    "pulse_input": ("pulses",),
    "set_time": ("t",),
    "debiting_stop": ("reason",),
    "set_tariff": ("tariff",),
    "request_emergency": (),
    "tamper_release": ("detector",),
    "load_control_command": ("relay", "state"),
}


@dataclass(frozen=True, slots=True)
class Action:
    """One meter call at time t (UTC s), made for events[event]."""

    t: int
    event: int
    kind: str
    call: str
    args: tuple[Any, ...] = ()
    note: str | None = None

    @property
    def named_args(self) -> dict[str, Any]:
        return dict(zip(CALLS[self.call], self.args, strict=True))

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.named_args.items())
        return f"{self.call}({args})"


class _Field:
    """One value of a channel: a base and layers. mode "latest": the layer started last wins; "product" /
    "sum": the base and every layer combine."""

    def __init__(self, mode: Literal["latest", "product", "sum"], base: Any) -> None:
        self.mode = mode
        self.base = base
        self.layers: dict[tuple[int, int], Any] = {}  # insertion order = start order

    def value(self) -> Any:
        if self.mode == "latest":
            return next(reversed(self.layers.values())) if self.layers else self.base
        if self.mode == "product":
            return math.prod(self.layers.values(), start=self.base)
        return sum(self.layers.values(), start=self.base)


@dataclass(slots=True)
class _Channel:
    call: str
    fixed: tuple[Any, ...]  # leading arguments (phase, detector)
    fields: dict[str, _Field]

    def args(self) -> tuple[Any, ...]:
        return (*self.fixed, *(f.value() for f in self.fields.values()))


def _channels() -> dict[str, _Channel]:
    """Every channel with the value the meter starts with (no override, household and PV as modelled)."""
    channels = {
        "load": _Channel("set_load", (), {"scale": _Field("product", 1.0), "extra_w": _Field("sum", 0.0)}),
        "pv": _Channel("set_pv", (), {"scale": _Field("product", 1.0)}),
        "outage": _Channel("set_outage", (), {"active": _Field("latest", False)}),
        "neutral_loss": _Channel("set_neutral_loss", (), {"active": _Field("latest", False)}),
        # (inferred) the module's tariff inputs start without 230 V
        "module_inputs": _Channel("set_module_inputs", (), {"port1": _Field("latest", False),
                                                             "port2": _Field("latest", False)}),
        "tariff": _Channel("set_tariff", (), {"tariff": _Field("latest", None)}),
    }
    for phase in (1, 2, 3):
        channels[f"voltage{phase}"] = _Channel("set_phase_voltage", (phase,), {"volts": _Field("latest", None)})
    for detector in ("magnetic", "cover"):
        channels[f"tamper_{detector}"] = _Channel("set_tamper", (detector,), {"active": _Field("latest", False)})
    return channels


def _occurrences(index: int, event: Any, start: int, end: float | None) -> Iterator[int]:
    first = start + event.at.seconds if isinstance(event.at, Offset) else event.at.t
    if first < start:
        stamp = datetime.fromtimestamp(first, UTC).isoformat()
        raise ScenarioError([f"events[{index}].at: {stamp} is before the start of the run "
                             f"({datetime.fromtimestamp(start, UTC).isoformat()})"])
    repeat: Repeat | None = event.repeat
    if repeat is None:
        yield first
        return
    if repeat.count is None and end is None:
        raise ScenarioError([f"events[{index}].repeat.count: needed when the run's end is not known"])
    k = 0
    while repeat.count is None or k < repeat.count:
        t = first + k * repeat.every
        if end is not None and t >= end:
            return
        yield t
        k += 1


def _resolve(scenario: Scenario, start: int, end: float | None) -> list[Action]:
    edges: list[tuple[int, int, int, _Edge]] = []  # (t, event index, generation order, edge)
    for index, event in enumerate(scenario.events):
        for occurrence, t in enumerate(_occurrences(index, event, start, end)):
            for edge in event.edges(_Occurrence(index, event.kind, event.note, t, occurrence, end)):
                if end is None or edge.t < end:
                    edges.append((edge.t, index, len(edges), edge))
    edges.sort(key=lambda e: e[:3])
    channels = _channels()
    applied = {name: ch.args() for name, ch in channels.items()}
    actions: list[Action] = []
    i = 0
    while i < len(edges):
        # All edges at one time: apply them in order, then call the meter once per channel that changed,
        # at the place of the channel's last edge at that time.
        t = edges[i][0]
        group: list[_Edge] = []
        while i < len(edges) and edges[i][0] == t:
            group.append(edges[i][3])
            i += 1
        last = {edge.channel: n for n, edge in enumerate(group) if edge.call is None}
        for n, edge in enumerate(group):
            if edge.call is not None:
                actions.append(Action(t, edge.event, edge.kind, edge.call, edge.args, edge.note))
                continue
            channel = channels[edge.channel]
            for name, f in channel.fields.items():
                if edge.layer is None:
                    if name in edge.values:
                        f.base = edge.values[name]
                elif edge.remove:
                    f.layers.pop(edge.layer, None)
                elif name in edge.values:
                    f.layers[edge.layer] = edge.values[name]
            if last[edge.channel] == n and (args := channel.args()) != applied[edge.channel]:
                applied[edge.channel] = args
                actions.append(Action(t, edge.event, edge.kind, channel.call, args, edge.note))
    return actions


# --- running --------------------------------------------------------------------------------------------------------
class ScenarioTarget(Protocol):
    """What a scenario drives: the simulated Meter (meter_sim/meter.py)."""

    @property
    def t(self) -> int:
        """The meter's clock (UTC s): the true time plus `clock_offset`."""

    @property
    def clock_offset(self) -> int:
        """Meter clock − true time, changed by set_time."""

    def advance_to(self, t: float, /) -> None: ...
    def set_load(self, scale: float, extra_w: float, /) -> object: ...
    def set_pv(self, scale: float, /) -> object: ...
    def set_phase_voltage(self, phase: int, volts: float | None, /) -> object: ...
    def set_outage(self, active: bool, /) -> object: ...
    def set_neutral_loss(self, active: bool, /) -> object: ...
    def voltage_event(self, kind: Literal["sag", "swell"], phase: int, duration_ms: float, depth_v: float, /
                      ) -> object: ...
    def set_tamper(self, detector: Literal["magnetic", "cover"], active: bool, /) -> object: ...
    def press_button(self) -> object: ...
    def breaker_command(self, action: Literal["connect", "disconnect", "release", "push_button"], /) -> object: ...
    def top_up(self, amount: float, /) -> object: ...
    def set_module_inputs(self, port1: bool, port2: bool, /) -> object: ...
    def pulse_input(self, pulses: int, /) -> object: ...
    def set_time(self, t: float, /) -> object: ...
    def debiting_stop(self, reason: str, /) -> object: ...
    def set_tariff(self, tariff: int | None, /) -> object: ...
    def request_emergency(self) -> object: ...
    def tamper_release(self, detector: str | None = None, /) -> object: ...
    def load_control_command(self, relay: int, state: Literal["on", "off"], /) -> object: ...


# What the meter may refuse: recorded as the event's outcome, the run goes on.
REFUSALS: tuple[type[Exception], ...] = (ValueError, MeterRefused)


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    status: Literal["ok", "error"]
    error: str | None = None
    result: Any = None  # what the meter returned, as JSON (e.g. a sag counted: true; a breaker change)
    meter_t: int | None = None  # the meter's clock at the call (differs from action.t after a set_time)

    def to_json(self, stamp: Callable[[int], str] | None = None) -> dict[str, Any]:
        """`stamp` renders a time (default: UTC ISO 8601). "time" is the true time; "meter_time", present only
        when it differs, the meter's clock, which its loggers use."""
        a = self.action
        render = stamp if stamp is not None else _utc_iso
        out: dict[str, Any] = {"time": render(a.t)}
        if self.meter_t is not None and self.meter_t != a.t:
            out["meter_time"] = render(self.meter_t)
        out.update(event=a.event, kind=a.kind, call=a.call, args=a.named_args, status=self.status)
        if a.note is not None:
            out["note"] = a.note
        if self.error is not None:
            out["error"] = self.error
        if self.result is not None:
            out["result"] = self.result
        return out


def _utc_iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _as_json(value: object) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    return repr(value)


def apply(meter: ScenarioTarget, action: Action) -> Outcome:
    """Make one call on the meter now; a refusal becomes an error outcome."""
    if action.call not in CALLS:
        raise ValueError(f"{action.call!r} is not a scenario call")
    meter_t = meter.t
    try:
        result = getattr(meter, action.call)(*action.args)
    except REFUSALS as exc:
        return Outcome(action, "error", f"{type(exc).__name__}: {exc}", meter_t=meter_t)
    return Outcome(action, "ok", result=_as_json(result), meter_t=meter_t)


def run(
    meter: ScenarioTarget,
    scenario: Scenario | Sequence[Action],
    until: float,
    on_progress: Callable[[int], None] | None = None,
    *,
    start: float | None = None,
    chunk_s: int = 3600,
    step_to: Callable[[Any, float], None] | None = None,
) -> list[Outcome]:
    """Advance the meter to the true time `until`, applying each action at its time once the meter has run up
    to it.

    Times are true time (the injected clock): a `set_time` event moves the meter's own clock (`meter.t`) but not
    the scenario's. `start` anchors offsets ("2d 06:30"), by default the meter's present true time.
    `on_progress(t)` is called with the true time after every chunk of at most `chunk_s` simulated seconds (for a
    progress bar); chunking does not change the results. `step_to(meter, t)` advances the meter to meter time t
    (default `meter.advance_to`; the time-warp engine passes `meter_sim.warp.warp_to`).
    """
    begin = true_time(meter) if start is None else int(start)
    actions = scenario.timeline(begin, until) if isinstance(scenario, Scenario) else list(scenario)
    outcomes: list[Outcome] = []
    for action in actions:
        if action.t >= until:
            break
        if action.t < true_time(meter):
            raise ValueError(f"{action} at {action.t} lies before the meter's present time {true_time(meter)}")
        advance(meter, action.t, on_progress, chunk_s, step_to)
        outcomes.append(apply(meter, action))
    advance(meter, until, on_progress, chunk_s, step_to)
    return outcomes


def true_time(meter: ScenarioTarget) -> int:
    return meter.t - meter.clock_offset


def advance(
    meter: ScenarioTarget, t: float, on_progress: Callable[[int], None] | None = None, chunk_s: int = 3600,
    step_to: Callable[[Any, float], None] | None = None,
) -> None:
    """Run the meter up to the true time t, in chunks of at most chunk_s seconds (with `step_to`, see `run`)."""
    # The meter steps whole seconds; a fractional t stops at the last whole one.
    while (now := true_time(meter)) + 1 <= t:
        to = min(t, now + chunk_s) + meter.clock_offset
        if step_to is None:
            meter.advance_to(to)
        else:
            step_to(meter, to)
        if on_progress is not None:
            on_progress(true_time(meter))
