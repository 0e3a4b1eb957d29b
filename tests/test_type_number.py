"""Type number (spec §11.1) and software configuration codes Z1…Z25 (spec §11.2)."""

from __future__ import annotations

import contextlib
import re
import string

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from meter_sim.config import MeterSimSettings
from meter_sim.type_number import COUNTRIES, DEFAULT_TYPE_NUMBER, TypeNumber, parse_type_number
from meter_sim.zcodes import (
    CT_Z_DEFAULTS,
    Z_CODES,
    Z_DEFAULTS,
    check_z,
    check_z_codes,
    z1_display_format,
    z2_led_on_at_no_load,
    z3_has_alarm_input,
    z3_has_pulse_input,
    z3_io_roles,
    z3_tariff_inputs,
    z3_tariff_inverted,
    z4_period_s,
    z6_stop_day,
    z7_stop_months,
    z8_pulse_width_ms,
    z12_pulse_unit,
    z13_tariff_control,
    z14_load_control,
    z15_eu_dst,
    z16_rf_region,
    z18_1107_list,
    z19_delivery_position,
    z21_ct_ratio,
    z25_interval,
    z_defaults,
)

# Hand-built type numbers (68 + X1…X13 + country), each valid by the spec's tables.
CT = "68" + "5113" + "1BD" + "14" + "0011" + "040"  # CT, 3 systems, 1(6) A, class B, A+/A−/R+/R−, battery, S0
SINGLE = "68" + "6121" + "1AN" + "11" + "2010" + "050"  # single-phase, ST housing, 5(100) A, A+, dual breaker, UK
ARON = "68" + "4112" + "8BN" + "12" + "0002" + "070"  # Aron, 5(80) A, A+/A−, no breaker/radio, supercap, APS, DE


def with_x(code: str, field: int, value: str) -> str:
    """`code` with field X`field` (1–13) replaced."""
    i = field + 1
    return code[:i] + value + code[i + 1 :]


# ----- type number ----------------------------------------------------------------------------------------------


def test_worked_example_decodes_as_the_spec_says() -> None:
    # §11.1: three-phase, 3 systems, 5(100) A, class B, N, Variant 2, 4-quadrant, standard breaker, radio,
    # supercap, S0, Norway.
    t = parse_type_number(DEFAULT_TYPE_NUMBER)
    assert DEFAULT_TYPE_NUMBER == "6841131BN243101040"
    assert t.code == "6841131BN243101040"
    assert t.meter_type == "three_phase"
    assert t.type_version == 1
    assert t.housing == "standard"
    assert t.measuring_systems == 3
    assert (t.current.ib, t.current.imax, t.current.itr, t.current.text) == (5.0, 100.0, 0.25, "5(100) A")
    assert t.accuracy_class == "B"
    assert t.generation == "N"
    assert t.variant == 2
    assert t.energy_type == 4 and t.energy_registers == ("A+", "A-", "R+", "R-")
    assert t.breaker == "standard" and t.has_breaker
    assert t.radio is True
    assert t.backup == "supercap"
    assert t.interface == "S0" and t.has_s0 and not t.has_aps
    assert (t.country_code, t.country) == ("040", "NO")
    assert not t.is_ct and not t.is_aron and t.phases == 3
    # §1 direct-meter constants
    assert t.starting_threshold_w == 2.3
    assert t.s0_imp_per_kwh == 1000
    assert t.led_imp_per_kwh == 1000
    # §8 / §10.1 Variant 2: last gasp, no DLMS/1107 query
    assert t.has_last_gasp and not t.supports_dlms_query
    assert t.grouped == "684-11-31B-N24-3101-040"
    assert str(t) == DEFAULT_TYPE_NUMBER


def test_ct_meter_constants() -> None:
    t = parse_type_number(CT)
    assert t.is_ct and t.meter_type == "ct" and t.generation == "D"
    assert (t.current.itr, t.current.ib, t.current.imax, t.current.text) == (0.01, 1.0, 6.0, "1(6) A")
    assert t.starting_threshold_w == 0.6
    assert t.s0_imp_per_kwh == 5000
    assert t.led_imp_per_kwh == 10_000
    assert t.breaker == "none" and not t.has_breaker
    assert t.backup == "supercap+battery"
    assert t.supports_dlms_query and not t.has_last_gasp
    ct5 = parse_type_number(with_x(CT, 5, "5"))
    assert (ct5.current.itr, ct5.current.ib, ct5.current.imax, ct5.current.text) == (0.05, 5.0, 6.0, "5(6) A")
    assert parse_type_number(with_x(CT, 6, "5")).accuracy_class == "0.5"
    assert parse_type_number(with_x(CT, 9, "3")).energy_registers == ("A+", "R+")


def test_single_phase_and_aron() -> None:
    s = parse_type_number(SINGLE)
    assert s.meter_type == "single_phase" and s.phases == 1 and s.measuring_systems == 1
    assert s.housing == "ST" and s.breaker == "dual" and s.interface == "none" and s.s0_imp_per_kwh is None
    assert s.country == "UK" and s.energy_registers == ("A+",)
    a = parse_type_number(ARON)
    assert a.is_aron and a.measuring_systems == 2 and a.phases == 3
    assert a.has_aps and not a.has_s0 and a.s0_imp_per_kwh is None and not a.has_breaker and not a.radio
    assert a.current.text == "5(80) A" and a.country == "DE"


@pytest.mark.parametrize(
    ("x5", "text", "ib", "imax", "itr"),
    [
        ("1", "5(100) A", 5.0, 100.0, 0.25),
        ("4", "5(65) A", 5.0, 65.0, 0.25),
        ("6", "10(60) A", 10.0, 60.0, 0.5),
        ("7", "10(80) A", 10.0, 80.0, 0.5),
        ("8", "5(80) A", 5.0, 80.0, 0.25),
    ],
)
def test_direct_current_ranges(x5: str, text: str, ib: float, imax: float, itr: float) -> None:
    c = parse_type_number(with_x(DEFAULT_TYPE_NUMBER, 5, x5)).current
    assert (c.text, c.ib, c.imax, c.itr) == (text, ib, imax, itr)


@pytest.mark.parametrize(
    "text",
    [
        "684-1131-BN2-4310-1040",
        "684-11-31B-N24-3101-040",  # the spec's grouping
        "684-1131-BN24-310-1040",  # the data sheet's grouping
        " 684 11 31B N24 3101 040 ",
        "6841131bn243101040",
        "6-8-4-1-1-3-1-B-N-2-4-3-1-0-1-0-4-0",
        "--6841131BN243101040--",
    ],
)
def test_dashes_spaces_and_case_are_ignored(text: str) -> None:
    assert parse_type_number(text).code == DEFAULT_TYPE_NUMBER


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("6741131BN243101040", "must start with '68'"),
        ("6841131BN24310104", "must have 18 characters ('68' + X1…X16, dashes and spaces ignored), got 17"),
        ("6841131BN2431010400", "must have 18 characters ('68' + X1…X16, dashes and spaces ignored), got 19"),
        ("", "must start with '68'"),
    ],
)
def test_prefix_and_length(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_type_number(text)


def test_non_string_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_type_number(6841131)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (1, "7", "type_number X1 (meter type) = '7': allowed 4, 5, 6"),
        (1, "3", "type_number X1 (meter type) = '3': allowed 4, 5, 6"),
        (2, "2", "type_number X2 (type-number version) = '2': allowed 1"),
        (3, "3", "type_number X3 (housing) = '3': allowed 1, 2"),
        (4, "4", "type_number X4 (measuring systems) = '4': allowed 1, 2, 3"),
        (4, "0", "type_number X4 (measuring systems) = '0': allowed 1, 2, 3"),
        (5, "9", "type_number X5 (current) = '9': allowed 1, 4, 5, 6, 7, 8"),
        (5, "2", "type_number X5 (current) = '2': allowed 1, 4, 5, 6, 7, 8"),
        (5, "3", "type_number X5 (current) = '3': allowed 1, 4, 5, 6, 7, 8"),
        (6, "D", "type_number X6 (accuracy) = 'D': allowed A, B, C, 2, 1, 5"),
        (6, "3", "type_number X6 (accuracy) = '3': allowed A, B, C, 2, 1, 5"),
        (7, "M", "type_number X7 (generation) = 'M': allowed D, N"),
        (8, "3", "type_number X8 (variant) = '3': allowed 1, 2"),
        (8, "0", "type_number X8 (variant) = '0': allowed 1, 2"),
        (9, "5", "type_number X9 (energy type) = '5': allowed 1, 2, 3, 4"),
        (9, "0", "type_number X9 (energy type) = '0': allowed 1, 2, 3, 4"),
        (10, "1", "type_number X10 (breaker) = '1': allowed 0, 2, 3"),
        (10, "4", "type_number X10 (breaker) = '4': allowed 0, 2, 3"),
        (11, "2", "type_number X11 (communication) = '2': allowed 0, 1"),
        (12, "2", "type_number X12 (backup) = '2': allowed 0, 1"),
        (13, "3", "type_number X13 (interface) = '3': allowed 0, 1, 2"),
    ],
)
def test_each_field_is_checked_against_its_table(field: int, value: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_type_number(with_x(DEFAULT_TYPE_NUMBER, field, value))
    assert str(info.value) == message


@pytest.mark.parametrize("country", ["000", "041", "999", "ABC"])
def test_unknown_country_is_refused(country: str) -> None:
    with pytest.raises(ValueError, match=rf"^type_number X14–X16 \(country\) = '{country}': allowed 010, 011, 012, "):
        parse_type_number(DEFAULT_TYPE_NUMBER[:15] + country)


# §11.1 country list, copied by hand: 8 Nordic, 11 Central/Western, 10 Eastern/South-Eastern, 4 other.
SPEC_COUNTRIES = [
    *[("010", "DK"), ("011", "DK"), ("012", "DK"), ("040", "NO"), ("084", "FI"), ("086", "FI-Åland"), ("090", "SE")],
    *[("067", "IS"), ("055", "AT"), ("056", "AT"), ("059", "CH-IT"), ("063", "CH-DE"), ("065", "CH-FR")],
    *[("064", "PL"), ("070", "DE"), ("078", "BE"), ("080", "NL"), ("050", "UK"), ("031", "ES"), ("025", "RU")],
    *[("035", "TR"), ("036", "HR"), ("037", "RS"), ("042", "SK"), ("043", "CZ"), ("044", "HU"), ("045", "LV")],
    *[("049", "LT"), ("061", "EE"), ("110", "SA"), ("120", "ZA"), ("121", "GH"), ("151", "CL")],
]


@pytest.mark.parametrize(("code", "country"), SPEC_COUNTRIES)
def test_every_listed_country(code: str, country: str) -> None:
    t = parse_type_number(DEFAULT_TYPE_NUMBER[:15] + code)
    assert (t.country_code, t.country) == (code, country)


def test_country_table_has_exactly_the_listed_codes() -> None:
    assert len(SPEC_COUNTRIES) == 8 + 11 + 10 + 4
    assert dict(COUNTRIES) == dict(SPEC_COUNTRIES)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        # X7 generation follows X1
        (with_x(CT, 7, "N"), "type_number X7 (generation) = 'N': a CT meter (X1 = 5) allows D"),
        (
            with_x(DEFAULT_TYPE_NUMBER, 7, "D"),
            "type_number X7 (generation) = 'D': a three-phase direct meter (X1 = 4) allows N",
        ),
        (with_x(SINGLE, 7, "D"), "type_number X7 (generation) = 'D': a single-phase meter (X1 = 6) allows N"),
        # X3 ST housing is single-phase only
        (with_x(DEFAULT_TYPE_NUMBER, 3, "2"), "X3 (housing) = '2': a three-phase direct meter (X1 = 4) allows 1"),
        # X4 measuring systems follow X1
        (
            with_x(DEFAULT_TYPE_NUMBER, 4, "1"),
            "X4 (measuring systems) = '1': a three-phase direct meter (X1 = 4) allows 2",
        ),
        (with_x(CT, 4, "1"), "X4 (measuring systems) = '1': a CT meter (X1 = 5) allows 2 (Aron, 3-wire) or 3"),
        (with_x(SINGLE, 4, "3"), "X4 (measuring systems) = '3': a single-phase meter (X1 = 6) allows 1"),
        (with_x(SINGLE, 4, "2"), "X4 (measuring systems) = '2': a single-phase meter (X1 = 6) allows 1"),
        # X5 CT ranges vs direct ranges
        (
            with_x(DEFAULT_TYPE_NUMBER, 5, "5"),
            "X5 (current) = '5': a three-phase direct meter (X1 = 4) allows 1 = 5(100) A",
        ),
        (with_x(CT, 5, "4"), "X5 (current) = '4': a CT meter (X1 = 5) allows 1 = 1(6) A, 5 = 5(6) A"),
        # X6 accuracy classes per kind (§1)
        (
            with_x(DEFAULT_TYPE_NUMBER, 6, "C"),
            "X6 (accuracy) = 'C': a three-phase direct meter (X1 = 4) allows A, B, 2, 1",
        ),
        (
            with_x(DEFAULT_TYPE_NUMBER, 6, "5"),
            "X6 (accuracy) = '5': a three-phase direct meter (X1 = 4) allows A, B, 2, 1",
        ),
        (with_x(CT, 6, "A"), "X6 (accuracy) = 'A': a CT meter (X1 = 5) allows B, C, 1, 5"),
        (with_x(CT, 6, "2"), "X6 (accuracy) = '2': a CT meter (X1 = 5) allows B, C, 1, 5"),
        # X9 = 3 only CT
        (
            with_x(DEFAULT_TYPE_NUMBER, 9, "3"),
            "X9 (energy type) = '3': a three-phase direct meter (X1 = 4) allows 1, 2, 4",
        ),
        (with_x(SINGLE, 9, "3"), "X9 (energy type) = '3': a single-phase meter (X1 = 6) allows 1, 2, 4"),
        # X10: CT has no breaker; dual breaker is single-phase only
        (with_x(CT, 10, "3"), "X10 (breaker) = '3': a CT meter (X1 = 5) allows 0 (no breaker)"),
        (
            with_x(DEFAULT_TYPE_NUMBER, 10, "2"),
            "X10 (breaker) = '2': a three-phase direct meter (X1 = 4) allows 0 or 3",
        ),
        # X12: supercap alone is direct only
        (with_x(CT, 12, "0"), "X12 (backup) = '0': a CT meter (X1 = 5) allows 1 (supercap + battery)"),
        # X13: APS three-phase direct only; CT always S0
        (with_x(SINGLE, 13, "2"), "X13 (interface) = '2': a single-phase meter (X1 = 6) allows 0 or 1"),
        (with_x(CT, 13, "2"), "X13 (interface) = '2': a CT meter (X1 = 5) allows 1 (S0)"),
        (with_x(CT, 13, "0"), "X13 (interface) = '0': a CT meter (X1 = 5) allows 1 (S0)"),
    ],
)
def test_cross_checks(code: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_type_number(code)


@pytest.mark.parametrize(
    "code",
    [
        with_x(SINGLE, 10, "3"),  # single-phase with a standard breaker
        with_x(SINGLE, 10, "0"),
        with_x(CT, 4, "2"),  # Aron CT (§1: 3x230 V)
        with_x(CT, 9, "3"),  # A+/R+ on CT
        with_x(CT, 11, "1"),  # CT with radio
        with_x(DEFAULT_TYPE_NUMBER, 13, "2"),  # APS on three-phase direct
        with_x(DEFAULT_TYPE_NUMBER, 13, "0"),
        with_x(DEFAULT_TYPE_NUMBER, 12, "1"),
        with_x(DEFAULT_TYPE_NUMBER, 8, "1"),
        with_x(DEFAULT_TYPE_NUMBER, 6, "A"),
        with_x(DEFAULT_TYPE_NUMBER, 6, "2"),
        with_x(DEFAULT_TYPE_NUMBER, 6, "1"),
    ],
)
def test_allowed_combinations(code: str) -> None:
    assert parse_type_number(code).code == code


_ALPHABET = string.digits + string.ascii_letters + "-  ÅÆ٣\x00"


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=_ALPHABET, min_size=18, max_size=18),
        st.text(alphabet=_ALPHABET, min_size=16, max_size=16).map(lambda tail: "68" + tail),
    )
)
def test_random_strings_raise_only_value_error(text: str) -> None:
    try:
        t = parse_type_number(text)
    except ValueError:
        return
    assert isinstance(t, TypeNumber) and len(t.code) == 18


@st.composite
def _near_valid(draw: st.DrawFn) -> str:
    """Codes whose every field is in its own table (country too), X7 matching X1: only the cross-checks can fail."""
    x1 = draw(st.sampled_from("456"))
    tables = ("1", "12", "123", "145678", "ABC215")
    head = "".join(draw(st.sampled_from(t)) for t in tables)
    tail = "".join(draw(st.sampled_from(t)) for t in ("12", "1234", "023", "01", "01", "012"))
    country = draw(st.sampled_from(sorted(COUNTRIES)))
    return "68" + x1 + head + ("D" if x1 == "5" else "N") + tail + country


@settings(max_examples=1000, deadline=None)
@given(_near_valid())
def test_near_valid_codes_either_parse_and_round_trip_or_raise_value_error(code: str) -> None:
    try:
        t = parse_type_number(code)
    except ValueError as e:
        assert str(e).startswith("type_number ")
        event("refused by a cross-check")
        return
    event("parsed")
    assert t.code == code
    assert parse_type_number(t.grouped) == t
    # invariants the cross-checks guarantee
    assert t.generation == ("D" if t.is_ct else "N")
    assert not (t.is_ct and t.has_breaker)
    assert t.breaker != "dual" or t.meter_type == "single_phase"
    assert t.energy_type != 3 or t.is_ct
    assert not t.has_aps or t.meter_type == "three_phase"
    assert (t.measuring_systems == 1) == (t.meter_type == "single_phase")
    # the defaults are valid on every type number, and so are the type number's own defaults
    check_z_codes(dict(Z_DEFAULTS), t)
    check_z_codes(z_defaults(t), t)


# ----- Z codes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "refused", "accepted"),
    [
        (1, (0, 5), (1, 4)),
        (2, (0, 3), (1, 2)),
        (3, (-1, 24, 25, 30), (0, 23, 26, 29)),
        (4, (0, 5), (1, 4)),
        (5, (-1, 1000), (0, 999)),
        (6, (0, 29), (1, 28)),
        (7, (-1, 25), (0, 24)),
        (8, (0, 5), (1, 4)),
        (9, (-1, 1000), (0, 1, 2, 999)),
        (10, (-1, 1000), (0, 999)),
        (11, (-1, 24), (0, 12, 13, 23)),
        (12, (-1, 4), (0, 3)),
        (13, (-1, 1000), (0, 1, 2, 3, 999)),
        (14, (-1, 2, 999), (0, 1)),
        (15, (-1, 2), (0, 1)),
        (16, (1, 317, 320, 325, 327, 330, 337, 340, 347, 350, 358, 360, 368, 370, 378, 380, 999), ()),
        (17, (-1, 1000), (0, 999)),
        (18, (-1, 3), (0, 2)),
        (19, (-1, 3), (0, 2)),
        (20, (-1, 1000), (0, 999)),
        (21, (0, 5, 9, 11, 601, 1000), (1, 2, 3, 4, 10, 600)),
        (22, (0, 3), (1, 2)),
        (23, (0, 3), (1, 2)),
        (24, (-1, 2), (0, 1)),
        (25, (0, 4), (1, 3)),
    ],
)
def test_z_boundaries(n: int, refused: tuple[int, ...], accepted: tuple[int, ...]) -> None:
    for value in accepted:
        assert check_z(n, value) == value
    for value in refused:
        with pytest.raises(ValueError, match=rf"^Z{n} \(.+\) = {value}: "):
            check_z(n, value)


def test_z16_rf_codes_are_exactly_the_listed_ones() -> None:
    listed = {0, 318, 319, 326, 328, 329, 338, 339, 348, 349, 359, 369, 379}
    accepted = set()
    for v in range(0, 1000):
        with contextlib.suppress(ValueError):
            accepted.add(check_z(16, v))
    assert accepted == listed
    assert [z16_rf_region(c) for c in (0, 318, 319, 326, 339, 349, 359, 369, 379)] == [
        None,
        "CH",
        "EU",
        "SE",
        "NO",
        "DK",
        "FI",
        "PL",
        "AT",
    ]


def test_z21_ct_ratios_are_exactly_the_listed_ones() -> None:
    listed = {1, 2, 3, 4, 10, 15, 20, 24, 30, 32, 40, 60, 100, 200, 300, 400, 600}
    assert {v for v in range(0, 1000) if v in Z_CODES[21].allowed} == listed
    assert z21_ct_ratio(600) == 600


def test_z_error_messages_name_code_and_allowed_values() -> None:
    with pytest.raises(ValueError) as info:
        check_z(7, 25)
    assert str(info.value).startswith("Z7 (debiting-1 interval) = 25: allowed 00 (external only), 01 (monthly)")
    with pytest.raises(ValueError, match=r"^Z6 \(debiting stop day\) = 29: allowed 01–28"):
        check_z(6, 29)
    with pytest.raises(ValueError, match=r"^Z26 is not a configuration code"):
        check_z(26, 0)
    with pytest.raises(ValueError, match=r"^Z0 is not a configuration code"):
        check_z(0, 0)
    with pytest.raises(ValueError, match="must be an integer code"):
        check_z(15, True)


def test_z14_message_matches_the_settings_validator() -> None:
    with pytest.raises(ValueError) as ours:
        check_z(14, 5)
    with pytest.raises(ValidationError) as settings_error:
        MeterSimSettings(z14=5)
    core = "load-control table 005 is not modelled (table contents are unpublished order-form data); use 0 (off) or 1"
    assert core in str(ours.value)
    assert core in str(settings_error.value)
    assert str(ours.value).startswith("Z14 (load control) = 5: ")


def test_defaults_match_the_existing_settings() -> None:
    s = MeterSimSettings()
    assert (Z_DEFAULTS[4], Z_DEFAULTS[11], Z_DEFAULTS[14], Z_DEFAULTS[15], Z_DEFAULTS[19]) == (2, 1, 1, 1, 1)
    assert (s.z4, s.z11, s.z14, s.z15, s.z19) == (
        Z_DEFAULTS[4],
        Z_DEFAULTS[11],
        Z_DEFAULTS[14],
        Z_DEFAULTS[15],
        Z_DEFAULTS[19],
    )
    assert sorted(Z_DEFAULTS) == [*range(1, 21), 25]
    assert sorted(CT_Z_DEFAULTS) == [21, 22, 23, 24]


@pytest.mark.parametrize("code", [DEFAULT_TYPE_NUMBER, CT, SINGLE, ARON])
def test_defaults_are_valid_on_every_kind_of_meter(code: str) -> None:
    t = parse_type_number(code)
    assert check_z_codes(dict(Z_DEFAULTS), t) == dict(Z_DEFAULTS)
    assert check_z_codes(z_defaults(t), t) == z_defaults(t)


def test_type_specific_defaults() -> None:
    default = z_defaults(parse_type_number(DEFAULT_TYPE_NUMBER))
    assert default[16] == 339 and default[9] == 1 and default[19] == 1 and 21 not in default
    aron = z_defaults(parse_type_number(ARON))  # no breaker, no radio
    assert (aron[9], aron[19], aron[16]) == (0, 0, 0)
    ct = z_defaults(parse_type_number(CT))
    assert {k: ct[k] for k in (21, 22, 23, 24)} == dict(CT_Z_DEFAULTS)
    assert z_defaults() == dict(Z_DEFAULTS)


def test_cross_checks_against_the_type_number() -> None:
    direct = parse_type_number(DEFAULT_TYPE_NUMBER)  # breaker, radio, Variant 2
    ct = parse_type_number(CT)  # no breaker, no radio, Variant 1
    aron = parse_type_number(ARON)  # no breaker, no radio, Variant 1
    # Z1 = 4 (6.3) is not on CT meters
    assert check_z(1, 4, direct) == 4
    with pytest.raises(ValueError, match=r"^Z1 \(display decimals\) = 4: format 6.3 does not exist on CT meters"):
        check_z(1, 4, ct)
    assert check_z(1, 3, ct) == 3
    # Z3 = 29 earth fault not on CT
    assert check_z(3, 29, direct) == 29
    with pytest.raises(ValueError, match=r"^Z3 .* = 29: earth fault"):
        check_z(3, 29, ct)
    # Z16 needs the radio
    assert check_z(16, 339, direct) == 339
    assert check_z(16, 0, aron) == 0
    with pytest.raises(
        ValueError, match=r"^Z16 \(RF frequency code\) = 339: a frequency code needs the internal radio"
    ):
        check_z(16, 339, aron)
    # Z18 ≠ 0 not on Variant 2
    assert check_z(18, 0, direct) == 0
    with pytest.raises(ValueError, match=r"^Z18 \(1107\) = 1: Variant 2 \(X8 = 2\) answers no 1107 query"):
        check_z(18, 1, direct)
    assert check_z(18, 2, aron) == 2
    # Z19 = 2 needs a breaker; 0 and 1 stay valid without one
    assert check_z(19, 2, direct) == 2
    assert check_z(19, 0, aron) == 0 and check_z(19, 1, aron) == 1
    with pytest.raises(ValueError, match=r"^Z19 .* = 2: a meter without breaker"):
        check_z(19, 2, aron)
    # Z9 order-form setups need a breaker; 000/001 stay valid
    assert check_z(9, 2, direct) == 2
    assert check_z(9, 1, ct) == 1 and check_z(9, 0, ct) == 0
    with pytest.raises(ValueError, match=r"^Z9 \(disconnect setup\) = 2: a meter without breaker"):
        check_z(9, 2, ct)
    # Z21–Z24 are CT only
    for n, v in CT_Z_DEFAULTS.items():
        assert check_z(n, v, ct) == v
        assert check_z(n, v) == v
        with pytest.raises(ValueError, match=rf"^Z{n} .* applies to CT meters only"):
            check_z(n, v, direct)


def test_z13_module_port_needs_a_tariff_input() -> None:
    with pytest.raises(ValueError, match=r"^Z13 \(tariff control\) = 1: tariff by module port needs a tariff input"):
        check_z_codes({3: 5, 13: 1})
    for z3 in (1, 2, 7, 8, 9, 10, 11, 12, 13, 14, 22, 23):
        assert check_z_codes({3: z3, 13: 1}) == {3: z3, 13: 1}
    assert check_z_codes({3: 0, 13: 2}) == {3: 0, 13: 2}


# ----- decoders -------------------------------------------------------------------------------------------------


def test_z1_display_format() -> None:
    assert z1_display_format(1, False) == (7, 0)
    assert z1_display_format(2, False) == (6, 1)
    assert z1_display_format(2, True) == (7, 1)
    assert z1_display_format(3, False) == (7, 2)
    assert z1_display_format(3, True) == (7, 2)
    assert z1_display_format(4, False) == (6, 3)
    with pytest.raises(ValueError, match="not exist on CT"):
        z1_display_format(4, True)
    with pytest.raises(ValueError, match=r"^Z1 "):
        z1_display_format(5, False)


@pytest.mark.parametrize(
    ("z7", "months"),
    [
        (1, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),
        (2, {1, 3, 5, 7, 9, 11}),
        (3, {2, 4, 6, 8, 10, 12}),
        (4, {1, 4, 7, 10}),
        (5, {2, 5, 8, 11}),
        (6, {3, 6, 9, 12}),
        (7, {1, 7}),
        (8, {2, 8}),
        (9, {3, 9}),
        (10, {4, 10}),
        (11, {5, 11}),
        (12, {6, 12}),
        (13, {1}),
        (14, {2}),
        (17, {5}),
        (18, {6}),
        (23, {11}),
        (24, {12}),
    ],
)
def test_z7_stop_months(z7: int, months: set[int]) -> None:
    assert z7_stop_months(z7) == frozenset(months)


def test_z7_external_and_out_of_range() -> None:
    assert z7_stop_months(0) is None
    for bad in (-1, 25):
        with pytest.raises(ValueError, match=r"^Z7 "):
            z7_stop_months(bad)


def test_small_decoders() -> None:
    assert [z8_pulse_width_ms(c) for c in (1, 2, 3, 4)] == [(30, False), (30, True), (80, False), (80, True)]
    assert [z12_pulse_unit(c) for c in (0, 1, 2, 3)] == [None, "kWh", "m³", "l"]
    assert [z13_tariff_control(c) for c in (0, 1, 2, 3, 999)] == ["off", "module_port", "register", "table", "table"]
    assert [z14_load_control(c) for c in (0, 1)] == ["off", "register"]
    assert [z15_eu_dst(c) for c in (0, 1)] == [False, True]
    assert [z18_1107_list(c) for c in (0, 1, 2)] == [None, "UD1", "UD2"]
    assert [z19_delivery_position(c) for c in (0, 1, 2)] == ["undefined", "connected", "disconnected"]
    assert [z25_interval(c) for c in (1, 2, 3)] == ["daily", "weekly", "monthly"]
    assert [z4_period_s(c) for c in (1, 2, 3, 4)] == [300, 900, 1800, 3600]
    assert [z2_led_on_at_no_load(c) for c in (1, 2)] == [False, True]
    assert z6_stop_day(1) == 1 and z6_stop_day(28) == 28
    with pytest.raises(ValueError, match=r"^Z6 "):
        z6_stop_day(29)
    with pytest.raises(ValueError, match=r"^Z12 "):
        z12_pulse_unit(4)


@pytest.mark.parametrize(
    ("z3", "roles"),
    [
        (0, ("none", "none")),
        (1, ("4-tariff in", "4-tariff in")),
        (4, ("pulse in", "alarm in, inverted")),
        (5, ("pulse in", "A+ out")),
        (6, ("R+ out", "A+ out")),
        (10, ("2-tariff in, inverted", "alarm in, inverted")),
        (15, ("debiting-stop pulse in", "-")),
        (16, ("A- out", "A+ out")),
        (17, ("load-control load in", "status control out")),
        (21, ("pulse in, inverted", "load-tariff sync out, inverted")),
        (26, ("load control 1 out", "load control 2 out")),
        (28, ("pulse in", "toggle load control 1 & 2 out")),
    ],
)
def test_z3_roles(z3: int, roles: tuple[str, str]) -> None:
    assert z3_io_roles(z3) == roles


def test_z3_input_kinds() -> None:
    assert [z3_tariff_inputs(c) for c in (0, 1, 2, 5, 7, 14, 18, 22, 23)] == [0, 4, 4, 0, 2, 2, 0, 4, 4]
    assert [z3_tariff_inverted(c) for c in (1, 2, 7, 8, 13, 14)] == [False, True, False, True, False, True]
    assert [z3_has_pulse_input(c) for c in (3, 5, 6, 15, 27)] == [True, True, False, False, True]
    assert [z3_has_alarm_input(c) for c in (3, 4, 5, 9, 11)] == [True, True, False, True, False]
    with pytest.raises(ValueError, match=r"^Z3 .* = 24: allowed 00–23, 26–29"):
        z3_io_roles(24)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=30), st.integers(min_value=-5, max_value=1100))
def test_check_z_raises_only_value_error(n: int, value: int) -> None:
    try:
        assert check_z(n, value) == value
    except ValueError as e:
        assert str(e).startswith(f"Z{n} ")
