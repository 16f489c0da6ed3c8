"""Which wanted symbols a source's answers leave out, said once per change.

An upstream that answers a batch may leave symbols out without an error:
Yahoo drops a delisted or mistyped ticker from its quote list, CoinGecko a
coin it does not know, ExchangeRate a currency, Alpha Vantage answers an
empty "Global Quote". Without a word, such a symbol's panel just stops.
`SymbolCoverage` compares what was asked with what was served, answer by
answer, and logs a line when a symbol goes missing and another when it
comes back (never on every poll); `bbdash_source_symbols_missing{source}`
holds how many are missing now. What happens to a missing symbol (handed to
a fallback, or nothing serves it) is the caller's `then`, said in the line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bbdash.common.metrics import Metrics

log = logging.getLogger(__name__)

# Symbols named in one log line; the count says how many there are in all.
MAX_NAMED = 20


def _names(symbols: Iterable[str]) -> str:
    ordered = sorted(symbols)
    shown = ", ".join(ordered[:MAX_NAMED])
    more = len(ordered) - MAX_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


class SymbolCoverage:
    """The symbols `source` was asked for and did not serve, as of their last answer."""

    def __init__(self, source: str, metrics: Metrics, *, logger: logging.Logger = log) -> None:
        self.source = source
        self._gauge = metrics.source_symbols_missing.labels(source)
        self._log = logger
        self._missing: set[str] = set()
        self._gauge.set(0)

    @property
    def missing(self) -> frozenset[str]:
        """Symbols missing from their last answer."""
        return frozenset(self._missing)

    def observe(self, asked: Iterable[str], served: Iterable[str], *, then: str) -> set[str]:
        """One answer: `asked` went out, `served` came back; returns the symbols left out.

        Symbols not in `asked` keep their state: a batch answers for its own symbols.
        """
        asked_set = set(asked)
        absent = asked_set - set(served)
        went = absent - self._missing
        back = (self._missing & asked_set) - absent
        self._missing = (self._missing - asked_set) | absent
        self._gauge.set(len(self._missing))
        if went:
            self._log.warning(
                "%s: %d wanted symbol(s) absent from the answer: %s; %s",
                self.source,
                len(went),
                _names(went),
                then,
                extra={"source": self.source, "symbols": sorted(went), "then": then},
            )
        if back:
            self._log.info(
                "%s: %d symbol(s) served again: %s",
                self.source,
                len(back),
                _names(back),
                extra={"source": self.source, "symbols": sorted(back)},
            )
        return absent

    def retain(self, wanted: Iterable[str]) -> None:
        """Forget symbols no longer wanted (left every watchlist): they are not missing."""
        self._missing &= set(wanted)
        self._gauge.set(len(self._missing))
