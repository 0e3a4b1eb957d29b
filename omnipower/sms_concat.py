"""Long texts as concatenated SMS (3GPP TS 23.040 §9.2.3.24.1) and their reassembly.

A text that fits one message (160 GSM 7-bit septets, or 70 UCS2 characters) goes alone, without a header. A longer
one is cut into parts of 153 septets (160 less the 7 septets of a 6-octet header with an 8-bit reference) or 67 UCS2
characters; a cut never separates an escape from its extension character, nor a surrogate pair. GSM 7-bit is chosen
whenever every character has a code in it (TS 23.038), UCS2 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omnipower import gsm7
from omnipower.errors import EncodeError
from omnipower.sms_pdu import MAX_OCTETS, MAX_SEPTETS, Alphabet, Concat, UserData

MAX_PARTS = 255
_HEADER_OCTETS = 6  # UDHL, IEI 00, length 3, reference, total, sequence
GSM7_PART = MAX_SEPTETS - (_HEADER_OCTETS * 8 + 6) // 7  # 153
UCS2_SINGLE = MAX_OCTETS // 2  # 70
UCS2_PART = (MAX_OCTETS - _HEADER_OCTETS) // 2  # 67


def _cuts(units: list[int], limit: int) -> list[list[int]]:
    """`units` (the size of each character) in runs of at most `limit`."""
    runs: list[list[int]] = [[]]
    used = 0
    for i, size in enumerate(units):
        if used + size > limit:
            runs.append([])
            used = 0
        runs[-1].append(i)
        used += size
    return runs


def split_text(text: str, reference: int) -> list[UserData]:
    """The user data of each message `text` needs; `reference` (0–255) marks the parts of one text."""
    if gsm7.is_gsm7(text):
        alphabet = Alphabet.GSM7
        units = [gsm7.septet_length(ch) for ch in text]
        single, part = MAX_SEPTETS, GSM7_PART
    else:
        alphabet = Alphabet.UCS2
        units = [len(gsm7.encode_ucs2(ch)) // 2 for ch in text]  # a surrogate pair is two
        single, part = UCS2_SINGLE, UCS2_PART
    if sum(units) <= single:
        return [UserData(text, alphabet)]
    runs = _cuts(units, part)
    if len(runs) > MAX_PARTS:
        raise EncodeError(f"a text of {len(text)} characters needs {len(runs)} messages; at most {MAX_PARTS}")
    return [UserData("".join(text[i] for i in run), alphabet,
                     header=(Concat(reference, len(runs), n).element(),))
            for n, run in enumerate(runs, start=1)]


@dataclass
class _Pending:
    total: int
    parts: dict[int, str] = field(default_factory=dict)


class Reassembler:
    """Collects the parts of concatenated messages by sender and reference; `add` returns the whole text once its
    last part is in (a message without concatenation comes back at once). A part that disagrees with the others
    about the total starts the collection of that reference afresh (the sender reused it)."""

    def __init__(self, max_pending: int = 64) -> None:
        self._pending: dict[tuple[str, int, bool], _Pending] = {}
        self.max_pending = max_pending

    def add(self, sender: str, user_data: UserData) -> str | None:
        concat = user_data.concat
        if concat is None:
            return user_data.text
        key = (sender, concat.reference, concat.wide)
        pending = self._pending.get(key)
        if pending is None or pending.total != concat.total:
            if len(self._pending) >= self.max_pending:  # the oldest incomplete text gives way
                self._pending.pop(next(iter(self._pending)))
            pending = self._pending[key] = _Pending(concat.total)
        pending.parts[concat.sequence] = user_data.text
        if len(pending.parts) < pending.total:
            return None
        del self._pending[key]
        return "".join(pending.parts[n] for n in range(1, pending.total + 1))

    @property
    def incomplete(self) -> int:
        return len(self._pending)
