"""The one poll loop of both feeders: poll, beat, wait, and again, forever.

Market sources (Yahoo, CoinGecko, the fallbacks when Yahoo is off) and news
pollers all run in a `PollLoop`:

- a poll that raises is logged and the loop goes on: a parser bug must not
  stop collection (upstream trouble never raises here: `Upstream` counts it);
- the heartbeat beats after every poll, whatever the upstream answered, so an
  upstream outage never makes the container unhealthy, a stuck loop does;
- the next poll comes `interval_s` later, stretched by up to `jitter` (never
  sooner: budgets are computed from `interval_s`; later, so that sources
  started together drift apart), or at once after `wake()` (new assets);
- `first_delay_s` staggers the first poll (random up to that), so that a
  restart does not fire every feed at the same instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from bbdash.common.health import Heartbeat

log = logging.getLogger(__name__)

# A loop that has not finished a poll for this long past its interval is stuck.
_HEARTBEAT_SLACK_S = 300.0


class PollLoop:
    """Runs `poll()` every `interval_s` until cancelled."""

    def __init__(
        self,
        name: str,
        poll: Callable[[], Awaitable[object]],
        interval_s: float,
        *,
        first_delay_s: float = 0.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self._poll = poll
        self._first_delay_s = first_delay_s
        self._jitter = jitter
        self._rng = rng or random.Random()  # noqa: S311 - scheduling jitter, not security
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Poll at once instead of at the end of the current wait."""
        self._wake.set()

    async def run(self, heartbeat: Heartbeat | None = None) -> None:
        """Poll forever; beat `heartbeat` (loop `name`) after every poll."""
        if heartbeat is not None:
            heartbeat.register(self.name, 3 * self.interval_s + _HEARTBEAT_SLACK_S)
        if self._first_delay_s > 0:
            await self._wait(self._rng.uniform(0.0, self._first_delay_s))
        while True:
            self._wake.clear()  # a wake() during the poll means "poll again now"
            try:
                await self._poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("poll failed", extra={"loop": self.name})
            if heartbeat is not None:
                heartbeat.beat(self.name)
            await self._wait(self.interval_s * (1.0 + self._rng.uniform(0.0, self._jitter)))

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
