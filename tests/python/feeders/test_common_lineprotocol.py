"""Line protocol encoding, checked against the InfluxDB test double's parser."""

from __future__ import annotations

import math

import pytest
from bbdash.common.lineprotocol import Point, PointError
from doubles.influxdb import LineProtocolError, parse_line


def test_seed_example_encodes_exactly():
    point = Point(
        "market_data",
        {"exchange": "binance", "symbol": "BTC/USDT", "asset_type": "crypto"},
        {
            "price": 67234.5,
            "volume_24h": 28500000000.0,
            "change_pct_1h": 0.45,
            "change_pct_24h": 2.3,
            "market_cap": 1320000000000.0,
        },
        1707753600000000000,
    )
    assert point.to_line() == (
        "market_data,asset_type=crypto,exchange=binance,symbol=BTC/USDT "
        "price=67234.5,volume_24h=28500000000.0,change_pct_1h=0.45,change_pct_24h=2.3,"
        "market_cap=1320000000000.0 1707753600000000000"
    )


def test_escaping_round_trips_through_the_parser():
    point = Point(
        "news articles",
        {"source": "a,b=c d", "related_asset": "BTC"},
        {"title": 'He said "buy", then \\ left', "score": -0.5, "n": 3, "ok": True},
        1,
    )
    parsed = parse_line(point.to_line())
    assert parsed.measurement == "news articles"
    assert dict(parsed.tags) == {"source": "a,b=c d", "related_asset": "BTC"}
    assert parsed.fields == {
        "title": 'He said "buy", then \\ left',
        "score": -0.5,
        "n": 3,
        "ok": True,
    }
    assert parsed.timestamp == 1


def test_float_values_survive_exactly():
    value = 0.1 + 0.2
    parsed = parse_line(Point("m", {}, {"v": value}, 5).to_line())
    assert parsed.fields["v"] == value


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_fields_are_refused(bad):
    with pytest.raises(PointError):
        Point("m", {}, {"v": bad}, 1).to_line()


def test_point_without_fields_is_refused():
    with pytest.raises(PointError):
        Point("m", {"a": "b"}, {}, 1).to_line()


def test_empty_tag_values_are_omitted():
    assert Point("m", {"a": "", "b": "x"}, {"v": 1.0}, 2).to_line() == "m,b=x v=1.0 2"


@pytest.mark.parametrize(
    "line",
    ["m", "m v=", "m,a v=1", "m v=1 notatime", 'm v="open', "m v=NaN", "m v=12abc"],
)
def test_double_rejects_malformed_lines(line):
    with pytest.raises(LineProtocolError):
        parse_line(line)
