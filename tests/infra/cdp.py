"""A headless Chromium driven over the DevTools protocol (websockets), for verify's
browser tests: no Selenium, no chromedriver, only Debian's `chromium`.

The site's name is mapped to the test host's address for this browser only, and
exactly the server's key is trusted (the local CA is not in the profile), as in
test_present.py's page load.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import websockets

# Headless, without the sandbox (root in a container) and without background traffic.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


class Page:
    """One tab: evaluate script, navigate, wait for a condition, take a screenshot."""

    def __init__(self, ws: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._ws, self._loop, self._next = ws, loop, 0
        self.console: list[str] = []

    def _run(self, coroutine: Any) -> Any:
        return self._loop.run_until_complete(coroutine)

    async def _command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        await self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self._ws.recv(), 60))
            if message.get("method") == "Runtime.exceptionThrown":
                self.console.append(json.dumps(message["params"])[:500])
            if message.get("method") == "Page.javascriptDialogOpening":
                # window.confirm of a delete button: the person says yes.
                await self._ws.send(
                    json.dumps(
                        {
                            "id": 0,
                            "method": "Page.handleJavaScriptDialog",
                            "params": {"accept": True},
                        }
                    )
                )
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._run(self._command(method, params))
        return result

    def js(self, expression: str) -> Any:
        """The value of `expression` in the page (promises awaited)."""
        result = self.command(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:200]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        self.command("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", f"{url} loaded")

    def wait_for(self, expression: str, what: str, timeout: float = 10) -> float:
        """Seconds until `expression` is truthy in the page."""
        start = time.monotonic()
        while not self.js(expression):
            if time.monotonic() - start > timeout:
                raise AssertionError(f"not within {timeout} s: {what}; errors: {self.console}")
            time.sleep(0.1)
        return time.monotonic() - start

    def screenshot(self, path: Path) -> None:
        data = self.command("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def chromium(chromium_path: str, *, site_name: str, address: str, spki: str) -> Iterator[Page]:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bbdash-cdp-") as user_data:
        process = subprocess.Popen(
            [
                chromium_path,
                *CHROMIUM_FLAGS,
                "--window-size=1400,1000",
                f"--user-data-dir={user_data}",
                f"--remote-debugging-port={port}",
                f"--host-resolver-rules=MAP {site_name} {address}",
                f"--ignore-certificate-errors-spki-list={spki}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        loop = asyncio.new_event_loop()
        try:
            targets = _targets(port, process)
            url = next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]
            ws = loop.run_until_complete(websockets.connect(url, max_size=None))
            page = Page(ws, loop)
            page.command("Page.enable")
            page.command("Runtime.enable")
            try:
                yield page
            finally:
                loop.run_until_complete(ws.close())
        finally:
            loop.close()
            process.terminate()
            process.wait(timeout=20)


def _targets(port: int, process: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as answer:
                targets: list[dict[str, Any]] = json.load(answer)
                return targets
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("chromium's DevTools endpoint did not answer") from None
            time.sleep(0.2)
