"""The status page over real TCP, against the real gateway and Mosquitto, read with h11 as the client: security
headers, malformed HTTP never stopping the server, login, sessions and CSRF, commands answered in MQTT's words,
read-only mode, Home Assistant's ingress prefix, and the event stream."""

from __future__ import annotations

import asyncio
import json
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import h11
import pytest
from conftest import Mosquitto, free_port, probe_client
from gateway_harness import gateway_config, request, running_gateway

from gateway.web import app as web_app
from gateway.web import server as web_server

pytestmark = pytest.mark.integration

USER, PASSWORD = "admin", "correct horse"
PREFIX = "/api/hassio_ingress/Xy3-abc_DEF"


class Reply:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n == name), None)

    @property
    def text(self) -> str:
        return self.body.decode()


async def send_raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Bytes to the server; everything it answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        out = b""
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                out += chunk
        return out
    finally:
        writer.close()


async def http(port: int, method: str, path: str, body: bytes = b"", **headers: str) -> Reply:
    client = h11.Connection(h11.CLIENT)
    fields = [("Host", f"127.0.0.1:{port}"), ("Connection", "close"),
              *((k.replace("_", "-"), v) for k, v in headers.items())]
    if body:
        fields += [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", str(len(body)))]
    data = client.send(h11.Request(method=method, target=path, headers=fields))
    data += client.send(h11.Data(data=body)) if body else b""
    data += client.send(h11.EndOfMessage())
    client.receive_data(await send_raw(port, data))
    client.receive_data(b"")
    response = client.next_event()
    assert isinstance(response, h11.Response), response
    out = b""
    while isinstance(event := client.next_event(), h11.Data):
        out += event.data
    return Reply(response.status_code, [(n.decode().lower(), v.decode()) for n, v in response.headers], out)


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


async def gateway(tmp_path: Path, mosquitto: Mosquitto, **web: Any) -> tuple[Path, int]:
    port = free_port()
    config = gateway_config(tmp_path, mosquitto.port, web={"enabled": True, "port": port, **web})
    return config, port


async def started(port: int) -> None:
    async with asyncio.timeout(10):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return


async def log_in(port: int) -> tuple[str, str]:
    """The session cookie and the page's CSRF token."""
    reply = await http(port, "POST", "/login", form(username=USER, password=PASSWORD))
    assert reply.status == 303
    cookie = (reply.header("set-cookie") or "").split(";")[0]
    page = await http(port, "GET", "/", Cookie=cookie)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match is not None
    return cookie, match.group(1)


async def test_headers_pages_and_refusals(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config, port = await gateway(tmp_path, mosquitto)
    async with running_gateway(config):
        await started(port)
        page = await http(port, "GET", "/")
        assert page.status == 200 and page.header("content-type") == "text/html; charset=utf-8"
        csp = page.header("content-security-policy") or ""
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'self'" in csp
        assert page.header("x-content-type-options") == "nosniff" and page.header("x-frame-options") == "SAMEORIGIN"
        assert page.header("referrer-policy") == "no-referrer" and page.header("cache-control") == "no-store"
        assert "<script>" not in page.text and " style=" not in page.text  # nothing inline for the CSP to refuse
        script = await http(port, "GET", "/static/page.js")
        assert script.status == 200 and script.header("content-type") == "text/javascript; charset=utf-8"
        assert b"EventSource" in script.body
        head = await http(port, "HEAD", "/static/page.css")
        assert head.status == 200 and head.body == b"" and int(head.header("content-length") or 0) > 1000
        assert (await http(port, "GET", "/nothing")).status == 404
        wrong = await http(port, "POST", "/")
        assert wrong.status == 405 and wrong.header("allow") == "GET, HEAD"
        assert (await http(port, "GET", "/meters/m1/command")).status == 405


async def test_malformed_http_never_stops_the_server(tmp_path: Path, mosquitto: Mosquitto,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_server, "REQUEST_TIMEOUT_S", 0.3)
    config, port = await gateway(tmp_path, mosquitto)
    bad = [b"\x00\xff" * 100 + b"\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n", b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
           b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n",
           b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           b"GET /" + b"x" * 20000 + b" HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: a\r\n" + b"A: b\r\n" * 200 + b"\r\n",
           b"POST /meters/m1/command HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           b"Content-Length: 4\r\n\r\n\xff\xfe=\x80",
           b"POST /login HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           b"Content-Length: 109\r\n\r\n" + b"&".join(b"f%d=1" % n for n in range(20))]
    rng = random.Random(16)
    bad += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) + b"\r\n\r\n" for _ in range(20)]
    async with running_gateway(config):
        await started(port)
        for data in bad:
            answer = await send_raw(port, data)
            status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
            assert status is not None and 400 <= status < 600, (data[:60], answer[:80])
        # half a request, then silence: timed out with 408, not held for ever
        assert (await send_raw(port, b"GET / HTTP/1.1\r\nHost: a\r\n")).startswith(b"HTTP/1.1 408 ")
        # a client that goes away mid-request, and one that sends two requests at once (keep-alive, pipelined)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTT")
        writer.close()
        both = await send_raw(port, b"GET /static/page.css HTTP/1.1\r\nHost: a\r\n\r\n"
                                    b"GET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert both.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 404 " in both
        assert (await http(port, "GET", "/")).status == 200  # still serving


async def test_login_csrf_and_commands_in_mqtts_words(tmp_path: Path, mosquitto: Mosquitto,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_app, "LOGIN_DELAY_S", 0.05)
    config, port = await gateway(tmp_path, mosquitto, username=USER, password=PASSWORD)
    async with probe_client(mosquitto, "omnipower/#") as probe, running_gateway(config):
        await started(port)
        await probe.wait_for("omnipower/m1/breaker")
        wrong = await http(port, "POST", "/login", form(username=USER, password="nope nope"))
        assert wrong.status == 403 and "Wrong user name or password" in wrong.text
        assert wrong.header("set-cookie") is None
        login = await http(port, "POST", "/login", form(username=USER, password=PASSWORD))
        cookie_header = login.header("set-cookie") or ""
        assert login.status == 303 and login.header("location") == "/"
        assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {p.strip() for p in cookie_header.split(";")}
        cookie, csrf = await log_in(port)
        url = "/meters/m1/command"
        disconnect = form(command="breaker", value="disconnect")

        nobody = await http(port, "POST", url, disconnect)
        assert nobody.status == 401 and nobody.header("www-authenticate")
        assert (await http(port, "POST", url, disconnect, Cookie="omnipower_session=forged")).status == 401
        no_token = await http(port, "POST", url, disconnect, Cookie=cookie)
        assert no_token.status == 403 and "CSRF" in json.loads(no_token.body)["error"]
        bad_token = await http(port, "POST", url, form(command="breaker", value="disconnect", csrf="x" * 43),
                               Cookie=cookie)
        assert bad_token.status == 403
        assert all(m.json()["state"] == "connected" for m in probe.messages if m.topic == "omnipower/m1/breaker")

        mark = probe.mark()
        done = await http(port, "POST", url, form(command="breaker", value="disconnect", csrf=csrf), Cookie=cookie)
        assert done.status == 200 and json.loads(done.body) == {
            "transaction": None, "status": "ok", "data": {"breaker": "disconnected", "previous": "connected"},
            "error": None}
        await probe.wait_for("omnipower/m1/breaker", lambda m: m.json()["state"] == "disconnected", after=mark)

        # refused by the command table's parser and by the meter: the same words as MQTT's response
        for command, value in (("tariff", "9"), ("tariff", "x"), ("breaker", "open"), ("breaker", "disconnect"),
                               ("breaker", "")):
            page = json.loads((await http(port, "POST", url, form(command=command, value=value, csrf=csrf),
                                          Cookie=cookie)).body)
            mqtt = await request(probe, f"omnipower/m1/set/{command}", value)
            assert page["status"] == mqtt["status"] == "error" and page["error"] == mqtt["error"], (page, mqtt)
        other = await http(port, "POST", url, form(command="configure", value="{}", csrf=csrf), Cookie=cookie)
        assert other.status == 400 and "breaker, tariff" in json.loads(other.body)["error"]
        assert (await http(port, "POST", "/meters/m9/command", disconnect, Cookie=cookie)).status == 404

        logout = await http(port, "POST", "/logout", form(csrf=csrf), Cookie=cookie)
        assert logout.status == 303 and "Max-Age=0" in (logout.header("set-cookie") or "")
        after = await http(port, "POST", url, form(command="breaker", value="connect", csrf=csrf), Cookie=cookie)
        assert after.status == 401


async def test_read_only_without_credentials(tmp_path: Path, mosquitto: Mosquitto,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_app, "LOGIN_DELAY_S", 0.05)
    config, port = await gateway(tmp_path, mosquitto)
    async with running_gateway(config):
        await started(port)
        page = await http(port, "GET", "/")
        assert "Read-only" in page.text and 'name="csrf"' in page.text and " disabled>" in page.text
        refused = await http(port, "POST", "/meters/m1/command", form(command="breaker", value="disconnect"))
        assert refused.status == 403 and "read-only" in json.loads(refused.body)["error"]
        login = await http(port, "POST", "/login", form(username="", password=""))
        assert login.status == 403 and "read-only" in login.text


async def test_served_under_home_assistants_ingress_path(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config, port = await gateway(tmp_path, mosquitto, username=USER, password=PASSWORD)
    async with running_gateway(config):
        await started(port)
        page = await http(port, "GET", "/", X_Ingress_Path=PREFIX)
        assert f'href="{PREFIX}/static/page.css"' in page.text and f'src="{PREFIX}/static/page.js"' in page.text
        assert f'href="{PREFIX}/login"' in page.text and f'data-base="{PREFIX}"' in page.text
        login = await http(port, "POST", "/login", form(username=USER, password=PASSWORD), X_Ingress_Path=PREFIX)
        assert login.header("location") == f"{PREFIX}/" and f"Path={PREFIX}/" in (login.header("set-cookie") or "")
        cookie = (login.header("set-cookie") or "").split(";")[0]
        page = await http(port, "GET", "/", Cookie=cookie, X_Ingress_Path=PREFIX)
        assert f'action="{PREFIX}/meters/m1/command"' in page.text
        for hostile in ('/x"><script>alert(1)</script>', "//evil.example", "/a/../b", "relative"):
            page = await http(port, "GET", "/", X_Ingress_Path=hostile)
            assert 'data-base=""' in page.text and "evil" not in page.text and "alert" not in page.text


async def test_the_event_stream_sends_each_meter(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config, port = await gateway(tmp_path, mosquitto)
    async with running_gateway(config):
        await started(port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        async with asyncio.timeout(10):
            while data.count(b"event: meter") < 2:  # the first at once, the next when the state is published again
                data += await reader.read(65536)
        writer.close()
        head, _, stream = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Type: text/event-stream" in head
        assert b"Content-Length" not in head and b"Connection: close" in head and b"X-Accel-Buffering: no" in head
        event = stream.split(b"event: meter\ndata: ", 1)[1].split(b"\n\n", 1)[0]
        doc = json.loads(event)
        assert doc["id"] == "m1" and 'data-field="availability"' in doc["html"]
        polled = await http(port, "GET", "/live")  # the same parts, for a page that polls
        assert polled.header("content-type") == "application/json"
        (meter,) = json.loads(polled.body)["meters"]
        assert meter["id"] == "m1" and 'data-field="availability"' in meter["html"]
