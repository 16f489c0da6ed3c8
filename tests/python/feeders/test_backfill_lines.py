"""History backfill: candles → line protocol, on the very series the live points write."""

from __future__ import annotations

from bbdash.backfill.candles import Candle
from bbdash.backfill.lines import chunk_lines, live_tags
from bbdash.backfill.plan import H1, M5, RAW, Chunk
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.sources.binance import parse_ticker
from bbdash.market_feeder.sources.coingecko import parse_markets
from bbdash.market_feeder.sources.yahoo import parse_quotes
from feeder_testkit import payload

CANDLE = Candle(1707750000, 1707753600, 66700.0, 67300.0, 66690.0, 67234.5)


def chunk(source, symbol, asset_type, bucket, interval=3600):
    return Chunk(source, symbol, asset_type, bucket, interval, 1707739200, 1707753600, 3)


def test_candle_line_is_exact():
    (line,) = chunk_lines(chunk("binance", "BTC/USDT", "crypto", H1), [CANDLE])
    assert line == (
        "market_data,asset_type=crypto,exchange=binance,symbol=BTC/USDT "
        "open=66700.0,high=67300.0,low=66690.0,close=67234.5,price=67234.5 "
        "1707753600000000000"
    )


def test_raw_line_is_the_close_as_price_at_the_bar_end():
    bar = Candle(1707753540, 1707753600, 1.0, 2.0, 0.5, 187.25)
    (line,) = chunk_lines(chunk("yahoo", "^GSPC", "index", RAW, 60), [bar])
    assert (
        line
        == "market_data,asset_type=index,exchange=yahoo,symbol=^GSPC price=187.25 1707753600000000000"
    )


def test_candles_outside_the_chunk_are_left_to_their_own_chunk():
    inside = chunk("binance", "BTC/USDT", "crypto", M5, 300)
    late = Candle(1707753600, 1707753900, 1.0, 1.0, 1.0, 1.0)  # the open window: live data's
    early = Candle(1707738900, 1707739200, 1.0, 1.0, 1.0, 1.0)
    assert chunk_lines(inside, [early, late]) == []


def test_binance_tags_equal_the_live_ticker_points():
    live = parse_ticker(payload("binance/ticker_btcusdt.json")["data"], "BTC/USDT").to_point()
    assert dict(live.tags) == live_tags("binance", "BTC/USDT", "crypto")
    (line,) = chunk_lines(chunk("binance", "BTC/USDT", "crypto", H1), [CANDLE])
    assert line.split(" ")[0] == live.to_line().split(" ")[0]


def test_yahoo_tags_equal_the_live_quote_points():
    wanted = {
        "AAPL": Asset("AAPL", "stock"),
        "^GSPC": Asset("^GSPC", "index"),
        "EURUSD=X": Asset("EURUSD=X", "forex"),
    }
    records = parse_quotes(payload("yahoo/quote_batch.json"), wanted, lambda _reason: None)
    assert {r.symbol for r in records} == set(wanted)
    for record in records:
        tags = live_tags("yahoo", record.symbol, wanted[record.symbol].asset_type)
        assert dict(record.to_point().tags) == tags
        (line,) = chunk_lines(
            chunk("yahoo", record.symbol, wanted[record.symbol].asset_type, M5, 300),
            [Candle(1707753300, 1707753600, 1.0, 1.0, 1.0, 1.0)],
        )
        assert line.split(" ")[0] == record.to_line().split(" ")[0]


def test_coingecko_tags_equal_the_live_market_points():
    asset = Asset("BTC/USD", "crypto", "coingecko")
    (record,) = parse_markets(
        payload("coingecko/coins_markets.json"), {"BTC": [asset]}, "usd", lambda _reason: None
    )
    assert dict(record.to_point().tags) == live_tags("coingecko", "BTC/USD", "crypto")
