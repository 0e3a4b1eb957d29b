"""The Modbus register map: stable addresses, every reading mapped, exact round trips."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from omnipower.errors import CodecError, EncodeError, LengthError, UnknownTagError
from omnipower.modbus_map import (
    COIL_LOAD_CONTROL,
    FEATURE_BITS,
    FEATURES_ADDRESS,
    INPUT_BY_KEY,
    INPUT_COUNT,
    INPUT_KEYS,
    READINGS_COUNT,
    TIME_ADDRESS,
    Features,
    decode_features,
    decode_inputs,
    encode_features,
    encode_inputs,
    from_words,
    input_image,
    read_blocks,
    to_words,
)
from omnipower.registers import REGISTERS, Kind


def test_every_reading_has_an_address_and_addresses_are_stable() -> None:
    # every reading is an input register, except the load-control relays, which are coils 1 and 2
    assert set(INPUT_KEYS) | set(COIL_LOAD_CONTROL.values()) == {r.key for r in REGISTERS}
    assert not set(INPUT_KEYS) & set(COIL_LOAD_CONTROL.values())
    assert len(INPUT_KEYS) == len(set(INPUT_KEYS))
    # Published addresses (docs and users' configurations depend on these): append-only.
    assert (INPUT_BY_KEY["a_plus"].address, INPUT_BY_KEY["a_minus"].address) == (0, 2)
    assert INPUT_BY_KEY["a_plus_t1"].address == 0x14 and INPUT_BY_KEY["a_plus_l1"].address == 0x34
    assert INPUT_BY_KEY["p_plus"].address == 0x40 and INPUT_BY_KEY["u_l1"].address == 0x74
    assert INPUT_BY_KEY["breaker"].address == 0x90 and TIME_ADDRESS == 0x92
    assert INPUT_BY_KEY["p_minus_max"].address == 0x96 and INPUT_BY_KEY["debiting_periods"].address == 0xD0
    assert INPUT_BY_KEY["prepayment_state"].address == 0xE8
    # The meter's functions follow the last reading: function bits at 0xEA, energy type at 0xEC.
    assert (READINGS_COUNT, FEATURES_ADDRESS, INPUT_COUNT) == (0xEA, 0xEA, 0xEE)
    assert FEATURE_BITS[:7] == ("breaker", "load_control", "tariff_command", "s0_output", "pulse_input",
                                "prepayment", "current_thd")
    # A master's poll of the readings stops before them (they are read, and checked, on their own).
    blocks = read_blocks()
    assert blocks[0][0] == 0 and sum(count for _, count in blocks) == 0xEA


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_int32_words_round_trip(value: int) -> None:
    high, low = to_words(value)
    assert 0 <= high <= 0xFFFF and 0 <= low <= 0xFFFF
    assert from_words(high, low) == value


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(EncodeError):
        to_words(2**31)
    with pytest.raises(CodecError):
        from_words(0x10000, 0)
    with pytest.raises(EncodeError, match="breaker"):
        encode_inputs({"breaker": "open"})
    with pytest.raises(CodecError, match="pairs"):
        decode_inputs([0, 0, 0], 0)
    with pytest.raises(CodecError, match="beyond the map"):
        decode_inputs([0, 0], INPUT_COUNT)
    with pytest.raises(LengthError, match="0x00EA is not a reading: 0x00EA–0x00ED name the meter's functions"):
        decode_inputs([0, 0], FEATURES_ADDRESS)


def test_function_words_as_the_docs_give_them() -> None:
    # bit 0 breaker + bit 4 pulse input = 0x11; energy type 4 in the next pair; high words first
    assert encode_features(Features(frozenset({"breaker", "pulse_input"}), 4)) == [0, 0x11, 0, 4]
    assert encode_features(Features(frozenset(FEATURE_BITS), 1)) == [0, 0x7F, 0, 1]
    assert encode_features(Features(frozenset(), 2)) == [0, 0, 0, 2]
    # Bits a later module may add (here 16 and 31) are ignored, not refused.
    got = decode_features([0x8001, 0x0021, 0, 3])
    assert got == Features(frozenset({"breaker", "prepayment"}), 3)


@given(st.sets(st.sampled_from(FEATURE_BITS)), st.integers(min_value=1, max_value=4))
def test_function_words_round_trip(functions: set[str], energy_type: int) -> None:
    features = Features(frozenset(functions), energy_type)
    words = encode_features(features)
    assert len(words) == 4 and all(0 <= w <= 0xFFFF for w in words)
    assert decode_features(words) == features


def test_bad_function_words_are_refused() -> None:
    with pytest.raises(UnknownTagError, match=r"energy type \(X9\) 0 in input register 0x00EC is not 1–4"):
        decode_features([0, 1, 0, 0])
    with pytest.raises(UnknownTagError, match="energy type"):
        decode_features([0, 1, 0, 5])
    with pytest.raises(LengthError, match="take 4 input registers, got 2"):
        decode_features([0, 1])
    with pytest.raises(LengthError):
        decode_features([0, 1, 0x10000, 4])  # not a 16-bit word
    with pytest.raises(EncodeError, match="unknown meter functions modem"):
        Features(frozenset({"breaker", "modem"}), 4)
    with pytest.raises(EncodeError, match="not 1–4"):
        Features(frozenset(), 9)


def test_absent_keys_follow_the_functions_and_the_energy_type() -> None:
    everything = Features(frozenset(FEATURE_BITS), 4)
    assert everything.absent_keys() == frozenset()
    bare = Features(frozenset(), 1).absent_keys()  # A+ only, no optional function at all
    for key in ("breaker", "load_control_1", "load_control_2", "s0_pulses", "s0_rate", "pulse_input",
                "prepayment_remaining", "prepayment_credit", "prepayment_state", "thd_i_l1", "thd_i_l3",
                "a_minus", "r_plus", "r_minus", "p_minus", "q_plus", "e_plus"):
        assert key in bare, key
    for key in ("a_plus", "a_plus_t2", "p_plus", "u_l1", "i_l3", "thd_u_l1", "tariff", "frequency", "s_plus"):
        assert key not in bare, key
    # A+/R+ (a CT type): reactive import is there, export is not
    ct = Features(frozenset({"s0_output"}), 3).absent_keys()
    assert "r_plus" in INPUT_KEYS and "r_plus" not in ct and "a_minus" in ct and "thd_i_l2" in ct
    assert Features(frozenset({"prepayment"}), 4).has("prepayment")
    with pytest.raises(KeyError, match="modem"):
        everything.has("modem")


def test_a_meters_readings_survive_the_register_image() -> None:
    meter = Meter("m", MeterSimSettings(), SteppedClock(1_768_478_400))
    meter.advance_to(1_768_478_400 + 6 * 3600)
    readings = meter.readings()
    image = input_image(readings, Features(frozenset({"breaker"}), 4))
    assert len(image) == INPUT_COUNT and image[FEATURES_ADDRESS:] == [0, 1, 0, 4]
    decoded = decode_inputs(encode_inputs(readings))
    assert decoded == decode_inputs(image[:READINGS_COUNT])
    prepaid = Meter("p", MeterSimSettings(z13=0, z3=3, prepayment={"enabled": True, "initial_value": 3.5}),
                    SteppedClock(1_768_478_400)).readings()
    both = decode_inputs(encode_inputs(prepaid))
    assert (both["prepayment_remaining"], both["prepayment_state"], both["pulse_input"]) == (3.5, "credit_ok", 0)
    assert decoded["time"] == readings["time"]  # the meter clock with its offset
    for key in INPUT_KEYS:
        point = INPUT_BY_KEY[key]
        if key not in readings:  # this meter lacks it (no pulse input, prepayment off): 0, or absent for a state
            assert decoded[key] == (None if point.kind is Kind.ENUM else 0), key
        elif point.kind is Kind.TIMESTAMP:  # Unix seconds on the wire
            stamp = readings[key]
            assert decoded[key] == (None if stamp is None else datetime.fromisoformat(str(stamp)).timestamp()), key
        elif isinstance(readings[key], str):
            assert decoded[key] == readings[key]
        else:
            assert decoded[key] == pytest.approx(readings[key], abs=10**-point.decimals), key
