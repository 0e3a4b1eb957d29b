"""DLMS security suite 0 for associations (Green Book §9.2.7, §9.2.4.8): the ciphered forms of xDLMS APDUs and the
HLS-GMAC authentication, over the AES-GCM of `omnipower.dlms` (`encrypt_glo` / `decrypt_glo`). Sans-IO.

Two ciphered forms carry the same `SC | invocation counter | ciphertext | tag`:
- **general-glo-ciphering** (DB): the sender's system title travels with it (dlms-cosem sends this form);
- **service-specific glo** (glo-initiate 21/28, glo-get C8/CC, glo-set C9/CD, glo-action CB/CF): the system title is
  the one exchanged in the AARQ/AARE (Gurux's default).
A server answers in the form it was asked in.

HLS-GMAC (mechanism 5): each side proves the key by returning `f(challenge) = SC 0x10 | IC | GMAC(SC | AK | challenge)`
under IV = its own system title | IC, the client in the ACTION reply_to_HLS_authentication, the server in its answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from omnipower.dlms import (
    GENERAL_GLO_CIPHERING,
    SC_AUTHENTICATED,
    SC_ENCRYPTED,
    TAG_LENGTH,
    _encode_length,
    decrypt_glo,
    encrypt_glo,
    parse_glo,
)
from omnipower.errors import CodecError, DecryptionError, LengthError, TruncatedError

SC_AUTHENTICATED_ENCRYPTED = SC_AUTHENTICATED | SC_ENCRYPTED
# The service-specific glo tag of each plain xDLMS tag (and back)
GLO_TAGS = {0x01: 0x21, 0x08: 0x28, 0xC0: 0xC8, 0xC1: 0xC9, 0xC3: 0xCB, 0xC4: 0xCC, 0xC5: 0xCD, 0xC7: 0xCF}
PLAIN_TAGS = {glo: plain for plain, glo in GLO_TAGS.items()}
CIPHERED_TAGS = frozenset({GENERAL_GLO_CIPHERING, *PLAIN_TAGS})


@dataclass(frozen=True, slots=True)
class Unprotected:
    """A deciphered APDU: the plaintext, its sender's invocation counter and system title, and the form it came in
    (the DB tag, or the service-specific glo tag)."""

    apdu: bytes
    invocation_counter: int
    system_title: bytes
    form: int


def protect(apdu: bytes, system_title: bytes, invocation_counter: int, ek: bytes, ak: bytes, form: int) -> bytes:
    """`apdu` ciphered (authenticated and encrypted) in `form`: GENERAL_GLO_CIPHERING, or any service-specific glo
    tag (the plain APDU's own glo tag is used)."""
    general = encrypt_glo(apdu, system_title, invocation_counter, ek, ak, security_control=SC_AUTHENTICATED_ENCRYPTED)
    if form == GENERAL_GLO_CIPHERING:
        return general
    envelope = parse_glo(general)
    payload = bytes([envelope.security_control]) + envelope.frame_counter.to_bytes(4, "big") + envelope.content
    tag = GLO_TAGS.get(apdu[0]) if apdu else None
    if tag is None:
        raise CodecError(f"APDU tag {apdu[:1].hex() or 'none'} has no service-specific glo form")
    return bytes([tag]) + _encode_length(len(payload)) + payload


def unprotect(apdu: bytes, peer_title: bytes | None, ek: bytes, ak: bytes) -> Unprotected:
    """Decipher a ciphered APDU; a service-specific one with `peer_title` (the system title of the association's
    peer). Raises DecryptionError for a wrong key or a tampered APDU, CodecError for a malformed one."""
    if not apdu:
        raise TruncatedError("empty APDU")
    form = apdu[0]
    if form == GENERAL_GLO_CIPHERING:
        message = decrypt_glo(apdu, ek, ak)
        return Unprotected(message.apdu, message.frame_counter, message.system_title, form)
    if form not in PLAIN_TAGS:
        raise CodecError(f"APDU tag {form:02X} is not a ciphered form")
    if peer_title is None or len(peer_title) != 8:
        raise CodecError("a service-specific ciphered APDU needs the peer's system title from the association")
    length, pos = _length(apdu, 1)
    if pos + length != len(apdu):
        raise LengthError(f"ciphered APDU announces {length} bytes, {len(apdu) - pos} present")
    payload = apdu[pos:]
    general = bytes([GENERAL_GLO_CIPHERING, 8]) + peer_title + _encode_length(len(payload)) + payload
    message = decrypt_glo(general, ek, ak)
    if message.security_control & SC_AUTHENTICATED_ENCRYPTED != SC_AUTHENTICATED_ENCRYPTED:
        raise DecryptionError("an association's APDUs must be authenticated and encrypted (SC 30)")
    return Unprotected(message.apdu, message.frame_counter, peer_title, form)


def _length(apdu: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(apdu):
        raise TruncatedError("ciphered APDU ends before its length")
    first = apdu[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or size > 2 or pos + 1 + size > len(apdu):
        raise LengthError("ciphered APDU length is malformed")
    return int.from_bytes(apdu[pos + 1:pos + 1 + size], "big"), pos + 1 + size


def hls_gmac(challenge: bytes, system_title: bytes, invocation_counter: int, ek: bytes, ak: bytes) -> bytes:
    """f(challenge) = SC 10 | IC | GMAC tag, the proof a side sends of the other side's challenge."""
    authenticated = encrypt_glo(challenge, system_title, invocation_counter, ek, ak,
                                security_control=SC_AUTHENTICATED)
    tag = authenticated[-TAG_LENGTH:]
    return bytes([SC_AUTHENTICATED]) + invocation_counter.to_bytes(4, "big") + tag


def check_hls_gmac(proof: bytes, challenge: bytes, system_title: bytes, ek: bytes, ak: bytes) -> int:
    """The invocation counter of a valid f(challenge) from the side whose system title is `system_title`; raises
    DecryptionError when it does not prove the key."""
    if len(proof) != 5 + TAG_LENGTH or proof[0] != SC_AUTHENTICATED:
        raise DecryptionError(f"an HLS-GMAC proof is SC 10, a counter and a {TAG_LENGTH}-byte tag")
    counter = int.from_bytes(proof[1:5], "big")
    if hls_gmac(challenge, system_title, counter, ek, ak) != proof:
        raise DecryptionError("the HLS-GMAC proof does not verify (wrong key, or not this challenge)")
    return counter
