"""The values a DLMS client sends the meter, checked for their shape: what a SET, an ACTION's parameters or a selective
access holds, taken apart with the data-access-result the meter answers when it is not what the attribute takes
(`Refusal`: type-unmatched for a wrong shape, other codes where the caller decides)."""

from __future__ import annotations

from pydantic import ValidationError

from meter_sim.refusals import MeterRefused
from omnipower import dlms_apdu as ap
from omnipower.dlms import INTEGER_TYPES, CosemDateTime, Data, DataType
from omnipower.errors import CodecError


class Refusal(MeterRefused):
    """A request the meter answers with a data-access-result: which, and why (for the log)."""

    def __init__(self, result: ap.DataAccessResult, reason: str) -> None:
        super().__init__(reason)
        self.result = result


def items_of(data: Data, what: str) -> tuple[Data, ...]:
    items = data.value
    if not isinstance(items, tuple) or not all(isinstance(item, Data) for item in items):
        raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, f"{what}: a structure or array of data")
    return tuple(item for item in items if isinstance(item, Data))


def structure_of(data: Data, count: int, what: str) -> tuple[Data, ...]:
    items = items_of(data, what) if data.type is DataType.STRUCTURE else ()
    if len(items) != count:
        raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, f"{what}: a structure of {count} elements")
    return items


def unsigned_of(data: Data, what: str, high: int, low: int = 0) -> int:
    value = data.value
    if data.type not in INTEGER_TYPES or not isinstance(value, int) or isinstance(value, bool) \
            or not low <= value <= high:
        raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, f"{what}: an integer {low}–{high}, got {data.to_python()!r}")
    return value


def date_time_of(data: Data, what: str) -> CosemDateTime:
    raw = data.value
    if data.type is not DataType.OCTET_STRING or not isinstance(raw, bytes) or len(raw) != 12:
        raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, f"{what}: a date-time (octet-string of 12)")
    try:
        return CosemDateTime.from_bytes(raw)
    except CodecError as exc:
        raise Refusal(ap.DataAccessResult.TYPE_UNMATCHED, f"{what}: {exc}") from None


def reason_of(exc: Exception) -> str:
    """The first error of a refused configuration, where it is: `tariff_calendar.seasons: …`."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


