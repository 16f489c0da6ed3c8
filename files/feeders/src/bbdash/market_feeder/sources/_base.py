"""What the REST market sources (Yahoo, CoinGecko, Alpha Vantage, ExchangeRate) share.

Each calls its upstream through a `bbdash.common.upstream.Upstream` built from
its settings (`UpstreamLimits.build`), which counts, logs and obeys upstream
errors; what is left here is the market side: where records go, counting a
response and a refused value under the source's label, and, for the polled
sources, the shared `PollLoop`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from bbdash.common.health import Heartbeat
from bbdash.common.metrics import Metrics
from bbdash.common.polling import PollLoop
from bbdash.market_feeder.records import MarketRecord

Emit = Callable[[MarketRecord], None]
# Sent to every upstream (the app's shared HTTP client, or a source's own in tests).
USER_AGENT = "bbdash-market-feeder/0.1"


class _PolledSettings(Protocol):
    interval_s: float


SettingsT = TypeVar("SettingsT")
PolledSettingsT = TypeVar("PolledSettingsT", bound=_PolledSettings)


class RestSource(Generic[SettingsT]):
    """A source's settings, where its records go, and the metrics it reports to."""

    def __init__(self, source: str, settings: SettingsT, emit: Emit, metrics: Metrics) -> None:
        self.settings = settings
        self._source = source
        self._emit = emit
        self._metrics = metrics

    def _received(self) -> None:
        """Count one usable response (`bbdash_source_messages_total`)."""
        self._metrics.source_messages.labels(self._source).inc()

    def _invalid(self, reason: str) -> None:
        """Count one value refused by parsing: under its reason, and as a malformed answer."""
        self._metrics.records_invalid.labels(self._source, reason).inc()
        self._metrics.source_error(self._source, "malformed")


class PolledSource(RestSource[PolledSettingsT], ABC):
    """A `RestSource` polled every `settings.interval_s`, and at once after `_poll_soon()`."""

    def __init__(
        self, source: str, settings: PolledSettingsT, emit: Emit, metrics: Metrics
    ) -> None:
        super().__init__(source, settings, emit, metrics)
        self._loop = PollLoop(f"poll_{source}", self.poll_once, settings.interval_s)

    @abstractmethod
    async def poll_once(self) -> int:
        """One round; returns how many records were emitted."""

    def _poll_soon(self) -> None:
        """New assets: poll now rather than at the end of the interval."""
        self._loop.wake()

    async def run(self, heartbeat: Heartbeat | None = None) -> None:
        """Poll until cancelled."""
        await self._loop.run(heartbeat)
