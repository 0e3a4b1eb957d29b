"""Security suite 0 for associations (omnipower/dlms_security.py): both ciphered forms round-trip, a wrong key or a
tampered APDU is refused, and the HLS-GMAC proof is the one dlms-cosem computes."""

from __future__ import annotations

import pytest
from dlms_cosem import security as judge
from hypothesis import given
from hypothesis import strategies as st

from omnipower import dlms_apdu as ap
from omnipower.dlms import GENERAL_GLO_CIPHERING, Data, DataType
from omnipower.dlms_security import CIPHERED_TAGS, check_hls_gmac, hls_gmac, protect, unprotect
from omnipower.errors import CodecError, DecryptionError

EK, AK = bytes.fromhex("000102030405060708090a0b0c0d0e0f"), bytes.fromhex("d0d1d2d3d4d5d6d7d8d9dadbdcdddedf")
TITLE = b"KAME\x01\x02\x03\x04"
GET = ap.GetRequestNormal(attribute=ap.AttributeDescriptor(3, bytes((1, 1, 1, 8, 0, 255)), 2)).to_bytes()
ANSWER = ap.GetResponseNormal(result=Data(DataType.DOUBLE_LONG_UNSIGNED, 42)).to_bytes()


@pytest.mark.parametrize("form", [GENERAL_GLO_CIPHERING, 0xC8])
def test_both_forms_round_trip(form: int) -> None:
    ciphered = protect(GET, TITLE, 77, EK, AK, form)
    assert ciphered[0] == form and GET not in ciphered
    plain = unprotect(ciphered, TITLE, EK, AK)
    assert (plain.apdu, plain.invocation_counter, plain.system_title, plain.form) == (GET, 77, TITLE, form)


def test_a_response_takes_its_own_glo_tag() -> None:
    assert protect(ANSWER, TITLE, 1, EK, AK, 0xC8)[0] == 0xCC  # glo-get-response


def test_dlms_cosem_deciphers_our_general_glo_ciphering() -> None:
    ciphered = protect(ANSWER, TITLE, 5, EK, AK, GENERAL_GLO_CIPHERING)
    body = ciphered[2 + 8 + 1 + 5:]  # DB, title length, title, length, SC, counter
    plain = judge.decrypt(judge.SecurityControlField(security_suite=0, authenticated=True, encrypted=True),
                          TITLE, 5, EK, body, AK)
    assert plain == ANSWER


@pytest.mark.parametrize("form", [GENERAL_GLO_CIPHERING, 0xC8])
def test_a_wrong_key_or_a_flipped_bit_is_refused(form: int) -> None:
    ciphered = bytearray(protect(GET, TITLE, 3, EK, AK, form))
    with pytest.raises(DecryptionError):
        unprotect(bytes(ciphered), TITLE, EK, bytes(16))
    ciphered[-5] ^= 1
    with pytest.raises(DecryptionError):
        unprotect(bytes(ciphered), TITLE, EK, AK)


def test_a_service_specific_apdu_needs_the_peer_s_title() -> None:
    with pytest.raises(CodecError, match="system title"):
        unprotect(protect(GET, TITLE, 3, EK, AK, 0xC8), None, EK, AK)
    with pytest.raises(DecryptionError):  # another peer's title: another IV
        unprotect(protect(GET, TITLE, 3, EK, AK, 0xC8), b"KAME\x00\x00\x00\x00", EK, AK)


def test_the_hls_gmac_proof_is_dlms_cosem_s() -> None:
    challenge = bytes.fromhex("4b35366c4c36765a4c6b71394c2d4e67")
    ours = hls_gmac(challenge, TITLE, 0x01020304, EK, AK)
    tag = judge.gmac(judge.SecurityControlField(security_suite=0, authenticated=True, encrypted=False),
                     TITLE, 0x01020304, EK, AK, challenge)
    assert ours == bytes([0x10]) + (0x01020304).to_bytes(4, "big") + tag
    assert check_hls_gmac(ours, challenge, TITLE, EK, AK) == 0x01020304
    with pytest.raises(DecryptionError):
        check_hls_gmac(ours, challenge[::-1], TITLE, EK, AK)
    with pytest.raises(DecryptionError):
        check_hls_gmac(ours, challenge, b"KAME\x00\x00\x00\x00", EK, AK)


@given(st.binary(max_size=80))
def test_garbage_is_refused_with_a_codec_error(data: bytes) -> None:
    for candidate in (data, bytes([GENERAL_GLO_CIPHERING]) + data, bytes([0xC8]) + data):
        if not candidate or candidate[0] not in CIPHERED_TAGS:
            continue
        with pytest.raises(CodecError):  # DecryptionError is one
            unprotect(candidate, TITLE, EK, AK)
