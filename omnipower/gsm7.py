"""The GSM 7-bit default alphabet and its packing (3GPP TS 23.038 §6.1.2, §6.2.1), and UCS2 (§6.2.3).

The basic table maps the 128 septet codes to characters; the extension table holds the characters reached through
the escape code 0x1B (one extra septet each: `{`, `}`, `€` …). Packing puts septets into octets least significant bit
first; `fill_bits` leaves the first bits free so that the text starts on a septet boundary after a user data header
(TS 23.040 §9.2.3.24). UCS2 is UTF-16 big-endian: characters beyond the Basic Multilingual Plane take a surrogate
pair, as every phone of today sends them.
"""

from __future__ import annotations

from omnipower.errors import EncodeError, LengthError, UnknownTagError

ESCAPE = 0x1B
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
             0x40: "|", 0x65: "€"}
assert len(BASIC) == 128, "the basic table has 128 codes"

_BASIC_CODE = {ch: code for code, ch in enumerate(BASIC) if code != ESCAPE}
_EXTENSION_CODE = {ch: code for code, ch in EXTENSION.items()}


def septets(text: str) -> list[int]:
    """The septet codes of `text`; a character of neither table raises EncodeError."""
    out: list[int] = []
    for i, ch in enumerate(text):
        code = _BASIC_CODE.get(ch)
        if code is not None:
            out.append(code)
        elif ch in _EXTENSION_CODE:
            out += (ESCAPE, _EXTENSION_CODE[ch])
        else:
            raise EncodeError(f"character {ch!r} at position {i} is not in the GSM 7-bit default alphabet")
    return out


def is_gsm7(text: str) -> bool:
    return all(ch in _BASIC_CODE or ch in _EXTENSION_CODE for ch in text)


def septet_length(text: str) -> int:
    """Septets `text` takes (an extension character counts two)."""
    return sum(2 if ch in _EXTENSION_CODE else 1 for ch in text)


def text_of(codes: list[int] | bytes) -> str:
    """Characters of septet codes. An escape followed by a code the extension table lacks shows the basic character
    (TS 23.038 §6.2.1.1: the receiver displays the basic table's character); a trailing lone escape shows a space."""
    out: list[str] = []
    escaped = False
    for code in codes:
        if not 0 <= code < 128:
            raise UnknownTagError(f"septet value {code} is outside 0–127")
        if escaped:
            out.append(EXTENSION.get(code, BASIC[code] if code != ESCAPE else " "))
            escaped = False
        elif code == ESCAPE:
            escaped = True
        else:
            out.append(BASIC[code])
    if escaped:
        out.append(" ")
    return "".join(out)


def pack(codes: list[int], fill_bits: int = 0) -> bytes:
    """Septets packed into octets, least significant bit first, after `fill_bits` zero bits (0–6)."""
    if not 0 <= fill_bits <= 6:
        raise EncodeError(f"fill_bits must be 0–6, got {fill_bits}")
    acc = 0
    nbits = fill_bits
    out = bytearray()
    for code in codes:
        if not 0 <= code < 128:
            raise EncodeError(f"septet value {code} is outside 0–127")
        acc |= code << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """`count` septets from packed `data` after `fill_bits` bits; LengthError when the octets are too few."""
    needed = (fill_bits + 7 * count + 7) // 8
    if len(data) < needed:
        raise LengthError(f"{count} septets need {needed} octets, got {len(data)}")
    value = int.from_bytes(data[:needed], "little")
    return [(value >> (fill_bits + 7 * i)) & 0x7F for i in range(count)]


def encode_ucs2(text: str) -> bytes:
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise EncodeError(f"character {text[exc.start]!r} at position {exc.start} cannot be sent in UCS2") from None


def decode_ucs2(data: bytes) -> str:
    """UTF-16 big-endian; an odd length or an unpaired surrogate raises (TS 23.038 §6.2.3: two octets a character)."""
    if len(data) % 2:
        raise LengthError(f"UCS2 data has an odd length ({len(data)} octets)")
    try:
        return data.decode("utf-16-be")
    except UnicodeDecodeError as exc:
        raise UnknownTagError(f"UCS2 data is not valid UTF-16: {exc.reason} at octet {exc.start}") from None
