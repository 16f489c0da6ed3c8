"""History backfill: upstream history payloads → candles; bad bars and error bodies."""

from __future__ import annotations

import pytest
from bbdash.backfill.binance_klines import parse_klines
from bbdash.backfill.candles import Candle
from bbdash.backfill.coingecko_chart import parse_market_chart
from bbdash.backfill.yahoo_chart import parse_chart
from bbdash.common.upstream_errors import PayloadError
from feeder_testkit import payload

H = 3600


def test_binance_klines_become_candles_and_a_nan_bar_is_dropped():
    parsed = parse_klines(payload("backfill/binance_klines_btcusdt_1h.json"), H)
    assert parsed.dropped == 1
    first, second, last, _open_bar = parsed.candles
    assert first == Candle(1707739200, 1707742800, 66010.0, 66420.5, 65880.1, 66300.0)
    assert second.close == 66810.2 and second.end_s == 1707746400
    assert last.end_ns == 1707753600 * 10**9 and last.close == 67234.5


def test_binance_error_body_names_binance_text():
    with pytest.raises(PayloadError, match=r"-1121: Invalid symbol\."):
        parse_klines(payload("backfill/binance_error_invalid_symbol.json"), H)


@pytest.mark.parametrize("bad", [{"rows": []}, [["x", "1", "1", "1", "1"]], [[1, "1"]]])
def test_binance_malformed_payload_is_a_payload_error(bad):
    with pytest.raises(PayloadError, match="Binance klines"):
        parse_klines(bad, H)


def test_yahoo_chart_skips_empty_bars_drops_bad_ones_and_uses_raw_close():
    parsed = parse_chart(payload("backfill/yahoo_chart_aapl_1h.json"), H)
    # 14:30 and 15:30 bars (US open at 9:30 ET) go to the 14:00 and 15:00 windows;
    # the 16:30 bar is all null (skipped); the 18:30 bar has a negative open (dropped).
    assert parsed.dropped == 1
    assert [c.start_s for c in parsed.candles] == [1707746400, 1707750000, 1707757200]
    first = parsed.candles[0]
    assert (first.open, first.high, first.low, first.close) == (
        188.41999816894531,
        188.66999816894531,
        187.35000610351562,
        187.63999938964844,  # close, not adjclose (186.9)
    )
    assert first.end_s == 1707750000


def test_yahoo_1m_bars_stay_1m():
    doc = {
        "chart": {
            "result": [
                {
                    "timestamp": [1707753600, 1707753660],
                    "indicators": {
                        "quote": [
                            {
                                "open": [1.0, 2.0],
                                "high": [1.5, 2.5],
                                "low": [0.5, 1.5],
                                "close": [1.2, 2.2],
                            }
                        ]
                    },
                }
            ],
            "error": None,
        }
    }
    candles = parse_chart(doc, 60).candles
    assert [(c.start_s, c.end_s, c.close) for c in candles] == [
        (1707753600, 1707753660, 1.2),
        (1707753660, 1707753720, 2.2),
    ]


def test_yahoo_error_document_names_yahoo_text():
    with pytest.raises(PayloadError, match="No data found, symbol may be delisted") as caught:
        parse_chart(payload("backfill/yahoo_chart_error_not_found.json"), H)
    assert caught.value.kind == "api_error"


def test_yahoo_malformed_chart_is_a_payload_error():
    with pytest.raises(PayloadError, match="unexpected shape"):
        parse_chart({"chart": {"result": []}}, H)


def test_coingecko_points_become_5min_candles():
    parsed = parse_market_chart(payload("backfill/coingecko_market_chart_days1.json"), 300)
    assert parsed.dropped == 1  # the "NaN" price
    assert parsed.candles == [
        Candle(1707752700, 1707753000, 42101.5, 42150.25, 42101.5, 42150.25),
        Candle(1707753000, 1707753300, 42090.0, 42090.0, 42090.0, 42090.0),
        Candle(1707753300, 1707753600, 42120.75, 42133.0, 42120.75, 42133.0),
    ]


def test_coingecko_error_names_coingecko_text():
    with pytest.raises(PayloadError, match="10012: Your request exceeds the allowed time range"):
        parse_market_chart(payload("backfill/coingecko_error_10012.json"), H)
    with pytest.raises(PayloadError, match="no prices"):
        parse_market_chart({"market_caps": []}, H)
