"""The status page in a real headless Chromium, against the real gateway and a real Mosquitto: the LCD read back
segment by segment against the meter's `display` publication, live power, the breaker operated from the page and seen
on MQTT, a refused command's error as MQTT words it, and controls refused without credentials. Screenshots go to
test-artifacts/web/ (git-ignored)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest
from chromium import Chromium, Page
from conftest import Mosquitto, Probe, free_port, probe_client
from gateway_harness import gateway_config, request, running_gateway
from segment_fonts import read_as

pytestmark = pytest.mark.integration

USER, PASSWORD = "admin", "correct horse"
# Ten meter seconds a second: start-up is over in 1.5 s and the automatic list shows its three items a second each.
METER = {"id": "m1", "speed": 10, "z9": 1, "smart_disconnect": {"basis": "power", "limit": 80000},
         "display": {"automatic": ["1.8.0", "1.0.0", "32.7.0"]}}


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    browser = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()


@pytest.fixture
async def page(chromium: Chromium) -> AsyncIterator[Page]:
    async with chromium.page() as tab:
        yield tab


async def gateway(tmp_path: Path, mosquitto: Mosquitto, **web: Any) -> tuple[Path, str]:
    port = free_port()
    config = gateway_config(tmp_path, mosquitto.port, [dict(METER)],
                            web={"enabled": True, "port": port, **web})
    return config, f"http://127.0.0.1:{port}"


LCD_CELLS = """(() => {
  const svg = document.querySelector('#lcd-m1');
  if (!svg || svg.dataset.blank !== 'false') return null;
  const field = (name) => [...svg.querySelectorAll(`[data-field="${name}"] .cell`)].map((cell) => {
    const on = [...cell.querySelectorAll('.seg.on')].map((s) => s.dataset.seg);
    return [on.filter((s) => s !== 'dp' && s !== 'colon'), on.includes('dp'), on.includes('colon')];
  });
  const lit = (sym) => [...svg.querySelectorAll(`[data-sym="${sym}"].on`)].map((s) => ({...s.dataset}));
  return {time: svg.dataset.time, item: svg.dataset.item, value: field('value'), ident: field('ident'),
          text: field('text'), tariff: field('tariff'), breaker: lit('breaker'), quadrant: lit('quadrant'),
          units: lit('unit').map((u) => u.piece)};
})()"""


def cells(raw: list[list[Any]]) -> list[tuple[frozenset[str], bool, bool]]:
    return [(frozenset(on), bool(point), bool(colon)) for on, point, colon in raw]


async def test_the_page_draws_the_lcd_the_meter_publishes(tmp_path: Path, mosquitto: Mosquitto, page: Page) -> None:
    config, url = await gateway(tmp_path, mosquitto, username=USER, password=PASSWORD)
    async with probe_client(mosquitto, "omnipower/m1/display") as probe, running_gateway(config):
        await probe.wait_for("omnipower/m1/display")
        await page.goto(url + "/")
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < 3:  # each item of the automatic list: an energy, the date and time, a voltage
            lcd = await page.wait_for(LCD_CELLS)
            if lcd["item"] in seen or lcd["item"] not in ("1.8.0", "1.0.0", "32.7.0"):
                await page.wait_for(f"document.querySelector('#lcd-m1').dataset.time !== {json.dumps(lcd['time'])}")
                continue
            published = (await probe.wait_for("omnipower/m1/display",
                                              lambda m, t=lcd["time"]: m.json()["time"] == t)).json()
            assert published["item"] == lcd["item"]
            assert read_as(cells(lcd["value"]), published["value"]), (lcd["value"], published["value"])
            assert read_as(cells(lcd["ident"]), published["ident"])
            assert read_as(cells(lcd["text"]), published["text_field"].upper(), fourteen=True)
            assert read_as(cells(lcd["tariff"]), str(published["tariff"] or ""))
            assert [b["state"] for b in lcd["breaker"]] == ["connected"] == [published["breaker"]]
            assert [q["quadrant"] for q in lcd["quadrant"]] == ([str(published["quadrant"])]
                                                                if published["quadrant"] else [])
            # the unit's legends lit, and no other (the LCD prints "kvarh" as k, var and h)
            assert any("".join(order) == published["unit"] for order in permutations(lcd["units"]))
            seen[lcd["item"]] = published
            await page.screenshot(f"lcd-{lcd['item']}")
    assert seen["1.0.0"]["value"].count(":") == 2 and seen["1.8.0"]["unit"] == "kWh"


@pytest.mark.parametrize("transport", ["events", "poll"])
async def test_live_power_and_energy_follow_the_state(tmp_path: Path, mosquitto: Mosquitto, page: Page,
                                                      transport: str) -> None:
    """By the event stream, and by polling `/live` (what the page falls back to when a proxy holds the stream up)."""
    config, url = await gateway(tmp_path, mosquitto)
    async with probe_client(mosquitto, "omnipower/m1/#") as probe, running_gateway(config):
        await probe.wait_for("omnipower/m1/state")
        await page.goto(url + ("/?transport=poll" if transport == "poll" else "/"))
        assert await page.evaluate("document.body.dataset.transport") == transport
        shown: list[dict[str, str]] = []
        while len({s["time"] for s in shown}) < 4:  # four publications, as the stream brings them
            previous = shown[-1]["time"] if shown else ""
            now = await page.wait_for(f"""(() => {{
                const t = document.querySelector('[data-live="m1"] [data-field="time"]').textContent;
                if (t === {json.dumps(previous)} || t === '–') return null;
                const r = {{time: t}};
                for (const el of document.querySelectorAll('[data-live="m1"] [data-reading]'))
                  r[el.dataset.reading] = el.textContent;
                return r; }})()""")
            state = (await probe.wait_for("omnipower/m1/state", lambda m, t=now["time"]: m.json()["time"] == t)).json()
            for key, unit, decimals in (("p_plus", "W", 0), ("p_minus", "W", 0), ("a_plus", "kWh", 3),
                                        ("a_minus", "kWh", 3)):
                assert now[key] == f"{state[key]:.{decimals}f} {unit}"
            shown.append(now)
        # the readings themselves move: the meter's energy counts on between the first and the last
        assert any(shown[0][k] != shown[-1][k] for k in ("a_plus", "a_minus", "p_plus", "p_minus"))
        assert (await page.evaluate("document.querySelector('.notice').textContent")).startswith("Read-only")
        # an alarm: phase L1 lost (a simulation input, over MQTT); the page lists what the alarms topic says
        await probe.publish("omnipower/m1/set/voltage_l1", "0")
        alarms = await probe.wait_for("omnipower/m1/alarms", lambda m: bool(m.json()["active"]))
        for alarm in alarms.json()["active"]:
            selector = f'[data-live="m1"] [data-alarm="{alarm["type"]}"]'
            await page.wait_for(f"!!document.querySelector({json.dumps(selector)})")
        await page.screenshot(f"read-only-with-alarm-{transport}")


async def log_in(page: Page, url: str, password: str = PASSWORD) -> None:
    await page.goto(url + "/login")
    await page.evaluate(f"""document.querySelector('#username').value = {json.dumps(USER)};
        document.querySelector('#password').value = {json.dumps(password)};
        document.querySelector('#login-submit').click(); true""")


async def click(page: Page, command: str, value: str) -> str:
    """Press a control of meter m1 and return the answer the page shows."""
    await page.evaluate("document.querySelector('[data-result=\"m1\"]').textContent = ''")
    await page.evaluate(f"document.querySelector('form[data-command=\"{command}\"] "
                        f"button[data-value=\"{value}\"]').click()")
    text: str = await page.wait_for("(() => { const t = document.querySelector('[data-result=\"m1\"]').textContent;"
                                    " return t && t !== '…' ? t : null; })()")
    return text


async def test_the_breaker_operated_from_the_page(tmp_path: Path, mosquitto: Mosquitto, page: Page) -> None:
    config, url = await gateway(tmp_path, mosquitto, username=USER, password=PASSWORD)
    async with probe_client(mosquitto, "omnipower/#") as probe, running_gateway(config):
        await probe.wait_for("omnipower/m1/breaker", lambda m: m.json()["state"] == "connected")
        await log_in(page, url)
        await page.wait_for("location.pathname === '/' && !!document.querySelector('#logout')")
        mark = probe.mark()
        answer = await click(page, "breaker", "disconnect")
        assert answer.startswith("ok: ") and json.loads(answer[4:])["breaker"] == "disconnected"
        event = await probe.wait_for("omnipower/m1/breaker", lambda m: m.json()["state"] == "disconnected",
                                     after=mark)
        assert event.json()["reason"] == "remote"
        # the stream brings the change to the page: the breaker line and the LCD's open contact
        await page.wait_for("document.querySelector('[data-live=\"m1\"] [data-field=\"breaker\"]').textContent "
                            "=== 'disconnected'")
        await page.wait_for("!!document.querySelector("
                            "'#lcd-m1 [data-sym=\"breaker\"][data-state=\"disconnected\"].on')")
        await page.screenshot("breaker-disconnected")

        # refused by the meter: the page shows MQTT's error text, word for word
        refused = await click(page, "breaker", "disconnect")
        mqtt = await request(probe, "omnipower/m1/set/breaker", "disconnect")
        assert mqtt["status"] == "error" and refused == mqtt["error"]
        assert "already disconnected" in refused
        await page.screenshot("breaker-refused")

        # the tariff select, through the same path
        await page.evaluate("document.querySelector('form[data-command=\"tariff\"] select').value = '3'; "
                            "document.querySelector('[data-result=\"m1\"]').textContent = ''; "
                            "document.querySelector('form[data-command=\"tariff\"] button').click(); true")
        tariff = await page.wait_for("(() => { const t = document.querySelector('[data-result=\"m1\"]').textContent;"
                                     " return t && t !== '…' ? t : null; })()")
        assert json.loads(tariff.removeprefix("ok: "))["tariff_control"] == "3"
        await probe.wait_for("omnipower/m1/state", lambda m: m.json().get("tariff_control") == "3", after=mark)


async def test_no_control_without_credentials(tmp_path: Path, mosquitto: Mosquitto, page: Page) -> None:
    config, url = await gateway(tmp_path, mosquitto, username=USER, password=PASSWORD)
    async with probe_client(mosquitto, "omnipower/m1/breaker") as probe, running_gateway(config):
        await probe.wait_for("omnipower/m1/breaker")
        await page.goto(url + "/")
        assert await page.wait_for("[...document.querySelectorAll('.controls button')].every((b) => b.disabled)")
        # a POST from the page itself (same origin, no session): refused
        status = await page.evaluate(f"""fetch({json.dumps(url + '/meters/m1/command')}, {{method: 'POST',
            body: new URLSearchParams({{command: 'breaker', value: 'disconnect'}})}}).then((r) => r.status)""")
        assert status == 401
        await log_in(page, url, "wrong password")
        assert "Wrong user name or password" in await page.wait_for(
            "document.querySelector('#login-error')?.textContent")
        await page.screenshot("login-refused")
        await _no_breaker_change(probe)


async def _no_breaker_change(probe: Probe) -> None:
    assert all(json.loads(m.payload)["state"] == "connected" for m in probe.messages
               if m.topic == "omnipower/m1/breaker")
