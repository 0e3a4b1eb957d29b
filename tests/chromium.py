"""A real headless Chromium (Debian's `chromium`), driven over the Chrome DevTools Protocol on a websocket: no browser
download, no driver. `Chromium` is the process; `Page` one tab: navigate, evaluate JavaScript, wait for a condition,
take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from conftest import free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "web"  # git-ignored; screenshots of the status page tests


def chromium_binary() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is missing: run scripts/test.sh, which installs Debian's chromium")
    return path


class Chromium:
    def __init__(self, profile: Path) -> None:
        self.port = free_port()
        # --no-sandbox: the tests may run as root (CI does), where Chromium's sandbox refuses to start.
        self.proc = subprocess.Popen(
            [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio",
             f"--remote-debugging-port={self.port}", "--remote-debugging-address=127.0.0.1",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                self._http("/json/version")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    stop_process(self.proc)
                    raise RuntimeError("Chromium did not open its DevTools port") from None
                time.sleep(0.1)

    def _http(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
        return json.loads(body) if body.startswith((b"{", b"[")) else body.decode()  # /json/close answers in words

    @contextlib.asynccontextmanager
    async def page(self, width: int = 1280, height: int = 1100) -> AsyncIterator[Page]:
        """A new tab, closed afterwards."""
        target = await asyncio.to_thread(self._http, "/json/new?about:blank", "PUT")
        async with websockets.connect(target["webSocketDebuggerUrl"], max_size=64 * 2**20) as ws:
            page = Page(ws)
            reader = asyncio.create_task(page.read())
            try:
                await page.call("Page.enable")
                await page.call("Runtime.enable")
                await page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                                deviceScaleFactor=1, mobile=False)
                yield page
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await reader
        with contextlib.suppress(OSError):
            await asyncio.to_thread(self._http, f"/json/close/{target['id']}")

    def close(self) -> None:
        stop_process(self.proc, 5)


class Page:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.console: list[str] = []  # console messages and exceptions of the page (for failure messages)

    async def read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            future = self._waiting.pop(msg.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(msg)
            elif msg.get("method") == "Runtime.consoleAPICalled":
                self.console.append(" ".join(str(a.get("value", a.get("description"))) for a in msg["params"]["args"]))
            elif msg.get("method") == "Runtime.exceptionThrown":
                self.console.append(str(msg["params"]["exceptionDetails"]))

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[n] = future
        await self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        async with asyncio.timeout(20):
            msg = await future
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        result: dict[str, Any] = msg["result"]
        return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """The first truthy value of `expression`, evaluated until it is (polling: the page changes by itself)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if value := await self.evaluate(expression):
                        break
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"not true within {timeout} s: {expression}\nconsole: {self.console}") from None
        return value

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    async def screenshot(self, name: str) -> Path:
        """A PNG of the whole page in test-artifacts/web/ (printed, so that a run's log names it)."""
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        print(f"screenshot: {path}")
        return path
