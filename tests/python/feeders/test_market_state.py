"""Market state beside the quotes (issue 10, item 3): Yahoo's `marketState`, written on change.

Recorded payload: tests/python/feeders/payloads/yahoo/quote_batch.json, a v7
quote response (AAPL, ^GSPC and EURUSD=X with `"marketState": "REGULAR"`).
"""

from __future__ import annotations

import asyncio
import copy

import pytest
from bbdash.common.metrics import Metrics
from bbdash.common.watchlist import Asset
from bbdash.market_feeder.config import YahooSettings
from bbdash.market_feeder.market_state import MarketState, StateChanges, from_yahoo
from bbdash.market_feeder.sources.yahoo import YahooSource
from feeder_testkit import FakeClock, payload
from test_market_rest_sources import FakeQuoteClient


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("REGULAR", "open"),
        ("PRE", "pre"),
        ("PREPRE", "pre"),
        ("POST", "post"),
        ("POSTPOST", "post"),
        ("CLOSED", "closed"),
        ("closed", "closed"),
        ("HALTED", None),  # not a state Yahoo documents: left out, never guessed
        (None, None),
        (3, None),
    ],
)
def test_yahoo_market_states_map_to_the_contract(raw, state):
    assert from_yahoo(raw) == state


def test_a_state_is_its_own_measurement_with_a_string_field():
    line = MarketState("yahoo", "^GSPC", "index", "closed", 1_707_753_600_000_000_000).to_line()
    assert line == (
        'market_state,asset_type=index,exchange=yahoo,symbol=^GSPC state="closed"'
        " 1707753600000000000"
    )


def test_a_state_is_written_when_it_changes_and_again_every_rewrite_period():
    changes = StateChanges(rewrite_s=3600)
    assert changes.due("AAPL", "open", 0.0)
    assert not changes.due("AAPL", "open", 15.0)
    assert changes.due("AAPL", "post", 30.0)
    assert not changes.due("AAPL", "post", 3600.0)
    assert changes.due("AAPL", "post", 3630.0)  # the dashboards' lookback always finds it
    assert changes.due("MSFT", "post", 3630.0)  # per symbol
    # A symbol no longer watched is forgotten (no growth with the symbols ever seen);
    # watched again, its state is written at once.
    changes.retain(["MSFT"])
    assert not changes.due("MSFT", "post", 3640.0)
    assert changes.due("AAPL", "post", 3640.0)


def test_yahoo_writes_each_tickers_state_once_then_on_change():
    states: list[MarketState] = []
    batch = payload("yahoo/quote_batch.json")
    closed = copy.deepcopy(batch)
    for item in closed["quoteResponse"]["result"]:
        if item["symbol"] == "AAPL":
            item["marketState"] = "CLOSED"
    wall = FakeClock()
    source = YahooSource(
        YahooSettings(),
        lambda r: None,
        Metrics(),
        client=FakeQuoteClient([batch, batch, closed]),
        emit_state=states.append,
        wall_clock=wall,
    )
    source.set_assets([Asset("AAPL", "stock"), Asset("^GSPC", "index"), Asset("EURUSD=X", "forex")])

    async def scenario() -> None:
        for _ in range(3):
            await source.poll_once()
            wall.advance(15)

    asyncio.run(scenario())
    assert [(s.symbol, s.state) for s in states] == [
        ("AAPL", "open"),  # in the payload's order
        ("^GSPC", "open"),
        ("EURUSD=X", "open"),
        ("AAPL", "closed"),
    ]
    assert states[0].time_ns == 1000 * 10**9  # the fetch time: the state is about now
    assert states[-1].time_ns == 1030 * 10**9
    assert {s.exchange for s in states} == {"yahoo"}
