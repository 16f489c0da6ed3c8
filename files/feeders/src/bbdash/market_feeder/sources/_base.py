"""What the REST market sources (Yahoo, CoinGecko, Alpha Vantage, ExchangeRate) share.

Each reports to the shared `Metrics` under its own `source` label; counting a
refused value and running the poll loop live here once, so every source does
them the same way (same metric names and labels, same loop).
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from bbdash.common.metrics import Metrics
from bbdash.market_feeder.records import MarketRecord

Emit = Callable[[MarketRecord], None]


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

    def _invalid(self, reason: str) -> None:
        """Count one value refused by parsing: under its reason, and as a malformed answer."""
        self._metrics.records_invalid.labels(self._source, reason).inc()
        self._metrics.source_error(self._source, "malformed")


class PolledSource(RestSource[PolledSettingsT], ABC):
    """A `RestSource` polled every `settings.interval_s`, and at once when `_poll_now` is set."""

    def __init__(
        self, source: str, settings: PolledSettingsT, emit: Emit, metrics: Metrics
    ) -> None:
        super().__init__(source, settings, emit, metrics)
        self._poll_now = asyncio.Event()

    @abstractmethod
    async def poll_once(self) -> int:
        """One round; returns how many records were emitted."""

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            self._poll_now.clear()
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_now.wait(), timeout=self.settings.interval_s)
