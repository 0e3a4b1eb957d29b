"""What a power-quality step returns: log entries and breaker requests (`PqEvent`), their types and their
voltage-quality log codes (§7.4), and the shared empty result of a quiet second."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn, Self, SupportsIndex

MEAN_UNDER: Final = "mean_under"
MEAN_OVER: Final = "mean_over"
SV_MIN_START: Final = "sv_min_start"
SV_MIN_PEAK: Final = "sv_min_peak"
SV_MIN_STOP: Final = "sv_min_stop"
SV_MAX_START: Final = "sv_max_start"
SV_MAX_PEAK: Final = "sv_max_peak"
SV_MAX_STOP: Final = "sv_max_stop"
OUTAGE_START: Final = "outage_start"
OUTAGE_END: Final = "outage_end"
NEUTRAL_FAULT_START: Final = "neutral_fault_start"
NEUTRAL_FAULT_END: Final = "neutral_fault_end"
ACTION: Final = "action"
EVENT_TYPES: Final = (
    MEAN_UNDER, MEAN_OVER, SV_MIN_START, SV_MIN_PEAK, SV_MIN_STOP, SV_MAX_START, SV_MAX_PEAK, SV_MAX_STOP,
    OUTAGE_START, OUTAGE_END, NEUTRAL_FAULT_START, NEUTRAL_FAULT_END, ACTION,
)
# Voltage-quality logger codes (§7.4; 4 and 5 inferred).
VQ_CODE: Final[dict[str, int]] = {
    MEAN_UNDER: 0, MEAN_OVER: 1, SV_MIN_PEAK: 2, SV_MAX_PEAK: 3, OUTAGE_START: 4, OUTAGE_END: 5,
    SV_MIN_START: 6, SV_MIN_STOP: 7, SV_MAX_START: 8, SV_MAX_STOP: 9,
}


@dataclass(frozen=True, slots=True)
class PqEvent:
    """One log entry or breaker request. `t` is the entry's time stamp (UTC s); phase 0 = not phase-specific."""

    t: int
    type: str
    phase: int
    detail: dict[str, Any] = field(default_factory=dict)


class _NoEvents(list[PqEvent]):
    """The shared, read-only empty result of a quiet step (saves an allocation per second)."""

    def _refuse(self, *_: object) -> NoReturn:
        raise TypeError("the empty result of PowerQuality.step() is shared and read-only; copy it with list() first")

    def append(self, item: PqEvent) -> None:
        self._refuse()

    def extend(self, items: Any) -> None:
        self._refuse()

    def insert(self, index: Any, item: PqEvent) -> None:
        self._refuse()

    def __setitem__(self, key: Any, value: Any) -> None:
        self._refuse()

    def __delitem__(self, key: Any) -> None:
        self._refuse()

    # typeshed's list.__iadd__ itself fails mypy's __add__ consistency check; the signature is list's own.
    def __iadd__(self, other: Iterable[PqEvent]) -> Self:  # type: ignore[override,misc]
        self._refuse()

    def __imul__(self, other: SupportsIndex) -> Self:
        self._refuse()


NO_EVENTS: Final[list[PqEvent]] = _NoEvents()
