"""The gateway's side of firmware updates: the `firmware_update` command (its values, the dlms source sending an image
through DLMS Image Transfer over the wrapper and HDLC, the in-process source installing it), the folder of signed
images that "latest" and Home Assistant's update entity draw on, the update entity's discovery and the `firmware`
topic's payload, judged by tests/ha_rules.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import ha_rules as hr
import pytest
from dlms_harness import PASSWORD, START, ServedMeter, stepped_meter
from firmware_harness import KEY, NEW_VERSION, PUBLIC_PEM, image, tampered, with_key

from gateway.command_values import CommandError
from gateway.commands import Command, parse_set
from gateway.config import MeterConfig
from gateway.discovery import messages
from gateway.firmware_folder import FirmwareFolder, revision_key
from gateway.firmware_updates import FirmwareUpdates
from gateway.sources.base import FirmwareProgress, Readings
from gateway.sources.dlms import DlmsSource
from gateway.sources.simulated import SimulatedSource
from gateway.topics import Topics
from omnipower import firmware_image as fi


def management(served: ServedMeter, folder: Path | None = None, **dlms: Any) -> DlmsSource:
    options = {"client": 1, "security": "low", "password": PASSWORD, **dlms}
    return DlmsSource(MeterConfig.model_validate({"id": "w", "source": "dlms",
                                                 "transport": f"tcp:127.0.0.1:{served.port}", "dlms": options}),
                      firmware=FirmwareFolder(folder))


def drain(source: DlmsSource | SimulatedSource) -> list[FirmwareProgress]:
    out = []
    while not source.events.empty():
        event = source.events.get_nowait()
        if isinstance(event, FirmwareProgress):
            out.append(event)
    return out


@pytest.mark.parametrize("hdlc", [False, True], ids=["wrapper", "hdlc"])
async def test_the_dlms_source_sends_an_image_and_the_meter_runs_it(tmp_path: Path, hdlc: bool) -> None:
    meter = stepped_meter("w", with_key({"dlms": {"password": PASSWORD}}), hours=2)
    totals = meter.readings(["a_plus", "a_minus", "r_plus"])
    (tmp_path / "fw.img").write_bytes(image())
    with ServedMeter(meter, "hdlc" if hdlc else "wrapper") as served:
        source = management(served, tmp_path, hdlc=hdlc)
        answer = await source.execute(Command("firmware_update", "fw.img"))  # relative: in the folder
    assert answer == {"firmware_version": NEW_VERSION, "firmware_checksum": fi.parse(image()).checksum,
                      "previous": "5098736-U1"}
    assert meter.readings(["a_plus", "a_minus", "r_plus"]) == totals
    progress = drain(source)
    shown = [p.percentage for p in progress if p.in_progress]
    assert shown[0] == 0 and shown[-1] == 100 and shown == sorted(shown) and len(shown) > 3
    assert progress[-1] == FirmwareProgress(False, None, "")


async def test_a_refused_image_is_a_clear_error_and_the_old_firmware_runs_on(tmp_path: Path) -> None:
    meter = stepped_meter("w", with_key({"dlms": {"password": PASSWORD}}))
    bad = tmp_path / "bad.img"
    bad.write_bytes(tampered(image()))
    with ServedMeter(meter) as served:
        source = management(served)
        with pytest.raises(CommandError, match=r"refused image_verify .*verification failed.*does not match the "
                                               r"digest.*still runs 5098736-U1") as refused:
            await source.execute(Command("firmware_update", str(bad)))
        assert (await source.read())["firmware_version"] == "5098736-U1"
        assert source.info.sw_version == "5098736-U1"  # the dlms source tells HA's device the meter's firmware too
    assert drain(source)[-1].error == refused.value.reason


async def test_a_meter_without_a_key_and_the_public_client_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "fw.img"
    path.write_bytes(image())
    with ServedMeter(stepped_meter("w", {"dlms": {"password": PASSWORD}})) as served:
        with pytest.raises(CommandError, match=r"image transfer is disabled .it has no manufacturer key"):
            await management(served).execute(Command("firmware_update", str(path)))
        public = DlmsSource(MeterConfig.model_validate(
            {"id": "w", "source": "dlms", "transport": f"tcp:127.0.0.1:{served.port}"}))
        assert "firmware_update" not in public.info.commands
        with pytest.raises(CommandError, match="not supported over DLMS"):
            await public.execute(Command("firmware_update", str(path)))


async def test_files_that_are_no_image_are_refused_before_the_meter_is_bothered(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with ServedMeter(stepped_meter("w", with_key({"dlms": {"password": PASSWORD}}))) as served:
        source = management(served, tmp_path)
        for image_name, why in (("notes.txt", "notes.txt is not a firmware image: not a firmware image"),
                                ("missing.img", "missing.img is not a file"), (str(tmp_path), "is not a file"),
                                ("latest", "no signed image newer than")):
            with pytest.raises(CommandError, match=why):
                await source.execute(Command("firmware_update", image_name))
    assert served.meter.firmware.transfer.status == 0  # nothing was initiated


async def test_the_in_process_source_installs_latest_from_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.img").write_bytes(image("5098736-U2"))
    (folder / "b.img").write_bytes(image(NEW_VERSION))
    (folder / "unsigned.img").write_bytes(image("5098736-Z9", key=None))
    (folder / "bad.img").write_bytes(tampered(image("5098736-V2")))
    config = MeterConfig.model_validate({"id": "s", "start": START, **with_key().model_dump(exclude_unset=True)})
    source = SimulatedSource(config, tmp_path / "data", tick=None, firmware=FirmwareFolder(folder))
    answer = await source.execute(Command("firmware_update", "latest"))
    assert answer["firmware_version"] == NEW_VERSION and (await source.read())["firmware_version"] == NEW_VERSION
    assert source.info.sw_version == NEW_VERSION  # the device's firmware in Home Assistant
    with pytest.raises(CommandError, match=r"the meter refused the image: .*tampered.*; it still runs 5098736-V1"):
        await source.execute(Command("firmware_update", "bad.img"))
    with pytest.raises(CommandError, match="no signed image newer than 5098736-V1"):
        await source.execute(Command("firmware_update", "latest"))
    await source.close()
    again = SimulatedSource(config, tmp_path / "data", tick=None)  # its permanent memory holds the version
    assert (await again.read())["firmware_version"] == NEW_VERSION
    await again.close()


def test_the_folder_offers_the_newest_signed_image_of_the_meter_s_line(tmp_path: Path) -> None:
    for name, version, key in (("1", "5098736-U1", True), ("2", "5098736-AE6", True), ("3", "5098736-AF1", False),
                               ("4", "50981040-Z9", True), ("5", "5098736-V1", True)):
        (tmp_path / f"{name}.img").write_bytes(image(version, key=KEY if key else None))
    (tmp_path / "junk.bin").write_bytes(b"\0" * 100)
    now = [0.0]
    folder = FirmwareFolder(tmp_path, rescan_s=30, clock=lambda: now[0])
    assert sorted(o.version for o in folder.offers()) == ["50981040-Z9", "5098736-AE6", "5098736-U1", "5098736-V1"]
    latest = folder.latest("5098736-U1")
    assert latest is not None and latest.version == "5098736-AE6"  # B1 … U1, V1 …, then AE6 (the digest)
    assert folder.latest("5098736-AE6") is None and folder.latest("50981040-U1") is not None
    (tmp_path / "6.img").write_bytes(image("5098736-AE7"))
    assert folder.latest("5098736-AE6") is None  # not looked at again before rescan_s
    now[0] = 31
    newest = folder.latest("5098736-AE6")
    assert newest is not None and newest.version == "5098736-AE7"
    assert revision_key("x-U1") < revision_key("x-V1") < revision_key("x-AE6") < revision_key("x-AE10")


@pytest.mark.parametrize(("payload", "name", "value"), [
    (b'{"firmware_update": {"image": "/srv/fw.img"}, "transaction": 1}', None, "/srv/fw.img"),
    (b'{"image": "latest"}', "firmware_update", "latest"),
    (b"fw.img", "firmware_update", "fw.img"),
])
def test_the_command_takes_an_image_path_or_latest(payload: bytes, name: str | None, value: str) -> None:
    (command,) = parse_set(payload, name).commands
    assert command == Command("firmware_update", value)


@pytest.mark.parametrize(("payload", "why"), [
    (b'{"firmware_update": {}}', "firmware_update.image: required"),
    (b'{"firmware_update": {"image": 3}}', "firmware_update.image: invalid value 3"),
    (b'{"firmware_update": {"image": "a", "force": true}}', "firmware_update.force: unknown key"),
    (b'{"firmware_update": {"image": ""}}', "firmware_update.image: invalid value"),
    (b'{"firmware_update": {"image": "a\\u0000b"}}', "no NUL"),
    (b'{"firmware_update": null}', "firmware_update: invalid value None"),
])
def test_bad_command_values_are_named(payload: bytes, why: str) -> None:
    with pytest.raises(CommandError, match=why.replace("(", r"\(")):
        parse_set(payload)


def test_the_update_entity_is_announced_for_updatable_meters_and_passes_the_judge(tmp_path: Path) -> None:
    topics = Topics("omnipower")
    config = MeterConfig.model_validate({"id": "s", "start": START})
    source = SimulatedSource(config, tmp_path, tick=None)
    found = {t: json.loads(p) for t, p in messages(source.info, topics, "0.1.0")}
    update = found["homeassistant/update/omnipower_s/firmware/config"]
    assert hr.validate_message("homeassistant/update/omnipower_s/firmware/config", json.dumps(update)) == []
    assert (update["state_topic"], update["command_topic"], update["payload_install"]) == (
        "omnipower/s/firmware", "omnipower/s/set/firmware_update", '{"image": "latest"}')
    version = found["homeassistant/sensor/omnipower_s/firmware_version/config"]
    assert hr.validate_message("homeassistant/sensor/omnipower_s/firmware_version/config", json.dumps(version)) == []
    wire = DlmsSource(MeterConfig.model_validate({"id": "r", "source": "dlms", "transport": "tcp:127.0.0.1:1"}))
    assert not any("/update/" in t for t, _ in messages(wire.info, topics, "0.1.0"))  # the public client: none


def test_the_firmware_topic_follows_state_progress_and_failure(tmp_path: Path) -> None:
    (tmp_path / "new.img").write_bytes(image())
    config = MeterConfig.model_validate({"id": "s", "start": START, "firmware": {"public_key": PUBLIC_PEM}})
    source = SimulatedSource(config, tmp_path / "data", tick=None)
    updates = FirmwareUpdates(Topics("omnipower"), FirmwareFolder(tmp_path), {"s": source})
    (first,) = updates.on_state("s", {"firmware_version": "5098736-U1"})
    assert first.topic == "omnipower/s/firmware" and first.retain
    assert json.loads(first.payload) == {"installed_version": "5098736-U1", "latest_version": NEW_VERSION,
                                         "title": "OMNIPOWER firmware", "release_summary": "", "in_progress": False,
                                         "update_percentage": None}
    assert updates.on_state("s", {"firmware_version": "5098736-U1"}) == []  # nothing changed: nothing sent
    (going,) = updates.on_progress("s", FirmwareProgress(True, 40))
    (failed,) = updates.on_progress("s", FirmwareProgress(False, None, "the meter refused image_verify"))
    for message in (first, going, failed):
        assert hr.validate_update_state(message.payload) == []
    assert json.loads(going.payload)["update_percentage"] == 40
    assert json.loads(failed.payload)["release_summary"] == "The last update failed: the meter refused image_verify"
    assert updates.on_state("s", {"a_plus": 1.0}) == []  # a state without the version (a fleet's) says nothing
    updates.forget()
    assert len(updates.on_state("s", {"firmware_version": "5098736-U1"})) == 1  # a new broker session: again


async def test_while_the_image_goes_the_source_gives_the_readings_it_read_first(tmp_path: Path) -> None:
    meter = stepped_meter("w", with_key({"dlms": {"password": PASSWORD}}), hours=1)
    (tmp_path / "big.img").write_bytes(image(size=150_000))  # ~300 blocks: the transfer is seen under way
    with ServedMeter(meter) as served:
        source = management(served, tmp_path)
        before = await source.read()
        task = asyncio.create_task(source.execute(Command("firmware_update", "big.img")))
        seen: list[Readings] = []
        while not task.done():
            if source.firmware.busy:
                seen.append(await source.read())  # answered without waiting for the line
            await asyncio.sleep(0.005)
        assert (await task)["firmware_version"] == NEW_VERSION
    assert seen and all(r == before | {"time": r["time"]} for r in seen)
    assert all(r["firmware_version"] == "5098736-U1" for r in seen)
