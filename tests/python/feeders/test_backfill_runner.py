"""History backfill: the journal, the budget and the `Backfiller` against fake upstreams.

Fetchers are fakes that build upstream-shaped payloads for each chunk (Binance
klines arrays), or answer recorded ones; the writer is a list. No network.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest
from bbdash.backfill.budget import BackfillBudget, Share
from bbdash.backfill.fetchers import (
    Answer,
    BinanceKlinesFetcher,
    CoinGeckoChartFetcher,
    YahooChartFetcher,
)
from bbdash.backfill.journal import DEFERRED, DONE, FAILED, PENDING, ChunkJournal
from bbdash.backfill.plan import plan_asset
from bbdash.backfill.runner import Backfiller
from bbdash.common.upstream_errors import (
    ClientError,
    GeoBlockedError,
    PayloadError,
    RateLimitedError,
)
from bbdash.common.watchlist import Asset
from feeder_testkit import payload

NOW = 1_707_753_600 + 1234
BTC = Asset("BTC/USDT", "crypto")
N = len(plan_asset(BTC, NOW))  # 31 chunks: 11 raw, 10 of 5 min, 10 of 1 h


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def klines(chunk):
    """A Binance klines payload for the chunk: one bar per window, price = window start."""
    rows = []
    for start in range(chunk.start, chunk.end, chunk.interval):
        p = str(float(start % 100_000 + 1))
        rows.append([start * 1000, p, p, p, p, "1.0", (start + chunk.interval) * 1000 - 1])
    return rows


class FakeFetcher:
    def __init__(self, answer=klines):
        self.answer = answer
        self.calls: list[str] = []

    def fetch(self, chunk):
        self.calls.append(chunk.id)
        result = self.answer(chunk)
        if isinstance(result, Exception):
            raise result
        return result


class ListWriter:
    def __init__(self):
        self.lines: dict[str, list[str]] = {}
        self.fail = False

    def write(self, bucket, lines):
        if self.fail:
            return False
        self.lines.setdefault(bucket, []).extend(lines)
        return True


def backfiller(tmp_path: Path, fetcher, writer, clock=None, shares=None, **kwargs):
    clock = clock or Clock()
    budget = BackfillBudget(shares or {"binance": Share(1e6, 60, 1e6)}, clock=clock)
    journal = ChunkJournal(tmp_path / "backfill.sqlite")
    return Backfiller(journal, {"binance": fetcher}, writer, budget, clock=clock, **kwargs)


def run_out(bf: Backfiller, steps: int = 100) -> None:
    for _ in range(steps):
        if not bf.step():
            break


def test_full_backfill_fills_every_chunk_once(tmp_path):
    fetcher, writer = FakeFetcher(), ListWriter()
    bf = backfiller(tmp_path, fetcher, writer)
    planned = plan_asset(BTC, NOW)
    assert bf.add_assets([BTC]) == len(planned)
    run_out(bf)
    assert sorted(fetcher.calls) == sorted(c.id for c in planned)
    assert Counter(fetcher.calls).most_common(1)[0][1] == 1
    assert fetcher.calls[0] == planned[0].id  # the raw last day comes first
    # Every window of each target exactly once: 7 d of 1 m, 30 d of 5 m, 365 d of 1 h.
    assert len(writer.lines["markets"]) == 7 * 1440
    assert len(writer.lines["markets_5min"]) == 30 * 288
    assert len(writer.lines["markets_1h"]) == 365 * 24
    for lines in writer.lines.values():
        assert len({line.rsplit(" ", 1)[1] for line in lines}) == len(lines)
    progress = bf.progress()["binance"]
    assert (progress.total, progress.done, progress.pending, progress.failed) == (N, N, 0, 0)
    assert bf.finished()
    assert bf.add_assets([BTC]) == 0  # the same plan again: nothing new


def test_restart_after_a_crash_fetches_only_what_is_left(tmp_path):
    first = FakeFetcher()
    bf = backfiller(tmp_path, first, ListWriter(), chunks_per_step=4)
    bf.add_assets([BTC])
    bf.step()
    bf.step()
    bf.journal.close()  # the process dies here
    second, writer = FakeFetcher(), ListWriter()
    again = backfiller(tmp_path, second, writer)
    assert again.add_assets([BTC]) == 0
    run_out(again)
    assert len(first.calls) == 8
    assert set(first.calls).isdisjoint(second.calls)
    assert len(first.calls) + len(second.calls) == N
    assert again.progress()["binance"].done == N


def test_crash_between_write_and_mark_rewrites_the_same_points(tmp_path, monkeypatch):
    writer = ListWriter()
    bf = backfiller(tmp_path, FakeFetcher(), writer, chunks_per_step=1)
    bf.add_assets([BTC])

    def crash(chunk_id):
        raise SystemExit("killed")

    monkeypatch.setattr(bf.journal, "mark_done", crash)
    with pytest.raises(SystemExit):
        bf.step()
    written = list(writer.lines["markets"])
    bf.journal.close()
    writer2 = ListWriter()
    again = backfiller(tmp_path, FakeFetcher(), writer2, chunks_per_step=1)
    again.step()
    assert writer2.lines["markets"] == written  # same series, fields and timestamps


def test_a_restart_much_later_refetches_the_newest_cell_only(tmp_path):
    bf = backfiller(tmp_path, FakeFetcher(), ListWriter())
    bf.add_assets([BTC])
    run_out(bf)
    bf.journal.close()
    later = FakeFetcher()
    again = backfiller(tmp_path, later, ListWriter(), clock=Clock(NOW + 3 * 3600))
    reopened = again.add_assets([BTC])
    run_out(again)
    assert 0 < reopened == len(later.calls) <= 6


def test_a_write_failure_leaves_the_chunk_pending(tmp_path, caplog):
    clock, writer = Clock(), ListWriter()
    bf = backfiller(tmp_path, FakeFetcher(), writer, clock=clock, chunks_per_step=1, retry_s=30)
    bf.add_assets([BTC])
    first = plan_asset(BTC, NOW)[0].id
    writer.fail = True
    assert bf.step() == 0
    assert bf.journal.state(first) == (PENDING, "write failed")
    writer.fail = False
    assert bf.step() == 1  # the next chunk goes meanwhile; the first waits retry_s
    assert bf.journal.state(first)[0] == PENDING
    clock.t += 31
    run_out(bf)
    assert bf.journal.state(first)[0] == DONE


def test_budget_shortage_defers_chunks_and_a_later_step_does_them(tmp_path):
    clock, fetcher = Clock(), FakeFetcher()
    # 10 weight per minute, 4 at once: two klines calls, then one every 12 s.
    bf = backfiller(
        tmp_path, fetcher, ListWriter(), clock=clock, shares={"binance": Share(10, 60, 4)}
    )
    bf.add_assets([BTC])
    assert bf.step() == 2
    progress = bf.progress()["binance"]
    assert progress.deferred == 6 and progress.done == 2
    assert bf.step() == 0  # nothing due yet: nothing fetched, nothing dropped
    assert len(fetcher.calls) == 2
    for _ in range(200):
        clock.t += 12
        bf.step()
    assert bf.progress()["binance"].done == N
    assert len(fetcher.calls) == N


def test_429_defers_and_holds_the_upstream_never_drops(tmp_path, caplog):
    clock = Clock()
    limited = {"on": True}

    def answer(chunk):
        if limited["on"]:
            return RateLimitedError("HTTP 429 too many requests", retry_after_s=120)
        return klines(chunk)

    fetcher = FakeFetcher(answer)
    bf = backfiller(tmp_path, fetcher, ListWriter(), clock=clock)
    bf.add_assets([BTC])
    with caplog.at_level(logging.WARNING):
        assert bf.step() == 0
    assert len(fetcher.calls) == 1  # held: no second request after the 429
    assert bf.progress()["binance"].deferred == 8
    assert "429" in caplog.text
    limited["on"] = False
    clock.t += 60
    assert bf.step() == 0  # still held
    clock.t += 61
    run_out(bf)
    assert bf.progress()["binance"].done == N


def test_malformed_payload_fails_that_chunk_with_a_clear_log_and_others_go_on(tmp_path, caplog):
    planned = plan_asset(BTC, NOW)
    bad = planned[1].id

    def answer(chunk):
        if chunk.id == bad:
            return payload("backfill/binance_error_invalid_symbol.json")
        return klines(chunk)

    bf = backfiller(tmp_path, FakeFetcher(answer), ListWriter())
    bf.add_assets([BTC])
    with caplog.at_level(logging.ERROR):
        run_out(bf)
    state, reason = bf.journal.state(bad)
    assert state == FAILED and "Invalid symbol." in reason
    assert "backfill of BTC/USDT from binance refused" in caplog.text
    assert "Invalid symbol." in caplog.text
    progress = bf.progress()["binance"]
    assert (progress.done, progress.failed) == (N - 1, 1)
    assert bf.finished()


def test_an_unknown_symbol_is_logged_once_not_once_per_chunk(tmp_path, caplog):
    """Binance answers -1121 to each of a mistyped pair's ~30 chunks: one ERROR line
    names the pair and Binance's text; every chunk is failed in the journal."""
    bf = backfiller(
        tmp_path,
        FakeFetcher(lambda chunk: payload("backfill/binance_error_invalid_symbol.json")),
        ListWriter(),
    )
    bf.add_assets([BTC])
    with caplog.at_level(logging.ERROR):
        for _ in range(N):  # run_out stops at a step that finished nothing
            bf.step()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "BTC/USDT" in errors[0].getMessage() and "Invalid symbol." in errors[0].getMessage()
    assert bf.progress()["binance"].failed == N


def test_bad_bars_are_counted_not_written(tmp_path):
    def answer(chunk):
        rows = klines(chunk)
        rows[0][4] = "0"
        return rows

    writer = ListWriter()
    bf = backfiller(tmp_path, FakeFetcher(answer), writer, chunks_per_step=1)
    bf.add_assets([BTC])
    bf.step()
    first = plan_asset(BTC, NOW)[0]
    assert bf.progress()["binance"].dropped_bars == 1
    assert len(writer.lines["markets"]) == (first.end - first.start) // 60 - 1


def test_geo_block_holds_the_source_and_keeps_the_chunks(tmp_path):
    error = GeoBlockedError("HTTP 451 geo-blocked: set the base URL")
    fetcher = FakeFetcher(lambda chunk: error)
    bf = backfiller(tmp_path, fetcher, ListWriter())
    bf.add_assets([BTC])
    bf.step()
    assert len(fetcher.calls) == 1
    assert bf.progress()["binance"].failed == 0
    assert not bf.finished()


def test_several_symbols_do_every_raw_last_day_first(tmp_path):
    fetcher = FakeFetcher()
    bf = backfiller(tmp_path, fetcher, ListWriter(), chunks_per_step=6)
    bf.add_assets([BTC, Asset("ETH/USDT", "crypto")])
    bf.step()
    assert {c.split(":")[1] for c in fetcher.calls} == {"BTC/USDT", "ETH/USDT"}
    assert all(":markets:60:" in c for c in fetcher.calls)


def test_a_symbol_added_later_is_backfilled_whole_before_the_first_queue(tmp_path):
    """A symbol entering a watchlist during a first deployment's long backfill gets all
    its chunks (a year of 1 h candles included) before the rest of that queue."""
    fetcher = FakeFetcher()
    bf = backfiller(tmp_path, fetcher, ListWriter(), chunks_per_step=5)
    first = [Asset(f"C{i}/USDT", "crypto") for i in range(3)]
    bf.add_assets(first)
    bf.step()  # the first deployment is under way
    added = Asset("ADA/USDT", "crypto")
    bf.add_assets([*first, added])  # the watchlist snapshot: everything, one of them new
    fetcher.calls.clear()
    mine = len(plan_asset(added, NOW))
    for _ in range(mine // 5 + 1):
        bf.step()
    assert [c.split(":")[1] for c in fetcher.calls[:mine]] == ["ADA/USDT"] * mine
    assert fetcher.calls[mine:], "the first queue goes on afterwards"
    assert all(":ADA/USDT:" not in c for c in fetcher.calls[mine:])


def test_journal_counts_every_state(tmp_path):
    journal = ChunkJournal(tmp_path / "j.sqlite")
    chunks = plan_asset(BTC, NOW)[:3]
    journal.sync(chunks)
    journal.mark_done(chunks[0].id)
    journal.defer(chunks[1].id, NOW + 10, "budget")
    assert journal.counts() == {"binance": {PENDING: 1, DEFERRED: 1, DONE: 1, FAILED: 0}}
    assert [c.id for c in journal.due(NOW, 10, {"binance"})] == [chunks[2].id]
    assert journal.due(NOW, 10, {"yahoo"}) == []
    assert [c for c in journal.due(NOW + 10, 10, {"binance"})] == [chunks[1], chunks[2]]


# --- the real fetchers, on recorded answers ------------------------------------------------


class Transport:
    def __init__(self, status: int, name: str | None = None, headers=None, text: str | None = None):
        self.answer = Answer(status, text or (payload_text(name) if name else "[]"), headers or {})
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, url, params, headers, timeout):
        self.calls.append((url, dict(params)))
        return self.answer


def payload_text(name: str) -> str:
    return (Path(__file__).parent / "payloads" / name).read_text()


def test_binance_fetcher_asks_for_the_chunk_and_parses_the_answer():
    chunk = next(c for c in plan_asset(BTC, NOW) if c.bucket == "markets_1h")
    transport = Transport(200, "backfill/binance_klines_btcusdt_1h.json")
    fetched = BinanceKlinesFetcher("http://fake/", transport).fetch(chunk)
    url, params = transport.calls[0]
    assert url == "http://fake/api/v3/klines"
    assert params == {
        "symbol": "BTCUSDT",
        "interval": "1h",
        "startTime": str(chunk.start * 1000),
        "endTime": str(chunk.end * 1000 - 1),
        "limit": "1000",
    }
    assert fetched[0][0] == 1707739200000


@pytest.mark.parametrize(
    ("status", "headers", "error", "text"),
    [
        (400, {}, ClientError, "Invalid symbol."),
        (429, {"Retry-After": "30"}, RateLimitedError, "Invalid symbol."),
        (451, {}, GeoBlockedError, "data-api.binance.vision"),
    ],
)
def test_binance_fetcher_errors_name_the_upstream_text(status, headers, error, text):
    chunk = plan_asset(BTC, NOW)[0]
    transport = Transport(status, "backfill/binance_error_invalid_symbol.json", headers)
    with pytest.raises(error, match=text.replace(".", r"\.")) as caught:
        BinanceKlinesFetcher("http://fake", transport).fetch(chunk)
    if status == 429:
        assert caught.value.retry_after_s == 30


def test_yahoo_fetcher_asks_for_regular_hours_and_maps_404_to_the_symbol():
    chunk = plan_asset(Asset("^GSPC", "index"), NOW)[0]
    ok = Transport(200, "backfill/yahoo_chart_aapl_1h.json")
    YahooChartFetcher("http://fake", ok).fetch(chunk)
    url, params = ok.calls[0]
    assert url == "http://fake/v8/finance/chart/%5EGSPC"
    assert params["period1"] == str(chunk.start) and params["interval"] == "1m"
    assert params["includePrePost"] == "false"
    gone = Transport(404, "backfill/yahoo_chart_error_not_found.json")
    with pytest.raises(PayloadError, match="symbol may be delisted"):
        YahooChartFetcher("http://fake", gone).fetch(chunk)
    with pytest.raises(RateLimitedError):
        YahooChartFetcher("http://fake", Transport(429, text="Too Many Requests")).fetch(chunk)


def test_coingecko_fetcher_resolves_the_id_and_maps_10012():
    chunk = plan_asset(Asset("BTC/USD", "crypto", "coingecko"), NOW)[0]
    markets = Transport(200, "coingecko/coins_markets.json")
    fetcher = CoinGeckoChartFetcher("http://fake/api/v3", markets, api_key="k")
    assert fetcher.coin_id("BTC/USD") == "bitcoin"
    fetcher.fetch(chunk)
    assert markets.calls[-1] == (
        "http://fake/api/v3/coins/bitcoin/market_chart",
        {"vs_currency": "usd", "days": "1"},
    )
    beyond = Transport(401, "backfill/coingecko_error_10012.json")
    with pytest.raises(PayloadError, match="10012"):
        CoinGeckoChartFetcher("http://fake", beyond, ids={"BTC": "bitcoin"}).fetch(chunk)


def test_a_chunk_not_fetched_before_a_restart_takes_the_new_plans_range(tmp_path):
    journal = ChunkJournal(tmp_path / "j.sqlite")
    old = plan_asset(BTC, NOW)
    journal.sync(old)
    new = plan_asset(BTC, NOW + 1800)
    assert journal.sync(new) == len({c.id for c in new} - {c.id for c in old})
    (newest,) = [c for c in journal.due(NOW + 1800, 100, {"binance"}) if c.id == new[0].id]
    assert newest == new[0] and newest.end > old[0].end


def test_an_unexpected_error_on_one_chunk_does_not_stall_the_others(tmp_path, caplog):
    planned = plan_asset(BTC, NOW)

    def answer(chunk):
        return KeyError("a bug") if chunk.id == planned[0].id else klines(chunk)

    fetcher = FakeFetcher(answer)
    bf = backfiller(tmp_path, fetcher, ListWriter(), chunks_per_step=3)
    bf.add_assets([BTC])
    with caplog.at_level(logging.ERROR):
        assert bf.step() == 2
    assert bf.journal.state(planned[0].id) == (PENDING, "KeyError('a bug')")
    assert "unexpected error" in caplog.text
