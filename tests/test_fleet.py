"""A fleet: who is in it, which shard runs whom, how members differ, and the configuration that names it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gateway.bridge import Bridge, announced, bridge_name, outbox_path
from gateway.cli import with_shard
from gateway.config import ConfigError, load_settings
from gateway.service import fleet_sources
from meter_sim.config import MeterSimSettings
from meter_sim.fleet import FLEET_TYPE_NUMBERS, Shard, member_id, member_settings, members, parse_shard


@given(st.integers(1, 3000), st.integers(1, 12))
def test_the_shards_of_a_fleet_are_disjoint_and_cover_it(count: int, n: int) -> None:
    parts = [list(members(count, Shard(k, n))) for k in range(1, n + 1)]
    assert sorted(m for part in parts for m in part) == list(range(1, count + 1))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1  # round-robin: equal within one meter


@pytest.mark.parametrize(("text", "error"), [
    ("0/2", "must be K/N"), ("3/2", "K = 3 is more than N = 2"), ("1", "must be K/N"), ("a/b", "must be K/N"),
    ("1/0", "must be K/N"), ("-1/2", "must be K/N"),
])
def test_a_bad_shard_is_named(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_shard(text)


def test_ids_are_the_prefix_and_the_zero_padded_member_number() -> None:
    assert [member_id("m", n, 10_000) for n in (1, 42, 10_000)] == ["m00001", "m00042", "m10000"]
    assert [member_id("m", n, 4) for n in (1, 4)] == ["m1", "m4"]


def test_a_member_depends_on_the_seed_and_its_number_only() -> None:
    template = MeterSimSettings()
    a = [member_settings(template, 7, n) for n in range(1, 40)]
    assert a == [member_settings(template, 7, n) for n in range(1, 40)]  # deterministic
    assert a != [member_settings(template, 8, n) for n in range(1, 40)]  # the fleet seed matters
    assert len({m.seed for m in a}) == len(a)
    assert len({m.household.annual_kwh for m in a}) > 30
    assert {m.type_number for m in a} == {t for t, _ in FLEET_TYPE_NUMBERS}
    assert any(m.household.pv_kwp for m in a) and any(not m.household.pv_kwp for m in a)
    assert any(m.household.ev_charger_kw for m in a)


def test_a_member_keeps_the_template_s_settings() -> None:
    template = MeterSimSettings(z4=1, household={"latitude": 60.0}, breaker={"min_reconnect_delay_s": 0})
    member = member_settings(template, 1, 5)
    assert member.z4 == 1 and member.household.latitude == 60.0 and member.breaker.min_reconnect_delay_s == 0


def test_members_share_the_template_s_equal_blocks_and_are_the_same_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member's frozen blocks equal to the template's are the template's own objects (memory); each member is
    equal to, and counts the same fields as set as, the member validated without sharing."""
    settings = load_settings(config(tmp_path, fleet={"count": 40, "seed": 2, "template": {"breaker": {
        "min_reconnect_delay_s": 0}}}))
    fleet = settings.fleet
    assert fleet is not None
    shared = fleet.member_configs()
    first, second = shared[0], shared[1]
    assert first.breaker is second.breaker and first.breaker.min_reconnect_delay_s == 0
    assert first.han is second.han and first.power_quality is second.power_quality
    assert first.household is not second.household  # drawn per member
    monkeypatch.setattr("meter_sim.fleet._share_blocks", lambda member, template: None)
    unshared = fleet.member_configs()
    assert unshared[0].breaker is not unshared[1].breaker
    assert shared == unshared
    assert [m.model_fields_set for m in shared] == [m.model_fields_set for m in unshared]


def config(tmp_path: Path, **doc: object) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), **doc}))
    return path


def test_a_fleet_alone_has_no_default_meter_and_its_shards_run_their_members(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, fleet={"count": 10, "id_prefix": "f", "seed": 3, "shard": "2/3"}))
    assert settings.meters == []
    fleet = settings.fleet
    assert fleet is not None
    assert fleet.member_ids() == ["f02", "f05", "f08"]
    assert [c.id for c in fleet.member_configs()] == fleet.member_ids()
    assert [c.seed for c in fleet.member_configs()] == [member_settings(MeterSimSettings(), 3, n).seed
                                                        for n in (2, 5, 8)]
    assert bridge_name(settings) == "bridge/shard-2-of-3"
    assert outbox_path(settings).name == "outbox-shard-2-of-3.sqlite3"


async def test_the_outbox_holds_ten_events_per_member_unless_configured(tmp_path: Path) -> None:
    """Every member says its breaker as an event at start, before the broker may be there: an outbox of 10,000
    dropped 15,000 of a 25,000-member shard's. By default it keeps 10 per member of the process, at least 10,000."""
    for doc, limit in (({"fleet": {"count": 2_200, "shard": "1/2"}}, 11_000),
                       ({"fleet": {"count": 50}}, 10_000),
                       ({"fleet": {"count": 2_200, "shard": "1/2"}, "mqtt": {"outbox_limit": 500}}, 500)):
        settings = load_settings(config(tmp_path, **doc))
        sources = fleet_sources(settings)
        bridge = Bridge(settings, sources, "test", "127.0.0.1", 1, "5")
        assert bridge.link.outbox.limit == limit, doc


def test_discovery_is_off_above_a_few_members_unless_asked(tmp_path: Path) -> None:
    small = load_settings(config(tmp_path, fleet={"count": 5}))
    large = load_settings(config(tmp_path, fleet={"count": 6}))
    asked = load_settings(config(tmp_path, fleet={"count": 6, "discovery": True}))
    assert small.fleet is not None and small.fleet.announced
    assert large.fleet is not None and not large.fleet.announced
    assert asked.fleet is not None and asked.fleet.announced
    mixed = load_settings(config(tmp_path, meters=[{"id": "house"}], fleet={"count": 6, "id_prefix": "f"}))
    assert mixed.fleet is not None
    assert announced(mixed, dict.fromkeys(["house", *mixed.fleet.member_ids()])) == {"house"}  # type: ignore[arg-type]


@pytest.mark.parametrize(("fleet", "error"), [
    ({"count": 0}, "fleet.count = 0: Input should be greater than or equal to 1"),
    ({"count": 3, "shard": "4/3"}, "fleet.shard = '4/3': Value error, shard '4/3': K = 4 is more than N = 3"),
    ({"count": 3, "id_prefix": "a/b"}, "fleet.id_prefix = 'a/b': Value error, must be letters"),
    ({"count": 3, "colour": "red"}, "fleet.colour = 'red': unknown key"),
    ({"count": 3, "template": {"z4": 9}}, "fleet.template.z4 = 9"),
])
def test_a_bad_fleet_is_named(tmp_path: Path, fleet: dict[str, object], error: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config(tmp_path, fleet=fleet))
    assert error in str(info.value)


def test_a_meter_that_looks_like_a_member_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'f2' looks like a member of the fleet"):
        load_settings(config(tmp_path, meters=[{"id": "f2"}], fleet={"count": 3, "id_prefix": "f"}))


def test_shard_on_the_command_line_overrides_the_file(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, fleet={"count": 4, "shard": "1/2"}))
    assert with_shard(settings, "2/2").fleet.member_ids() == ["meter2", "meter4"]  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="--shard: shard '3/2'"):
        with_shard(settings, "3/2")
    with pytest.raises(ConfigError, match="--shard needs a fleet"):
        with_shard(load_settings(config(tmp_path)), "1/2")


def test_the_gateway_names_a_bad_shard_argument(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "gateway", "run", "--config",
                           str(config(tmp_path, fleet={"count": 4})), "--shard", "5/4"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--shard: shard '5/4': K = 5 is more than N = 4" in done.stderr
