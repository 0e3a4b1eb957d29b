"""The gateway's `dlms` source: `omnipower-sim serve --dlms` exposes a meter, the gateway reads it as a head-end
over the IEC 62056-47 wrapper, and MQTT shows the same state (within the COSEM counts' resolution) as the in-process
source of the same meter; the breaker and the clock go over DLMS with the management client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Mosquitto, free_port, probe_client
from dlms_harness import ServedMeter, stepped_meter
from gateway_harness import gateway_config, request, running_gateway
from sim_harness import FROZEN, START, serving, sim_config

from gateway.commands import Command, CommandError
from gateway.config import ConfigError, MeterConfig, load_settings
from gateway.period_fields import FIELDS_BY_KEY
from gateway.sources.base import SourceError
from gateway.sources.dlms import DlmsSource
from meter_sim.config import MeterSimSettings
from meter_sim.meter import Meter
from meter_sim.modules.dlms_server import ServerSecurity, converse_wrapper
from meter_sim.modules.optical import OpticalPort
from omnipower import dlms_apdu as ap
from omnipower.cosem import cosem_objects
from omnipower.dlms_security import unprotect
from omnipower.dlms_wrapper import WrapperReader
from omnipower.registers import REGISTERS_BY_KEY

PASSWORD = "s3cret-pw"


def resolution(key: str) -> float:
    """A reading's resolution over DLMS, in its published unit: one count (10 Wh for energy, 0.01 A …)."""
    register = REGISTERS_BY_KEY[key]
    obj = next(o for o in cosem_objects((register,)) if o.key == key)
    return 10.0**obj.scaler * obj.unit_size / register.kind.spec.base_per_unit


def wire_meter() -> Meter:
    return stepped_meter("wire", {"start": START, "dlms": {"password": PASSWORD}},
                         MeterSimSettings(start=START).start.timestamp(), hours=5)  # type: ignore[union-attr]


class Served(ServedMeter):
    """A meter on a stepped clock behind the wrapper (or `converse`), served from a thread of its own with one
    `ServerSecurity`, as serve() has."""

    def __init__(self, meter: Meter | None = None, converse: str | OpticalPort = "wrapper") -> None:
        meter = meter or wire_meter()
        super().__init__(meter, converse, security=ServerSecurity(meter.id, meter.settings.dlms))

    def source(self, **dlms: Any) -> DlmsSource:
        return DlmsSource(MeterConfig.model_validate(
            {"id": "wire", "source": "dlms", "transport": f"tcp:127.0.0.1:{self.port}", "dlms": dlms}))


async def test_a_read_gives_the_model_s_readings() -> None:
    with Served() as served:
        source = served.source()
        readings = await source.read()
        model = served.meter.readings()
    assert readings["time"] == model["time"]
    keys = {r.key for r in source.info.registers}
    assert {"a_plus", "a_minus", "p_plus", "u_l1", "i_l3", "frequency", "breaker", "p_plus_max_time"} <= keys
    for key in keys:
        assert key in readings, key
        if isinstance(model[key], float):
            assert readings[key] == pytest.approx(model[key], abs=resolution(key)), key
        else:
            assert readings[key] == model[key], key
    assert source.online


async def test_the_management_client_operates_the_breaker_and_sets_the_clock() -> None:
    with Served() as served:
        source = served.source(client=1, security="low", password=PASSWORD)
        answer = await source.execute(Command("breaker", "disconnect"))
        assert answer == {"breaker": "disconnected"} and served.meter.breaker.state == "disconnected"
        with pytest.raises(CommandError, match=r"temporary_failure.*the breaker is disconnected"):
            await source.execute(Command("breaker", "disconnect"))
        served.meter.clock.advance(10)  # type: ignore[attr-defined]
        answer = await source.execute(Command("breaker", "release"))
        assert answer == {"breaker": "ready_for_reconnection"}
        target = served.meter.t + 7200.0
        await source.execute(Command("time", target))
        assert served.meter.t == target


async def test_the_public_client_carries_no_command_and_a_wrong_password_gets_no_data() -> None:
    with Served() as served:
        with pytest.raises(CommandError, match="not supported over DLMS"):
            await served.source().execute(Command("breaker", "disconnect"))
        wrong = served.source(client=1, security="low", password="nope")
        with pytest.raises(SourceError, match=r"association refused .authentication_failure."):
            await wrong.read()
        assert not wrong.online and served.meter.breaker.state == "connected"


async def test_a_meter_that_is_gone_is_a_source_error() -> None:
    source = DlmsSource(MeterConfig.model_validate(
        {"id": "gone", "source": "dlms", "transport": f"tcp:127.0.0.1:{free_port()}"}))
    with pytest.raises(SourceError, match=r"DLMS exchange with tcp:127\.0\.0\.1:[0-9]+ failed"):
        await source.read()


@pytest.mark.parametrize(("dlms", "error"), [
    ({"client": 1}, "client 1 with security 'none'"),
    ({"client": 1, "security": "low"}, "security low needs `password`"),
    ({"mode_e": True}, "mode E switches to HDLC, so it needs `hdlc: true`"),
    ({"client": 2}, "dlms.client"),
])
def test_bad_dlms_options_are_named(tmp_path: Path, dlms: dict[str, Any], error: str) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(f"meters:\n  - id: w\n    source: dlms\n    transport: tcp:127.0.0.1:4059\n    dlms: {dlms}\n")
    with pytest.raises(ConfigError, match=error.replace("(", r"\(").replace(")", r"\)")):
        load_settings(path)


@pytest.mark.integration
async def test_dlms_source_matches_the_in_process_source_on_mqtt(mosquitto: Mosquitto, tmp_path: Path) -> None:
    port = free_port()
    wire = f"tcp:127.0.0.1:{port}"
    meters = [
        {"id": "local", "seed": 1, "start": START, "speed": float(FROZEN)},
        {"id": "wire", "source": "dlms", "transport": wire,
         "dlms": {"client": 1, "security": "low", "password": PASSWORD}},
    ]
    with serving(sim_config(tmp_path, dlms={"password": PASSWORD}), "--dlms", wire):
        async with running_gateway(gateway_config(tmp_path, mosquitto.port, meters)), \
                probe_client(mosquitto, "omnipower/#") as probe:
            local = (await probe.wait_for("omnipower/local/state")).json()
            remote = (await probe.wait_for("omnipower/wire/state")).json()
            assert (await probe.wait_for("omnipower/wire/availability")).json() == {"state": "online"}
            assert remote["time"] == local["time"]
            compared = 0
            for key, value in remote.items():
                if key == "time" or key in FIELDS_BY_KEY:  # the gateway's computed fields: not the meter's
                    continue
                if isinstance(value, float | int) and isinstance(local[key], float):
                    assert value == pytest.approx(local[key], abs=resolution(key)), key
                else:
                    assert value == local[key], key
                compared += 1
            assert compared > 100  # every register of the meter, not a handful
            mark = probe.mark()
            answer = await request(probe, "omnipower/wire/set/breaker", "disconnect", meter="wire")
            assert answer["status"] == "ok" and answer["data"] == {"breaker": "disconnected"}
            await probe.wait_for("omnipower/wire/state", lambda m: m.json()["breaker"] == "disconnected", after=mark)
            unsupported = await request(probe, "omnipower/wire/set/push_button", "hold", meter="wire")
            assert unsupported["error"] == "push_button: not supported by a dlms meter"


EK, AK = "000102030405060708090A0B0C0D0E0F", "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"


class ServedHls(Served):
    def __init__(self) -> None:
        meter = wire_meter()
        meter.settings = MeterSimSettings.model_validate(  # type: ignore[misc]
            {"start": START, "dlms": {"encryption_key": EK, "authentication_key": AK}})
        super().__init__(meter)


async def test_high_gmac_reads_and_operates_with_every_apdu_ciphered(tmp_path: Path) -> None:
    with ServedHls() as served:
        config = {"id": "wire", "source": "dlms", "transport": f"tcp:127.0.0.1:{served.port}",
                  "dlms": {"client": 1, "security": "high_gmac", "encryption_key": EK, "authentication_key": AK}}
        source = DlmsSource(MeterConfig.model_validate(config), tmp_path)
        readings = await source.read()
        model = served.meter.readings()
        assert readings["a_minus"] == pytest.approx(model["a_minus"], abs=resolution("a_minus"))
        assert await source.execute(Command("breaker", "disconnect")) == {"breaker": "disconnected"}
        assert served.meter.breaker.state == "disconnected"
        used = source.counter.value
        assert int((tmp_path / "wire.dlms-counter").read_text()) >= used  # reserved ahead, on disk
        # A restarted gateway goes on from the reserve: the meter, which remembers the counters it saw, takes it.
        again = DlmsSource(MeterConfig.model_validate(config), tmp_path)
        await again.read()
        assert again.counter.value > used
        # Without the counter's file the gateway would start again at 1, and the meter refuses the replay.
        forgetful = DlmsSource(MeterConfig.model_validate(config))
        with pytest.raises(SourceError, match="association refused"):
            await forgetful.read()
        wrong = DlmsSource(MeterConfig.model_validate(
            config | {"dlms": config["dlms"] | {"authentication_key": "00" * 16}}), tmp_path / "other")
        with pytest.raises(SourceError, match="association refused"):
            await wrong.read()


async def test_logs_are_read_as_profiles_and_match_the_in_process_renderer() -> None:
    from meter_sim.log_export import query_log

    with Served() as served:
        meter = served.meter
        meter.breaker_command("disconnect")  # an event in the disconnect log
        t0 = int(meter.t) - 3 * 3600
        source = served.source()
        got, total = await source.log("load_profile", t0, int(meter.t), 0, 100)
        want, want_total = query_log(meter, "load_profile", t0, int(meter.t), 0, 100)
        assert total == want_total == len(got) == 12  # three hours of 15-minute periods
        for ours, theirs in zip(got, want, strict=True):
            assert ours["time"] == theirs["time"] and ours["status"] == theirs["status"]
            for key, code in (("a_plus", "1.8.0"), ("a_minus", "2.8.0")):
                assert ours[code] == pytest.approx(theirs[code], abs=resolution(key)), key
        page, total = await source.log("load_profile", t0, int(meter.t), 10, 5)
        assert total == 12 and [e["time"] for e in page] == [e["time"] for e in want[10:]]
        events, _ = await source.log("disconnect", None, None, 0, 100)
        want_events, _ = query_log(meter, "disconnect", None, None, 0, 100)
        assert events == want_events and events[-1]["type"] == want_events[-1]["type"]
        with pytest.raises(CommandError, match="unknown log 'nope'"):
            await source.log("nope", None, None, 0, 10)


class ServedHdlc(Served):
    """The same meter behind HDLC on TCP, or behind its optical port (mode C and E) on TCP."""

    def __init__(self, optical: bool) -> None:
        meter = wire_meter()
        super().__init__(meter, OpticalPort(meter) if optical else "hdlc")


@pytest.mark.parametrize("optical", [False, True], ids=["hdlc", "optical-head-mode-e"])
async def test_hdlc_and_an_optical_head_read_what_the_wrapper_reads(optical: bool) -> None:
    with ServedHdlc(optical) as served:
        options: dict[str, Any] = {"hdlc": True, "mode_e": optical, "client": 1, "security": "low",
                                   "password": PASSWORD}
        source = served.source(**options)
        readings = await source.read()
        model = served.meter.readings()
        assert readings["time"] == model["time"]
        for key in ("a_plus", "a_minus", "u_l1", "i_l2", "p_plus_max"):
            assert readings[key] == pytest.approx(model[key], abs=resolution(key)), key
        assert len(source.info.registers) > 100  # the object list came whole, in blocks over HDLC segments
        assert await source.execute(Command("breaker", "disconnect")) == {"breaker": "disconnected"}
        events, _ = await source.log("disconnect", None, None, 0, 10)
        assert events[-1]["type"] == served.meter.logs.query("disconnect")[0][-1].type
        if optical:  # the port went back to mode C: a readout still works on it
            reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            writer.write(b"/?!\r\n")
            ident = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
            writer.close()
            assert ident.startswith(b"/KAM") and b"\\2" in ident


async def test_the_tariff_command_goes_as_a_set_of_the_tariff_object() -> None:
    with Served() as served:
        source = served.source(client=1, security="low", password=PASSWORD)
        assert await source.execute(Command("tariff", 3)) == {"tariff": 3, "tariff_control": "3"}
        assert served.meter.tariffs.active == 3 and served.meter.tariffs.override == 3
        answer = await source.execute(Command("tariff", None))
        assert answer["tariff_control"] == "auto" and served.meter.tariffs.override is None
        assert answer["tariff"] == served.meter.tariffs.active
        with pytest.raises(CommandError, match="other_reason"):  # the MQTT command's own validation refuses 9
            await source.execute(Command("tariff", 9))


class _ListedRequests:
    """The wrapper PDUs a client sent, read off the meter's side of the line (what `converse_wrapper` reads)."""

    def __init__(self) -> None:
        self.frames = WrapperReader()
        self.apdus: list[bytes] = []

    def converse(self, meter: Meter, reader: asyncio.StreamReader, write: Callable[[bytes], None],
                 **extra: Any) -> Awaitable[None]:
        spy = self

        class Spying:
            async def read(self, n: int = -1) -> bytes:
                data = await reader.read(n)
                spy.apdus += [pdu.apdu for pdu in spy.frames.feed(data)]
                return data

        return converse_wrapper(meter, Spying(), write, **extra)  # type: ignore[arg-type]

    def plain(self, keys: tuple[str, str] | None) -> list[bytes]:
        """The APDUs as sent, deciphered with `keys` (EK, AK) where they were ciphered."""
        if keys is None:
            return self.apdus
        ek, ak = bytes.fromhex(keys[0]), bytes.fromhex(keys[1])
        return [unprotect(a, None, ek, ak).apdu if a[:1] == b"\xdb" else a for a in self.apdus]


@pytest.mark.parametrize("security", ["low", "high_gmac"])
async def test_a_publication_is_one_get_with_list_even_on_an_eight_tariff_meter(security: str) -> None:
    """The issue's "one GET-with-list per publication, not one request per register": every reading of a meter with
    T1–T8 (Z13 = 002) and its peaks' times in one request, plain or ciphered."""
    settings = {"start": START, "z13": 2, "dlms": {"password": PASSWORD, "encryption_key": EK,
                                                   "authentication_key": AK}}
    meter = stepped_meter("wire", settings, MeterSimSettings(start=START).start.timestamp(), hours=5)  # type: ignore[union-attr]
    assert meter.tariffs.tariff_count == 8
    listed = _ListedRequests()
    served = ServedMeter(meter, listed.converse, security=ServerSecurity(meter.id, meter.settings.dlms))
    keys = (EK, AK) if security == "high_gmac" else None
    dlms: dict[str, Any] = {"client": 1, "security": security, "password": PASSWORD}
    if keys:
        dlms = {"client": 1, "security": security, "encryption_key": EK, "authentication_key": AK}
    with served:
        source = DlmsSource(MeterConfig.model_validate(
            {"id": "wire", "source": "dlms", "transport": f"tcp:127.0.0.1:{served.port}", "dlms": dlms}))
        await source.read()  # the first read also learns the object list and the scalers
        listed.apdus.clear()
        readings = await source.read()
    assert "a_plus_t8" in readings and "p_plus_max_time" in readings
    lists = [ap.decode_apdu(a) for a in listed.plain(keys) if a[:2] == b"\xc0\x03"]
    assert len(lists) == 1
    assert isinstance(lists[0], ap.GetRequestWithList)
    read = {item.attribute.logical_name for item in lists[0].attributes}
    published = {o.logical_name for o in cosem_objects(meter.registers) if o.key in readings}
    assert len(published) > 100 and published <= read  # every reading came in that one request


CALENDAR_SETTING = {"day_plans": {"day": {"00:00": 1, "07:00": 2, "21:00": 1}, "rest": {"00:00": 1}},
                    "seasons": [{"start": "01-01", "working": "day", "non_working": "rest", "holiday": "rest"}]}


async def test_configure_writes_the_tariff_calendar_as_the_passive_calendar_and_activates_it() -> None:
    meter = stepped_meter("wire", {"start": START, "z13": 3, "dlms": {"password": PASSWORD}},
                          MeterSimSettings(start=START).start.timestamp(), hours=5)  # type: ignore[union-attr]
    with Served(meter) as served:
        source = served.source(client=1, security="low", password=PASSWORD)
        answer = await source.execute(Command("configure", json.dumps({"tariff_calendar": CALENDAR_SETTING})))
        assert answer == {"configured": {"tariff_calendar": CALENDAR_SETTING}}
        calendar = served.meter.settings.calendar
        # the plans as given (COSEM numbers day profiles: their names are not carried)
        assert sorted(map(str, calendar.day_plans.values())) == sorted(map(str, CALENDAR_SETTING["day_plans"].values()))
        assert served.meter.tariffs.active == 2  # a Monday afternoon: the working day plan
        assert [e.detail["settings"] for e in served.meter.logs.query("meter_status")[0]][-1] == ["tariff_calendar"]
        refusals = {
            "z4": ({"z4": 2}, r"configure\.z4: not carried over DLMS"),
            "exception days": ({"tariff_calendar": {**CALENDAR_SETTING, "exception_days": ["12-24"]}},
                               r"exception_days: the meter keeps its own"),
            "holiday": ({"tariff_calendar": {**CALENDAR_SETTING, "seasons": [
                {"start": "01-01", "working": "day", "non_working": "rest", "holiday": "day"}]}},
                r"seasons\[1\]\.holiday: 'day': over DLMS a season's holidays take its non-working plan"),
            "tariff 9": ({"tariff_calendar": {**CALENDAR_SETTING, "day_plans": {"day": {"00:00": 9}, "rest": {}}}},
                         r"configure\.tariff_calendar\.day_plans"),
        }
        for name, (value, error) in refusals.items():
            with pytest.raises(CommandError, match=error):
                await source.execute(Command("configure", json.dumps(value)))
            assert served.meter.settings.calendar == calendar, name  # nothing changed
        # What only the meter knows: it works Monday to Saturday, so one week gives its working days two plans.
        served.meter.reconfigure({"tariff_calendar": {**CALENDAR_SETTING, "working_days": [
            "mon", "tue", "wed", "thu", "fri", "sat"]}})
        other = {**CALENDAR_SETTING, "day_plans": {"day": {"00:00": 2}, "rest": {"00:00": 1}}}
        with pytest.raises(CommandError, match=r"refused to activate it \(other_reason"):
            await source.execute(Command("configure", json.dumps({"tariff_calendar": other})))
        with pytest.raises(CommandError, match="not supported over DLMS"):
            await served.source().execute(Command("configure", json.dumps({"tariff_calendar": other})))
