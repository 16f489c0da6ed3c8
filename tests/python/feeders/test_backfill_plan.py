"""History backfill (issue 10, item 4): which chunks are fetched for an asset, and when."""

from __future__ import annotations

import itertools

import pytest
from bbdash.backfill.plan import (
    COINGECKO,
    DAY,
    H1,
    M5,
    RAW,
    YAHOO_LIMITS,
    plan_asset,
    source_for,
)
from bbdash.common.watchlist import Asset

NOW = 1_707_753_600 + 1234  # 2024-02-12 16:20:34 UTC: not on any window boundary
BTC = Asset("BTC/USDT", "crypto")
AAPL = Asset("AAPL", "stock")
ONLY_CG = Asset("PEPE/USD", "crypto", "coingecko")


def by_bucket(chunks, bucket, interval=None):
    return [
        c for c in chunks if c.bucket == bucket and (interval is None or c.interval == interval)
    ]


def covered(chunks):
    """The chunks' ranges merged; asserts they neither overlap nor leave gaps."""
    spans = sorted((c.start, c.end) for c in chunks)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end == start
    return spans[0][0], spans[-1][1]


def test_source_follows_the_live_routing():
    assert source_for(BTC) == "binance"
    assert source_for(AAPL) == "yahoo"
    assert source_for(Asset("^GSPC", "index")) == "yahoo"
    assert source_for(Asset("EURUSD=X", "forex")) == "yahoo"
    assert source_for(ONLY_CG) == COINGECKO
    assert source_for(Asset("BTC", "crypto")) == COINGECKO  # not a pair: Binance cannot


def test_binance_chunks_are_1000_bars_on_an_epoch_grid():
    chunks = plan_asset(BTC, NOW)
    for bucket, interval, depth in ((RAW, 60, 7 * DAY), (M5, 300, 30 * DAY), (H1, 3600, 365 * DAY)):
        mine = by_bucket(chunks, bucket)
        start, end = covered(mine)
        assert end == NOW - NOW % interval  # only whole windows: the open one is live data's
        assert start == end - depth  # exactly `depth` of whole windows
        for c in mine:
            assert c.interval == interval and c.cost == 2
            assert c.start % interval == 0 and c.end % interval == 0
            assert (c.end - c.start) // interval <= 1000
            assert c.cell % (1000 * interval) == 0 and c.cell <= c.start < c.cell + 1000 * interval
        # One chunk per 1000-bar grid cell the range touches: 10,080 one-minute bars in 11
        # cells here, 8,640 five-minute bars in 10, 8,760 hourly bars in 10.
        span = 1000 * interval
        assert len(mine) == -(-end // span) - start // span
    assert [len(by_bucket(chunks, b)) for b in (RAW, M5, H1)] == [11, 10, 10]


def test_a_rerun_plans_the_same_chunk_ids_and_windows():
    first = plan_asset(BTC, NOW)
    again = plan_asset(BTC, NOW)
    assert first == again
    later = plan_asset(BTC, NOW + 600)
    # Ten minutes on: same cells, so the same ids (only the newest cell grows).
    assert {c.id for c in later} >= {c.id for c in first} - {first[-1].id}
    assert len({c.id for c in first}) == len(first)


def test_order_puts_the_raw_last_day_first_then_5min_then_1h():
    chunks = plan_asset(BTC, NOW)
    ranks = [c.rank for c in chunks]
    assert ranks == sorted(ranks)
    assert chunks[0].bucket == RAW and chunks[0].end == NOW - NOW % 60
    assert all(c.end > NOW - DAY for c in chunks if c.rank == 0)
    assert [c.bucket for c in chunks if c.rank == 2] == [M5] * 10
    assert chunks[-1].bucket == H1
    raw = by_bucket(chunks, RAW)
    assert [c.end for c in raw] == sorted((c.end for c in raw), reverse=True)  # newest first


@pytest.mark.parametrize("interval", [60, 300, 3600])
def test_yahoo_chunks_respect_its_depth_and_span_limits(interval):
    serves, span = YAHOO_LIMITS[interval]
    mine = [c for c in plan_asset(AAPL, NOW) if c.interval == interval]
    start, end = covered(mine)
    assert NOW - start <= serves
    assert end == NOW - NOW % interval
    for c in mine:
        assert c.end - c.start <= span and c.cost == 1
        assert c.cell % span == 0


def test_yahoo_1m_is_7_days_in_at_most_7_day_calls():
    raw = by_bucket(plan_asset(AAPL, NOW), RAW)
    assert all(c.interval == 60 for c in raw)
    assert covered(raw)[0] == NOW - NOW % 60 - 7 * DAY
    assert len(raw) == 2  # a 7-day range crosses one 7-day grid line
    assert len(by_bucket(plan_asset(AAPL, NOW), M5)) <= 2
    assert len(by_bucket(plan_asset(AAPL, NOW), H1)) <= 2


def test_coingecko_only_coins_get_what_the_demo_plan_serves():
    chunks = plan_asset(ONLY_CG, NOW)
    assert [(c.bucket, c.interval, c.days) for c in chunks] == [
        (RAW, 300, 1),  # 5-min points: only for a 1-day range
        (RAW, 3600, 7),  # hourly closes for the rest of the week
        (M5, 300, 1),
        (H1, 3600, 90),  # hourly points up to 90 days; beyond is daily
    ]
    raw_day, raw_week, _m5, h1 = chunks
    assert raw_day.end == NOW - NOW % 300 and raw_day.start >= NOW - DAY
    assert raw_week.end <= raw_day.start and raw_week.start >= NOW - 7 * DAY
    assert h1.start >= NOW - 90 * DAY and all(c.days <= 365 for c in chunks)
    assert [c.id for c in chunks] == [c.id for c in plan_asset(ONLY_CG, NOW + 7200)]


def test_coingecko_pair_in_another_currency_is_not_backfilled():
    # The live series carries no CoinGecko price either (a USD price under BTC/EUR is wrong).
    assert plan_asset(Asset("XYZ/EUR", "crypto", "coingecko"), NOW) == []
