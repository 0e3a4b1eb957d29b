"""What every streaming reader keeps between `feed()` calls: the bytes of an unfinished frame and
the errors of the frames it rejected (a reader never raises on bad input; see `take_errors`)."""

from __future__ import annotations

from collections import deque

from omnipower.errors import CodecError


class StreamBuffer:
    def __init__(self, *, max_errors: int = 64) -> None:
        self._buf = bytearray()
        self._errors: deque[CodecError] = deque(maxlen=max_errors)
        self.discarded = 0  # bytes that belonged to no returned frame

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def take_errors(self) -> list[CodecError]:
        """The errors of the frames rejected since the last call (the newest `max_errors`)."""
        errors = list(self._errors)
        self._errors.clear()
        return errors
