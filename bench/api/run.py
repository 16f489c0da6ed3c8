"""Load test of the watchlist API: one uvicorn worker, a real PostgreSQL, loopback only.

Starts a throwaway PostgreSQL (tests/python/postgres_server.py), the API as it
runs in the container (``python -m bbdash.watchlist_api``: migrations, then
uvicorn with uvloop/httptools, one worker), seeds a user and watchlists, then
drives it with ``wrk`` (Debian package ``wrk``) over 32 connections:

- reads, as fast as the API answers: GET /v1/watchlists/{id} (20 items),
  authenticated. This gives the throughput. Its latency is set by it: with 32
  requests always in flight, every request queues behind the 31 others, so the
  mean latency is 32 / throughput (Little's law), whatever the API does;
- reads paced at the target rate (1,000/s, ``paced.lua``): the latency a client
  sees while the API serves that rate, which is what the latency target is about;
- writes: POST /v1/watchlists/{id}/items, each a new symbol, transaction + NOTIFY.

Every phase is bounded in time and the script stops everything it started. It
rewrites only the ``bench:api`` section of docs/benchmarks.md. Targets (issue 5):
>= 1,000 reads/s with p99 <= 25 ms: the throughput judged on the unpaced runs, the
p99 on the paced ones, and both p99s are reported. Nothing here asserts; the
numbers are reported.

The machine is small (2 cores) and may be shared, so each read phase runs
``--runs`` times and every run is reported; the targets are judged on the median
runs. CPU time per request (of the API process, and of all PostgreSQL processes)
is reported beside it: it moves far less with outside load than req/s does.

Usage: ``.venv/bin/python bench/api/run.py [--duration 10] [--no-write-docs]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from machine import cpu_model  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "python"))

# The test suite's throwaway-PostgreSQL helper: one way to start a server, not two.
from postgres_server import create_database, running_server  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench:api:start -->", "<!-- bench:api:end -->"
CONCURRENCY = 32
READ_ITEMS = 20
WRITE_WATCHLISTS = 96  # with the read one, within the default 100 per user
TARGET_READS_PER_S = 1000.0
TARGET_P99_MS = 25.0


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int  # non-2xx answers plus socket errors
    api_cpu_us: float = 0.0  # API process CPU time per request
    pg_cpu_us: float = 0.0  # all PostgreSQL processes' CPU time per request
    other_cores: float = 0.0  # CPU used meanwhile by everything else on the machine
    late_sends: int = 0  # paced runs: sends that missed their slot (all connections busy)
    worst_late_ms: float = 0.0

    def row(self, name: str) -> str:
        return (
            f"| {name} | {self.rps:,.0f} | {self.p50_ms:.2f} | {self.p90_ms:.2f} "
            f"| {self.p99_ms:.2f} | {self.requests:,} | {self.errors:,} "
            f"| {self.api_cpu_us:,.0f} | {self.pg_cpu_us:,.0f} | {self.other_cores:.2f} |"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(
    client: httpx.Client, method: str, path: str, key: str, body: dict[str, object] | None = None
) -> dict[str, Any]:
    response = client.request(
        method, path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def _wait_healthy(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the API exited with {server.returncode} before it was healthy")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the API did not become healthy in time")


@contextlib.contextmanager
def _api_server(dsn: str, workdir: Path) -> Iterator[tuple[str, str, int]]:
    admin_key = "bench_" + secrets.token_urlsafe(32)
    key_file = workdir / "admin_key"
    key_file.write_text(admin_key)
    port = _free_port()
    env = {
        **os.environ,
        "BBDASH_API_DATABASE_URL": dsn,
        "BBDASH_API_ADMIN_KEY_FILE": str(key_file),
        "BBDASH_API_HOST": "127.0.0.1",
        "BBDASH_API_PORT": str(port),
        "BBDASH_API_LOG_LEVEL": "WARNING",
    }
    log = (workdir / "api.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "bbdash.watchlist_api"], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        yield base, admin_key, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _seed(base: str, admin_key: str) -> tuple[str, int, list[int]]:
    with httpx.Client(base_url=base) as client:
        user = _call(client, "POST", "/v1/users", admin_key, {"name": "bench"})
        key = _call(client, "POST", f"/v1/users/{user['id']}/api-keys", admin_key, {"name": "b"})
        user_key = str(key["key"])
        items = [{"symbol": f"R{i:03d}", "asset_type": "stock"} for i in range(READ_ITEMS)]
        read = _call(client, "POST", "/v1/watchlists", user_key, {"name": "read", "items": items})
        write_ids = [
            int(_call(client, "POST", "/v1/watchlists", user_key, {"name": f"w{i}"})["id"])
            for i in range(WRITE_WATCHLISTS)
        ]
    return user_key, int(read["id"]), write_ids


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _parse_wrk(output: str, seconds: float) -> WrkResult:
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", output, re.MULTILINE))
    total = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    paced = re.search(r"late by more than 1 ms: (\d+), worst ([0-9.]+) ms", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if not (total and rps and len(percentiles) == 3):
        raise RuntimeError(f"could not parse wrk output:\n{output}")
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return WrkResult(
        requests=int(total.group(1)),
        seconds=seconds,
        rps=float(rps.group(1)),
        p50_ms=_ms(percentiles["50"]),
        p90_ms=_ms(percentiles["90"]),
        p99_ms=_ms(percentiles["99"]),
        errors=errors,
        late_sends=int(paced.group(1)) if paced else 0,
        worst_late_ms=float(paced.group(2)) if paced else 0.0,
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_seconds() -> float:
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = stat.read_text()
            if "(postgres)" in text:
                total += _cpu_seconds(int(stat.parent.name))
    return total


def _machine_busy_seconds() -> float:
    """CPU seconds spent by the whole machine (all cores, not idle, not iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _settle(max_wait: float, quiet_cores: float = 0.5) -> str:
    """Wait (bounded) until the rest of the machine uses less than ``quiet_cores``.

    The machine may be shared with other jobs; measuring while they take most of its
    two cores says more about them than about the API. Returns what happened, for
    the report: the runs go ahead either way."""
    deadline = time.monotonic() + max_wait
    while True:
        before, start = _machine_busy_seconds(), time.monotonic()
        time.sleep(2)
        busy = (_machine_busy_seconds() - before) / (time.monotonic() - start)
        if busy < quiet_cores:
            return f"other load {busy:.2f} cores when the runs started"
        if time.monotonic() >= deadline:
            return (
                f"other load still {busy:.2f} cores after waiting {max_wait:g} s for it "
                f"to drop below {quiet_cores:g}"
            )


def _wrk(
    api_pid: int,
    url: str,
    key: str,
    seconds: float,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> WrkResult:
    # One wrk thread: the machine has two cores and the server needs one of them.
    cmd = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{seconds:g}s", "--latency", "--timeout", "5s"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd += ["-H", f"Authorization: Bearer {key}", url]
    api_before, pg_before = _cpu_seconds(api_pid), _postgres_cpu_seconds()
    machine_before, wrk_before = _machine_busy_seconds(), _children_seconds()
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - fixed argv, our own values
        cmd,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.monotonic() - started
    result = _parse_wrk(done.stdout, seconds)
    served = max(result.requests, 1)
    api = _cpu_seconds(api_pid) - api_before
    pg = _postgres_cpu_seconds() - pg_before
    wrk = _children_seconds() - wrk_before
    result.api_cpu_us = api * 1e6 / served
    result.pg_cpu_us = pg * 1e6 / served
    # What the rest of the machine (other users' jobs) took from the same two cores.
    other = _machine_busy_seconds() - machine_before - api - pg - wrk
    result.other_cores = max(0.0, other / elapsed)
    return result


def _verdict(reads: list[WrkResult], paced: list[WrkResult]) -> str:
    """Throughput from the median unpaced run, latency from the median paced run (by
    p99), which must also have kept its rate: a paced run whose sends fell behind
    measured less than the latency its clients would have seen."""
    unpaced = sorted(reads, key=lambda r: r.rps)[len(reads) // 2]
    at_rate = sorted(paced, key=lambda r: r.p99_ms)[len(paced) // 2]
    kept_rate = at_rate.late_sends <= at_rate.requests // 100
    throughput_met = unpaced.rps >= TARGET_READS_PER_S and not unpaced.errors
    latency_met = at_rate.p99_ms <= TARGET_P99_MS and kept_rate and not at_rate.errors
    return (
        f"Targets, on the median runs: reads >= {TARGET_READS_PER_S:,.0f}/s: "
        f"{unpaced.rps:,.0f} req/s unpaced, **{'met' if throughput_met else 'NOT met'}**; "
        f"p99 <= {TARGET_P99_MS:g} ms at {TARGET_READS_PER_S:,.0f} reads/s: "
        f"{at_rate.p99_ms:.2f} ms paced ({at_rate.late_sends:,} late sends, worst "
        f"{at_rate.worst_late_ms:.1f} ms), **{'met' if latency_met else 'NOT met'}**. "
        f"Unpaced, the p99 is {unpaced.p99_ms:.2f} ms: {CONCURRENCY} requests always in "
        f"flight queue behind each other, so that latency follows from the throughput "
        f"({CONCURRENCY} / {unpaced.rps:,.0f} req/s = "
        f"{CONCURRENCY * 1000 / max(unpaced.rps, 1):.1f} ms on average)."
    )


def _section(
    reads: list[WrkResult],
    paced: list[WrkResult],
    writes: WrkResult,
    duration: float,
    load: str,
    settled: str,
) -> str:
    wrk_version = subprocess.run(
        ["wrk", "-v"],  # noqa: S607 - wrk is whatever the PATH provides (Debian's package)
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    rows = [r.row(f"read a watchlist (run {i})") for i, r in enumerate(reads, start=1)]
    rows += [
        r.row(f"read a watchlist, paced at {TARGET_READS_PER_S:,.0f}/s (run {i})")
        for i, r in enumerate(paced, start=1)
    ]
    return "\n".join(
        [
            "## Watchlist API (`bench/api/run.py`)",
            "",
            f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            (
                f"- machine: {cpu_model()}, {os.cpu_count()} cores, shared by the load "
                f"generator, the API and PostgreSQL (load average at start: {load}; {settled})"
            ),
            (
                f"- tool: {wrk_version[0].split(' [')[0] if wrk_version else 'wrk'}, 1 thread, "
                f"{CONCURRENCY} connections, {duration:g} s per run after a warm-up, loopback"
            ),
            (
                "- server: `python -m bbdash.watchlist_api` (one uvicorn worker, uvloop, httptools,"
                " pool of 10), PostgreSQL 15 on the same machine (fsync off, as in the tests)"
            ),
            (
                f"- reads: `GET /v1/watchlists/{{id}}` with {READ_ITEMS} items, API key auth"
                " (answered by the hot read middleware, docs/collection-layer.md), as"
                " fast as the API answers, then paced at a fixed rate (`paced.lua`: late sends"
                " are sends that found every connection busy at their slot);"
                " writes: `POST /v1/watchlists/{id}/items`, a new symbol each time"
                f" (transaction, version bump, NOTIFY), spread over {WRITE_WATCHLISTS} watchlists"
            ),
            "- CPU µs/req: CPU time consumed per request by the API process, and by all"
            " PostgreSQL processes together; other load: cores used meanwhile by everything"
            " else on the machine (other jobs), which the numbers above had to share",
            "",
            "| operation | req/s | p50 ms | p90 ms | p99 ms | requests | errors "
            "| API CPU µs/req | PG CPU µs/req | other load (cores) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            writes.row("add an item"),
            "",
            _verdict(reads, paced),
        ]
    )


def _write_doc(section: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(START), text.index(END)
    DOC.write_text(text[: start + len(START)] + "\n" + section + "\n" + text[end:], "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs of each read phase (the median is judged)"
    )
    parser.add_argument(
        "--settle", type=float, default=120.0, help="max seconds to wait for a quiet machine"
    )
    parser.add_argument("--no-write-docs", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    with (
        tempfile.TemporaryDirectory(prefix="bbdash-bench-api-") as tmp,
        running_server() as admin_dsn,
    ):
        dsn = create_database(admin_dsn, "bench_api")
        with _api_server(dsn, Path(tmp)) as (base, admin_key, pid):
            key, read_id, write_ids = _seed(base, admin_key)
            read_url = f"{base}/v1/watchlists/{read_id}"
            _wrk(pid, read_url, key, 3)  # warm-up: prepared statements, caches
            settled = _settle(args.settle)
            runs = range(max(1, args.runs))
            reads = [_wrk(pid, read_url, key, args.duration) for _ in runs]
            rate = {"BENCH_RATE": str(TARGET_READS_PER_S)}
            paced_script = HERE / "paced.lua"
            paced = [_wrk(pid, read_url, key, args.duration, paced_script, rate) for _ in runs]
            write_env = {
                "BENCH_WATCHLISTS": ",".join(map(str, write_ids)),
                "BENCH_KEY": key,
            }
            writes_script = HERE / "writes.lua"
            _wrk(pid, base, key, 2, writes_script, {**write_env, "BENCH_PREFIX": "V"})
            writes = _wrk(
                pid, base, key, args.duration, writes_script, {**write_env, "BENCH_PREFIX": "W"}
            )
    section = _section(reads, paced, writes, args.duration, load, settled)
    print(section)
    if not args.no_write_docs:
        _write_doc(section)


if __name__ == "__main__":
    main()
