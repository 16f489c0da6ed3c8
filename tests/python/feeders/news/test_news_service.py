"""The service: loops survive failures, the supervisor notices dead tasks, and a demo run
writes tagged points to an InfluxDB-shaped HTTP endpoint and serves /healthz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from bbdash.common.config import load_settings
from bbdash.common.health import Heartbeat
from bbdash.news_feeder.config import NewsSettings
from bbdash.news_feeder.metrics import NewsMetrics
from bbdash.news_feeder.pipeline import NewsPipeline
from bbdash.news_feeder.service import poll_loop, run, supervise
from bbdash.sentiment import default_scorer


class FlakyPoller:
    name = "flaky"
    interval_s = 0.01

    def __init__(self):
        self.calls = 0

    async def poll(self):
        self.calls += 1
        if self.calls % 2:
            raise RuntimeError("bug in a parser")
        return []


def test_poll_loop_survives_exceptions(metrics):
    heartbeat = Heartbeat(metrics)
    pipeline = NewsPipeline(
        submit=lambda p: True,
        dedupe=None,
        scorer=default_scorer(),
        metrics=NewsMetrics(metrics),
    )
    poller = FlakyPoller()

    async def scenario():
        task = asyncio.create_task(poll_loop(poller, pipeline).run(heartbeat))
        while poller.calls < 6:
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert heartbeat.status()[0]


def test_supervisor_stops_beating_when_a_task_dies(metrics):
    heartbeat = Heartbeat(metrics)

    async def scenario():
        async def boom():
            raise RuntimeError("died")

        task = asyncio.create_task(boom(), name="boom")
        await asyncio.sleep(0)
        await asyncio.wait_for(supervise([task], heartbeat), 5)

    asyncio.run(scenario())  # returns instead of looping forever


class _Influx(BaseHTTPRequestHandler):
    lines: ClassVar[list[str]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).lines.extend(body.splitlines())
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        return


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_run_end_to_end(tmp_path, monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("BBDASH_"):
            monkeypatch.delenv(key)
    influx = ThreadingHTTPServer(("127.0.0.1", 0), _Influx)
    threading.Thread(target=influx.serve_forever, daemon=True).start()
    port = _free_port()
    settings = load_settings(
        NewsSettings,
        demo={"enabled": True, "interval_s": 0.05},
        influx={"url": f"http://127.0.0.1:{influx.server_address[1]}", "token": "t",
                "flush_interval_s": 0.05},
        spool={"path": str(tmp_path / "spool.sqlite")},
        dedupe={"path": str(tmp_path / "dedupe.sqlite")},
        metrics={"host": "127.0.0.1", "port": port},
    )  # fmt: skip

    def get(path):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()

    async def scenario():
        task = asyncio.create_task(run(settings))
        try:
            for _ in range(200):
                if len(_Influx.lines) >= 3:
                    break
                await asyncio.sleep(0.05)
            health = await asyncio.to_thread(get, "/healthz")
            scrape = await asyncio.to_thread(get, "/metrics")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return health, scrape

    try:
        (status, body), (_, scrape) = asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        influx.shutdown()
    assert status == 200 and '"status": "ok"' in body
    assert len(_Influx.lines) >= 3
    assert all(line.startswith("news_articles,") and "demo=true" in line for line in _Influx.lines)
    assert 'bbdash_news_articles_total{outcome="submitted",source="demo-' in scrape
    assert "bbdash_points_written_total" in scrape
