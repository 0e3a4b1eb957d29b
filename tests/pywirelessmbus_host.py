"""pyWirelessMbus (PyPI `pywirelessmbus`, MIT) driving an iM871A on the serial line named by argv[1], as its own
examples do, and telling on stdout, one JSON object a line, what it learnt from the stick. tests/
test_im871a_judge.py runs it in a process of its own: the library stops the event loop when its port closes
and logs through loguru. The test writes a line on stdin when it has let the meter transmit."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from loguru import logger
from pywirelessmbus import WMbus

INFO_LINES = ("Module Type: ", "Device Mode: ", "Firmware: ", "HCI Protocol version: ", "Device ID: ")


def say(**what: Any) -> None:
    print(json.dumps(what), flush=True)


async def until(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(10):
            while not condition():  # noqa: ASYNC110 - the library has no events to wait on
                await asyncio.sleep(0.02)
    except TimeoutError:
        say(step="timeout", waiting_for=what)
        os._exit(1)


async def the_test_says_go() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def main(path: str) -> None:
    lines: list[str] = []
    logger.remove()
    logger.add(lambda m: lines.append(m.record["message"]), level="DEBUG")
    logger.enable("pywirelessmbus")
    wmbus = WMbus("IM871A_USB", path=path)
    await wmbus.start()  # opens the port and asks GET_CONFIG
    stick = wmbus.stick
    assert stick is not None
    heard: list[Any] = []
    stick.on_radio_message = heard.append  # every radio-link message, as the library decoded it

    def config() -> dict[str, Any]:
        return {"link_mode": stick.link_mode, "device_mode": stick.device_mode, "rssi": stick.auto_rssi_attachment,
                "timestamp": stick.auto_timestamp_attachment, "device_id": stick.device_id,
                "manufacturer_id": stick.manufacturer_id}

    await until(lambda: stick.link_mode != -1, "GET_CONFIG_RSP")
    say(step="config", **config())
    stick.ping()
    await until(lambda: "Receive a valid ping response from IM871A" in lines, "PING_RSP")
    stick.get_device_infos()
    await until(lambda: any(line.startswith("Device ID: ") for line in lines), "GET_DEVICEINFO_RSP")
    say(step="device info", lines=[line for line in lines if line.startswith(INFO_LINES)])  # config lines first
    stick.link_mode = "T1"
    await until(lambda: stick.link_mode == 3, "T1 in GET_CONFIG_RSP")
    say(step="T1", **config())
    await the_test_says_go()  # the meter transmitted meanwhile
    stick.link_mode = "C1, Telegram Format B"
    await until(lambda: stick.link_mode == 7, "C1-TF-B in GET_CONFIG_RSP")
    stick.auto_rssi_attachment = True
    await until(lambda: stick.auto_rssi_attachment is True, "auto RSSI in GET_CONFIG_RSP")
    stick.auto_timestamp_attachment = True
    await until(lambda: stick.auto_timestamp_attachment is True, "auto time stamp in GET_CONFIG_RSP")
    say(step="listening", heard_so_far=len(heard), **config())
    await until(lambda: bool(heard), "a WMBUSMSG_IND")
    message = heard[0]
    say(step="heard", endpoint=message.endpoint_id, message_id=message.message_id.hex(), payload=message.payload.hex(),
        rssi=message.rssi, timestamp=message.timestamp.hex(), crc=message.crc.hex())
    stick.reset()
    await until(lambda: "Receive a valid reset response. Stick will reset soon." in lines, "RESET_RSP")
    say(step="done")
    os._exit(0)  # closing the port would stop the loop under us (the library's connection_lost)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
