"""Whether a symbol's market is open, as its upstream says: measurement `market_state`.

A quote alone does not say whether Friday's close is the latest price or a
stalled feed. Yahoo's quote carries `marketState`; it is written beside the
quotes as `market_state,exchange=…,symbol=…,asset_type=… state="closed"`, in
a measurement of its own so that the numeric `market_data` (and its
downsampling) never meets a string. States: `open`, `pre`, `post`, `closed`
(docs/contracts.md). A state is written when it changes and again every
`rewrite_s`, so the dashboards' 7-day lookback always finds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bbdash.common.lineprotocol import Point

MEASUREMENT = "market_state"
# Yahoo's marketState values (quote endpoint v7), by what they mean for a trader.
_YAHOO = {
    "REGULAR": "open",
    "PRE": "pre",
    "PREPRE": "pre",
    "POST": "post",
    "POSTPOST": "post",
    "CLOSED": "closed",
}


def from_yahoo(value: object) -> str | None:
    """Yahoo's `marketState` as one of the contract's states; None when absent or unknown."""
    return _YAHOO.get(value.upper()) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class MarketState:
    """One symbol's market state at `time_ns` (the fetch time: the state is about now)."""

    exchange: str
    symbol: str
    asset_type: str
    state: str
    time_ns: int
    demo: bool = False  # the demo's synthetic market, tagged like its prices

    def to_line(self) -> str:
        """The `market_state` point in line protocol."""
        tags = {"exchange": self.exchange, "symbol": self.symbol, "asset_type": self.asset_type}
        if self.demo:
            tags["demo"] = "true"
        return Point(MEASUREMENT, tags, {"state": self.state}, self.time_ns).to_line()


class StateChanges:
    """Says which states are worth writing: a change, or the same state `rewrite_s` later."""

    def __init__(self, rewrite_s: float = 3600.0) -> None:
        self._rewrite_s = rewrite_s
        self._written: dict[str, tuple[str, float]] = {}

    def due(self, symbol: str, state: str, now: float) -> bool:
        """True (and remembered as written) when `state` should be written for `symbol` now."""
        last = self._written.get(symbol)
        if last is not None and last[0] == state and now - last[1] < self._rewrite_s:
            return False
        self._written[symbol] = (state, now)
        return True

    def retain(self, symbols: Iterable[str]) -> None:
        """Forget the symbols no longer watched (a symbol watched again is written again)."""
        keep = set(symbols)
        for symbol in self._written.keys() - keep:
            del self._written[symbol]
