"""Late data and downsampling (issue 10, item 2): the window arithmetic, the journal,
and the re-downsampler, with the task definitions the roles ship.

InfluxDB cannot run here, so the arithmetic is checked against a brute-force model
of InfluxDB's scheduler (a run scheduled at T starts at T + offset and recomputes
the whole windows of [T - lookback, T)); the queries are recorded, and one runs
through the InfluxDB double's /api/v2/query with a `mean` task (the double's
Flux subset has no union(), so it cannot run the candle query itself).
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from bbdash.common.lineprotocol import Point
from bbdash.common.metrics import Metrics
from bbdash.downsample.flux import range_flux
from bbdash.downsample.journal import RangeJournal
from bbdash.downsample.redownsampler import InfluxQuery, Redownsampler
from bbdash.downsample.windows import NS, Downsampling, chunks, coalesce
from feeder_testkit import TOKEN, wait_for

REPO = Path(__file__).resolve().parents[3]
SPECS = yaml.safe_load((REPO / "roles/market_feeder/defaults/main.yml").read_text())[
    "market_feeder_redownsample_tasks"
]
FIVE, HOUR = (Downsampling.from_spec(s, s["source_retention"]) for s in SPECS)
MIN = 60
GRACE = 5.0
# A Monday, 12:00:00 UTC.
NOON = 1_767_614_400
assert NOON % 86400 == 12 * 3600


def covered_by_a_run(task: Downsampling, t: int, acked: float) -> bool:
    """The model: does any run that starts after `acked` (+ grace) recompute t's window?"""
    start = t - t % task.window
    first = (int(acked + GRACE) // task.every - 1) * task.every
    for scheduled in range(first, first + 50 * task.every, task.every):
        if scheduled + task.offset <= acked + GRACE:
            continue  # already started: it may not have seen the point
        if scheduled - task.lookback <= start and start + task.window <= scheduled:
            return True
    return False


@pytest.mark.parametrize("task", [FIVE, HOUR], ids=["5min", "1h"])
def test_a_point_x_late_is_late_exactly_when_no_run_will_read_it(task: Downsampling) -> None:
    rng = random.Random(7)
    for _ in range(4000):
        acked = NOON + rng.uniform(0, 86400)
        delay = rng.choice([rng.uniform(0, 2 * task.lookback), rng.uniform(0, 3 * 86400)])
        t = int(acked - delay)
        late = task.late_windows([t * NS], acked, GRACE)
        assert (late == set()) == covered_by_a_run(task, t, acked), (t, acked)
        if late:
            assert late == {t - t % task.window}


@pytest.mark.parametrize(
    ("acked", "event", "late"),
    [
        # The 12:10 run starts at 12:10:30 and reads 11:40-12:10.
        (NOON + 7 * MIN, NOON + 4 * MIN, False),  # a routine delay of 3 min
        (NOON + 7 * MIN, NOON - 20 * MIN, False),  # a Yahoo quote 27 min old
        (NOON + 7 * MIN, NOON - 20 * MIN - 1, True),  # its window 11:35 is not read again
        # Acked 4 s before the 12:10 run starts: with 5 s of grace it may miss the
        # point, so the 12:15 run (11:45-12:15) is the one counted on.
        (NOON + 10 * MIN + 26, NOON - 15 * MIN, False),
        (NOON + 10 * MIN + 26, NOON - 15 * MIN - 1, True),
        (NOON + 7 * MIN, NOON - 24 * 3600, True),  # a daily fallback quote stamped with its day
        (NOON + 7 * MIN, NOON + 9 * MIN, False),  # ahead of the clock: a later run reads it
    ],
)
def test_five_minute_task_examples(acked: float, event: int, late: bool) -> None:
    assert bool(FIVE.late_windows([event * NS], acked, GRACE)) is late


def test_the_hourly_task_reads_the_candle_stamped_with_its_run() -> None:
    """The 5-minute candle of 12:55-13:00 is stamped 13:00 and belongs to 12:00-13:00;
    the 13:00 run (stop 1 ns past now()) reads it: no rollup is owed for it."""
    assert HOUR.late_windows([(NOON + HOUR.window) * NS - 1], NOON + 3600 + 60, GRACE) == set()
    assert HOUR.rollup_range(NOON + 55 * MIN, NOON + 60 * MIN) == (NOON, NOON + 3600)
    assert HOUR.rollup_range(NOON - 5 * MIN, NOON + 5 * MIN) == (NOON - 3600, NOON + 3600)


def test_coalesce_and_chunks() -> None:
    assert coalesce([NOON + 600, NOON, NOON + 300, NOON + 1500], 300) == [
        (NOON, NOON + 900),
        (NOON + 1500, NOON + 1800),
    ]
    assert list(chunks(0, 10, 4)) == [(0, 4), (4, 8), (8, 10)]


def test_task_definitions_that_would_break_the_arithmetic_are_refused() -> None:
    spec = dict(SPECS[0], lookback="7m")
    with pytest.raises(ValueError, match="whole windows"):
        Downsampling.from_spec(spec, "7d")
    with pytest.raises(ValueError, match="every \\+ one window"):
        Downsampling.from_spec(dict(SPECS[0], lookback="5m"), "7d")


# --------------------------------------------------------------------------- journal


def test_journal_merges_and_subtracts(tmp_path: Path) -> None:
    journal = RangeJournal(tmp_path / "j.sqlite")
    journal.add("t", [(0, 300), (600, 900)])
    journal.add("t", [(300, 600)])  # touches both: one range
    assert journal.pending("t") == [(0, 900)]
    journal.done("t", 300, 600)
    assert journal.pending("t") == [(0, 300), (600, 900)]
    journal.done("t", 0, 900)
    assert journal.pending("t") == [] and journal.pending("other") == []


# --------------------------------------------------------------------------- re-downsampler


class RecordedQueries:
    """The QueryFn: records each range query; fails the n-th call when told."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.fail_at = fail_at

    def __call__(self, flux: str) -> str | None:
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            self.fail_at = None
            return "HTTP 503: unavailable"
        source = flux.split('from(bucket: "', 1)[1].split('"', 1)[0]
        bounds = flux.split("range(", 1)[1].split(")", 1)[0]
        self.calls.append((source, *bounds.replace("start: ", "").split(", stop: ")))
        return None


def _redownsampler(
    tmp_path: Path, query: RecordedQueries, now: float, metrics: Metrics | None = None
) -> Redownsampler:
    return Redownsampler(
        [FIVE, HOUR],
        RangeJournal(tmp_path / "journal.sqlite"),
        query,
        metrics or Metrics(),
        org="bloomberg",
        grace_s=GRACE,
        max_windows_per_query=72,
        clock=lambda: now,
    )


def _lines(start: int, stop: int, step: int) -> list[str]:
    return [
        Point("market_data", {"symbol": "AAPL"}, {"price": 1.0}, t * NS).to_line()
        for t in range(start, stop, step)
    ]


def test_a_replay_of_any_length_is_re_downsampled_once_then_rolled_up(tmp_path: Path) -> None:
    """A 20-hour outage ends at 12:02: the spool replays every point. The windows the
    12:05 run will read are left to it; the rest are recomputed in chunks of 6 h,
    oldest first, and the hours their candles fall in are rolled up after them."""
    acked = NOON + 2 * MIN
    query = RecordedQueries()
    metrics = Metrics()
    redown = _redownsampler(tmp_path, query, acked, metrics)
    outage = NOON - 20 * 3600
    lines = _lines(outage, acked, 10)
    lines.append('market_state,symbol=AAPL state="closed" ' + str(outage * NS))  # not candles
    redown.record("markets", lines, acked)
    late_until = NOON + 5 * MIN - 30 * MIN  # 11:35: the 12:05 run reads from there
    assert redown._journal.pending("downsample_5min") == [(outage, late_until)]
    assert (
        metrics.value("bbdash_downsample_pending_seconds", {"task": "downsample_5min"})
        == late_until - outage
    )

    assert redown.run_once()
    five = [c for c in query.calls if c[0] == "markets"]
    hourly = [c for c in query.calls if c[0] == "markets_5min"]
    assert five[0][1] == "2026-01-04T16:00:00Z" and five[-1][2] == "2026-01-05T11:35:00Z"
    assert len(five) == 4  # 19 h 35 min in chunks of 6 h
    assert all(a[2] == b[1] for a, b in itertools.pairwise(five))  # no gap, no overlap
    # Then the hours of those candles (the 5-minute candle stamped 11:35 is in 11:00-12:00).
    assert hourly == [("markets_5min", "2026-01-04T16:00:00Z", "2026-01-05T12:00:00.000000001Z")]
    assert redown._journal.pending("downsample_5min") == []
    assert redown._journal.pending("downsample_1h") == []
    assert (
        metrics.value("bbdash_downsample_recomputed_windows_total", {"task": "downsample_5min"})
        == (late_until - outage) // 300
    )


def test_points_inside_the_trailing_range_cost_no_query(tmp_path: Path) -> None:
    query = RecordedQueries()
    redown = _redownsampler(tmp_path, query, NOON)
    redown.record("markets", _lines(NOON - 10 * MIN, NOON, 1), NOON)
    redown.record("news", _lines(NOON - 86400, NOON, 600), NOON)  # no task reads news
    assert redown.run_once() and query.calls == []


def test_a_restart_mid_replay_resumes_with_the_chunks_left(tmp_path: Path) -> None:
    acked = NOON + 2 * MIN
    outage = NOON - 20 * 3600
    first = RecordedQueries(fail_at=2)  # InfluxDB goes away during the third chunk
    redown = _redownsampler(tmp_path, first, acked)
    redown.record("markets", _lines(outage, acked, 60), acked)
    assert not redown.run_once()
    done = [c[1:] for c in first.calls]
    assert len(done) == 2
    redown._journal.close()  # the feeder restarts: a new process, the same journal file

    second = RecordedQueries()
    again = _redownsampler(tmp_path, second, acked + 60)
    assert again.run_once()
    redone = [c[1:] for c in second.calls if c[0] == "markets"]
    assert redone[0][0] == done[-1][1]  # starts where the last finished chunk ended
    assert not set(redone) & set(done)  # nothing recomputed twice
    assert redone[-1][1] == "2026-01-05T11:35:00Z"
    # The hours of the first two chunks were journaled before the crash: rolled up now.
    hourly = [c[1:] for c in second.calls if c[0] == "markets_5min"]
    assert hourly == [("2026-01-04T16:00:00Z", "2026-01-05T12:00:00.000000001Z")]


def test_windows_beyond_the_raw_retention_are_never_recomputed(tmp_path: Path, caplog) -> None:
    """The source has lost (or, for backfilled candles, never had) their raw points:
    a candle from what is left would replace a better one."""
    now = NOON
    query = RecordedQueries()
    metrics = Metrics()
    redown = _redownsampler(tmp_path, query, now, metrics)
    week = 7 * 86400
    redown._journal.add("downsample_5min", [(now - week - 3600, now - week + 3600)])
    assert redown.run_once()
    five = [c for c in query.calls if c[0] == "markets"]
    # Only the windows that start a minute or more after the retention's edge.
    assert five == [("markets", "2025-12-29T12:05:00Z", "2025-12-29T13:00:00Z")]
    assert (
        metrics.value("bbdash_downsample_skipped_windows_total", {"task": "downsample_5min"}) == 13
    )  # 11:00-12:05, seven days ago
    assert "older than the source's retention" in caplog.text


def test_a_query_error_keeps_the_range_and_is_counted(tmp_path: Path, caplog) -> None:
    query = RecordedQueries(fail_at=0)
    metrics = Metrics()
    redown = _redownsampler(tmp_path, query, NOON, metrics)
    redown._journal.add("downsample_5min", [(NOON - 3600, NOON - 3300)])
    assert not redown.run_once()
    assert redown._journal.pending("downsample_5min") == [(NOON - 3600, NOON - 3300)]
    assert metrics.value("bbdash_downsample_query_errors_total", {"task": "downsample_5min"}) == 1
    warning = next(r for r in caplog.records if "query failed" in r.getMessage())
    assert warning.error == "HTTP 503: unavailable" and warning.task == "downsample_5min"
    assert redown.run_once() and redown._journal.pending("downsample_5min") == []


# --------------------------------------------------------------------------- the sink's hook


def test_the_sink_hands_over_a_replay_before_it_leaves_the_spool(make_sink, influx_double):
    """An outage, then the spool replays: the callback sees every delivered line, and
    sees it while the batch is still spooled (a crash then resends it)."""
    seen: list[tuple[int, int]] = []
    sink_ref: dict[str, Any] = {}

    def delivered(lines: list[str], acked: float) -> None:
        seen.append((len(lines), sink_ref["sink"].spooled))

    sink = make_sink(batch_size=25, on_delivered=delivered)
    sink_ref["sink"] = sink
    sink.start()
    influx_double.stop()
    for line in _lines(NOON, NOON + 100, 1):
        sink.submit(line)
    assert wait_for(lambda: sink.spooled == 100)
    influx_double.start()
    assert wait_for(sink.idle)
    assert sum(n for n, _ in seen) == 100
    assert all(spooled >= n for n, spooled in seen)


# --------------------------------------------------------------------------- the query


def test_influx_query_runs_a_range_through_the_double(influx_double) -> None:
    """The request InfluxQuery sends, run by the InfluxDB double's /api/v2/query: a
    `mean` task (the double has no union()) over an explicit range writes its windows."""
    for bucket, body in (
        ("markets_5min", f"other x=1 {NOON * NS}"),  # the double creates a bucket on write
        ("markets", "\n".join(_lines(NOON, NOON + 600, 60))),
    ):
        response = httpx.post(
            f"{influx_double.url}/api/v2/write",
            params={"org": "bloomberg", "bucket": bucket, "precision": "ns"},
            headers={"Authorization": f"Token {TOKEN}"},
            content=body,
        )
        assert response.status_code == 204
    spec = dict(SPECS[0], fn="mean")
    query = InfluxQuery(influx_double.url, "bloomberg", TOKEN)
    assert query(range_flux(spec, "bloomberg", NOON, NOON + 600)) is None
    stored = sorted(
        p["time"] for p in influx_double.points("markets_5min") if p["measurement"] == "market_data"
    )
    assert stored == [(NOON + 300) * NS, (NOON + 600) * NS]


def test_influx_query_reports_influxdb_errors() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if b"broken" in request.content:
            return httpx.Response(400, json={"code": "invalid", "message": "compilation failed"})
        body = (
            "#datatype,string,string\n#group,true,true\n#default,,\n,error,reference\n"
            ",runtime error: to: bucket not found,\n"
        )
        return httpx.Response(200, text=body)

    query = InfluxQuery(
        "http://influx",
        "bloomberg",
        "t",
        client=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    assert "compilation failed" in (query("broken") or "")
    assert query("fine") == "runtime error: to: bucket not found"
