"""Market feeder benchmark: 500 Binance-like symbols at 10 updates/s each, end to end.

The real pipeline runs in this process (MarketFeeder: Binance source → parse →
records → alert evaluation → sink batching → HTTP write); the upstream replay
server and the InfluxDB test double run in two other processes on loopback, so
the CPU and memory measured here are the feeder's alone.

Reports CPU (% of one core, process time over wall time in the measured window),
peak RSS, and tick-to-acknowledged-write latency (from the frame's arrival to
InfluxDB's 204, per point) p50/p99, then rewrites its section of
docs/benchmarks.md. Targets (issue 4): CPU <= 25 %, RSS <= 150 MB, p99 <= 1.5 s.

    .venv/bin/python bench/feeders/run.py [--duration 60] [--symbols 500] [--rate 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from machine import describe, percentile  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:feeders:start -->", "<!-- bench:feeders:end -->"
TOKEN = "bench-token"
TARGETS = {"cpu_pct": 25.0, "rss_mb": 150.0, "p99_s": 1.5}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def measure(args: argparse.Namespace, ws_url: str, influx_url: str, spool: Path) -> dict:
    sys.path.insert(0, str(ROOT / "files" / "feeders" / "src"))
    from bbdash.common.config import load_settings
    from bbdash.common.metrics import Metrics
    from bbdash.common.watchlist import AlertRule
    from bbdash.market_feeder.app import MarketFeeder
    from bbdash.market_feeder.config import MarketFeederSettings

    latencies: list[float] = []
    window = {"open": False}

    def on_ack(stamps: list[float], acked: float) -> None:
        if window["open"]:
            latencies.extend(acked - s for s in stamps)

    symbols = [f"S{i:03d}/USDT" for i in range(args.symbols)]
    settings = load_settings(
        MarketFeederSettings,
        influx={"url": influx_url, "token": TOKEN},
        spool={"path": spool},
        metrics={"host": "127.0.0.1"},
        binance={"ws_url": ws_url, "stale_after_s": 30},
        yahoo={"enabled": False},
        coingecko={"enabled": False},
        alphavantage={"enabled": False},
        exchangerate={"enabled": False},
        alerts={"enabled": True, "alertmanager_url": f"http://127.0.0.1:{free_port()}"},
        backfill={"enabled": False},
        watchlist={"fallback_assets": [{"symbol": s, "asset_type": "crypto"} for s in symbols]},
    )
    settings.metrics.port = 0
    metrics = Metrics()
    feeder = MarketFeeder(settings, metrics=metrics, on_ack=on_ack)
    # Two rules per symbol (one far away, one pct_move) so every tick is evaluated.
    assert feeder.alerts is not None
    feeder.alerts.set_rules(
        [
            AlertRule(2 * i, 1, s, "above", 1e12, None, ("telegram",), 300)
            for i, s in enumerate(symbols)
        ]
        + [
            AlertRule(2 * i + 1, 1, s, "pct_move", 50.0, 3600, ("email",), 300)
            for i, s in enumerate(symbols)
        ]
    )
    task = asyncio.create_task(feeder.run())
    await asyncio.sleep(args.warmup)
    written_before = metrics.value("bbdash_points_written_total", {"bucket": "markets"})
    frames_before = metrics.value("bbdash_source_messages_total", {"source": "binance"})
    window["open"] = True
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(args.duration)
    cpu1, wall1 = time.process_time(), time.monotonic()
    window["open"] = False
    written = metrics.value("bbdash_points_written_total", {"bucket": "markets"}) - written_before
    frames = metrics.value("bbdash_source_messages_total", {"source": "binance"}) - frames_before
    dropped = sum(
        metrics.value("bbdash_points_dropped_total", {"bucket": "markets", "reason": r})
        for r in ("queue_full", "spool_full")
    )
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    latencies.sort()
    wall = wall1 - wall0
    return {
        "symbols": args.symbols,
        "rate_per_symbol": args.rate,
        "duration_s": round(wall, 1),
        "frames_per_s": round(frames / wall, 1),
        "points_written_per_s": round(written / wall, 1),
        "points_dropped": int(dropped),
        "cpu_pct": round((cpu1 - cpu0) / wall * 100, 1),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "p50_s": round(percentile(latencies, 0.50), 3),
        "p99_s": round(percentile(latencies, 0.99), 3),
        "latency_samples": len(latencies),
    }


def write_section(result: dict) -> None:
    met = {
        "cpu_pct": result["cpu_pct"] <= TARGETS["cpu_pct"],
        "rss_mb": result["rss_mb"] <= TARGETS["rss_mb"],
        "p99_s": result["p99_s"] <= TARGETS["p99_s"],
    }
    offered = result["symbols"] * result["rate_per_symbol"]
    dropped_ok = result["points_dropped"] == 0

    def yes(ok: bool) -> str:
        return "yes" if ok else "no"

    verdict = (
        "all targets met"
        if all(met.values())
        else "target missed: " + ", ".join(k for k, ok in met.items() if not ok)
    )
    body = "\n".join(
        [
            START,
            "## Market feeder (`bench/feeders/run.py`)",
            "",
            (
                f"{result['symbols']} Binance-like symbols x {result['rate_per_symbol']:g} ticker "
                "updates/s each, replayed over a loopback WebSocket through the real pipeline "
                "(parse → records → alerts, 2 rules per symbol → sink batches → HTTP) into the "
                "InfluxDB test double; upstream and double run in other processes. The machine "
                "is shared with other work: numbers vary with its load."
            ),
            "",
            f"- machine: {result['machine']}",
            f"- date: {result['date']}",
            f"- measured window: {result['duration_s']} s after {result['warmup_s']:g} s warm-up",
            "",
            "| metric | measured | target | met |",
            "| --- | --- | --- | --- |",
            f"| CPU (% of one core) | {result['cpu_pct']} | ≤ 25 | {yes(met['cpu_pct'])} |",
            f"| peak RSS (MB) | {result['rss_mb']} | ≤ 150 | {yes(met['rss_mb'])} |",
            f"| tick → acked write p50 (s) | {result['p50_s']} | — | — |",
            f"| tick → acked write p99 (s) | {result['p99_s']} | ≤ 1.5 | {yes(met['p99_s'])} |",
            f"| frames received /s | {result['frames_per_s']} | {offered:g} offered | — |",
            f"| points written /s | {result['points_written_per_s']} | — | — |",
            f"| points dropped | {result['points_dropped']} | 0 | {yes(dropped_ok)} |",
            "",
            f"Verdict: {verdict}.",
            END,
        ]
    )
    text = DOC.read_text()
    start, end = text.index(START), text.index(END) + len(END)
    DOC.write_text(text[:start] + body + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--no-doc", action="store_true", help="print only, leave the doc alone")
    args = parser.parse_args()
    ws_port, influx_port = free_port(), free_port()
    total = args.warmup + args.duration + 15
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests/doubles/influxdb/server.py"),
                "--port",
                str(influx_port),
                "--token",
                TOKEN,
            ],
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("upstream.py")),
                "--port",
                str(ws_port),
                "--rate",
                str(args.rate),
                "--duration",
                str(total),
            ],
            stdout=subprocess.PIPE,
            text=True,
        ),
    ]
    try:
        wait_http(f"http://127.0.0.1:{influx_port}/ping")
        assert procs[1].stdout is not None
        if procs[1].stdout.readline().strip() != "ready":
            raise RuntimeError("bench upstream did not start")
        with tempfile.TemporaryDirectory(prefix="bbdash-bench-") as tmp:
            result = asyncio.run(
                measure(
                    args,
                    f"ws://127.0.0.1:{ws_port}",
                    f"http://127.0.0.1:{influx_port}",
                    Path(tmp) / "spool.sqlite",
                )
            )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
    result["machine"] = describe()
    result["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    result["warmup_s"] = args.warmup
    print(json.dumps(result, indent=2))
    if not args.no_doc:
        write_section(result)


if __name__ == "__main__":
    main()
