"""The Modbus register map: stable addresses, every reading mapped, exact round trips."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter_sim.clock import SteppedClock
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from omnipower.errors import CodecError, EncodeError
from omnipower.modbus_map import (
    COIL_LOAD_CONTROL,
    INPUT_BY_KEY,
    INPUT_COUNT,
    INPUT_KEYS,
    TIME_ADDRESS,
    decode_inputs,
    encode_inputs,
    from_words,
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


def test_a_meters_readings_survive_the_register_image() -> None:
    meter = Meter("m", MeterSimSettings(), SteppedClock(1_768_478_400))
    meter.advance_to(1_768_478_400 + 6 * 3600)
    readings = meter.readings()
    decoded = decode_inputs(encode_inputs(readings))
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
