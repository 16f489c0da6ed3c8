"""`Backfiller`: plans, budgets, fetches, writes and journals history chunks, step by step.

Each `step()` takes the most urgent due chunks (the journal's order: the raw
last day of every symbol first, then raw week, 5 min, 1 h) and for each:
spends its cost from the backfill budget (none left: deferred, retried when
the bucket refills), fetches, parses, writes the lines, and only then marks it
done. What the upstream says decides the rest:

- 429/418: the chunk is deferred and the upstream held until Retry-After;
- timeouts, 5xx, a failed write: retried later (`retry_s`), never dropped;
- a key refused, a geo-block: deferred and the upstream held `hold_s` (a
  setting to fix; the chunks come back once it is);
- an unusable answer (error document, malformed payload, unknown symbol):
  the chunk is failed with the upstream's text in one log line; the others go on.

No thread is needed to test it; `bbdash.backfill.service` runs `step()` on its thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bbdash.backfill.binance_klines import parse_klines
from bbdash.backfill.budget import BackfillBudget
from bbdash.backfill.candles import Parsed
from bbdash.backfill.coingecko_chart import parse_market_chart
from bbdash.backfill.fetchers import Fetcher
from bbdash.backfill.journal import DEFERRED, DONE, FAILED, PENDING, ChunkJournal
from bbdash.backfill.lines import chunk_lines
from bbdash.backfill.plan import BINANCE, COINGECKO, YAHOO, Chunk, plan_asset
from bbdash.backfill.yahoo_chart import parse_chart
from bbdash.common.upstream_errors import (
    ClientError,
    PayloadError,
    RateLimitedError,
    TransientError,
    UpstreamError,
)
from bbdash.common.watchlist import Asset

log = logging.getLogger(__name__)

PARSERS: Mapping[str, Callable[[Any, int], Parsed]] = {
    BINANCE: parse_klines,
    YAHOO: parse_chart,
    COINGECKO: parse_market_chart,
}


class Writer(Protocol):
    """Writes lines to a bucket; True once they are stored (InfluxDB acknowledged)."""

    def write(self, bucket: str, lines: Sequence[str]) -> bool: ...


@dataclass(slots=True)
class Progress:
    """Chunks of one upstream by state, and bars refused: one gauge each."""

    total: int = 0
    done: int = 0
    pending: int = 0
    deferred: int = 0
    failed: int = 0
    dropped_bars: int = 0


class Backfiller:
    """History backfill for the assets it is given; state in `journal`."""

    def __init__(
        self,
        journal: ChunkJournal,
        fetchers: Mapping[str, Fetcher],
        writer: Writer,
        budget: BackfillBudget,
        *,
        clock: Callable[[], float] = time.time,
        chunks_per_step: int = 8,
        retry_s: float = 60.0,
        hold_s: float = 600.0,
        refresh_gap_s: int = 3600,
        demo: bool = False,
    ) -> None:
        self.journal = journal
        self.fetchers = dict(fetchers)
        self.writer = writer
        self.budget = budget
        self._clock = clock
        self._chunks_per_step = chunks_per_step
        self._retry_s = retry_s
        self._hold_s = hold_s
        self._refresh_gap_s = refresh_gap_s
        self._demo = demo
        self._dropped: dict[str, int] = {}
        self._said: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def add_assets(self, assets: Iterable[Asset]) -> int:
        """Plan `assets` at the current time; returns how many chunks became pending."""
        now = int(self._clock())
        chunks = [c for a in assets for c in plan_asset(a, now) if c.source in self.fetchers]
        added = self.journal.sync(chunks, self._refresh_gap_s)
        if added:
            log.info("backfill planned", extra={"chunks": added})
        return added

    def step(self) -> int:
        """Handle up to `chunks_per_step` due chunks; returns how many it marked done."""
        with self._lock:
            now = self._clock()
            done = 0
            for chunk in self.journal.due(now, self._chunks_per_step, set(self.fetchers)):
                try:
                    done += self._one(chunk, now)
                except Exception as exc:
                    # A bug on one chunk must not stall the queue behind it.
                    log.exception("backfill chunk %s: unexpected error", chunk.id)
                    self.journal.postpone(chunk.id, now + self._retry_s, repr(exc))
            return done

    def _one(self, chunk: Chunk, now: float) -> int:
        wait = self.budget.take(chunk.source, chunk.cost)
        if wait > 0:
            self.journal.defer(chunk.id, now + wait, "budget")
            return 0
        try:
            payload = self.fetchers[chunk.source].fetch(chunk)
            parsed = PARSERS[chunk.source](payload, chunk.interval)
        except RateLimitedError as exc:
            hold = exc.retry_after_s if exc.retry_after_s is not None else self._retry_s
            self.budget.hold(chunk.source, hold)
            self.journal.defer(chunk.id, now + hold, f"{exc.kind}: {exc}")
            log.warning("backfill %s: %s; held %.0f s", chunk.source, exc, hold)
            return 0
        except (PayloadError, ClientError) as exc:
            self.journal.fail(chunk.id, f"{exc.kind}: {exc}")
            # An unknown symbol fails each of its ~30 chunks the same way: one line
            # per symbol and upstream text, the rest counted in the journal.
            said = (chunk.source, chunk.symbol, str(exc))
            if said not in self._said:
                self._said.add(said)
                log.error(
                    "backfill of %s from %s refused: %s (%s); its other chunks failing "
                    "the same way are not logged again",
                    chunk.symbol,
                    chunk.source,
                    exc,
                    exc.detail[:300],
                    extra={"chunk": chunk.id},
                )
            return 0
        except TransientError as exc:
            self.journal.postpone(chunk.id, now + self._retry_s, f"{exc.kind}: {exc}")
            log.warning("backfill chunk %s: %s; retried in %.0f s", chunk.id, exc, self._retry_s)
            return 0
        except UpstreamError as exc:  # auth, geo-block: a setting to fix, not this chunk
            self.budget.hold(chunk.source, self._hold_s)
            self.journal.postpone(chunk.id, now + self._hold_s, f"{exc.kind}: {exc}")
            log.error("backfill %s: %s (%s)", chunk.source, exc, exc.detail[:300])
            return 0
        if parsed.dropped:
            self._dropped[chunk.source] = self._dropped.get(chunk.source, 0) + parsed.dropped
            log.warning(
                "backfill chunk %s: %d bars with a bad price dropped", chunk.id, parsed.dropped
            )
        lines = chunk_lines(chunk, parsed.candles, demo=self._demo)
        if lines and not self._write(chunk, lines):
            self.journal.postpone(chunk.id, now + self._retry_s, "write failed")
            return 0
        self.journal.mark_done(chunk.id)
        return 1

    def _write(self, chunk: Chunk, lines: list[str]) -> bool:
        try:
            return bool(self.writer.write(chunk.bucket, lines))
        except Exception:
            log.exception("backfill chunk %s: write failed", chunk.id)
            return False

    def progress(self) -> dict[str, Progress]:
        """Chunks per upstream and state, for gauges and the final report."""
        out: dict[str, Progress] = {}
        for source, states in self.journal.counts().items():
            out[source] = Progress(
                total=sum(states.values()),
                done=states[DONE],
                pending=states[PENDING],
                deferred=states[DEFERRED],
                failed=states[FAILED],
                dropped_bars=self._dropped.get(source, 0),
            )
        return out

    def finished(self) -> bool:
        """Nothing left to fetch (failed chunks aside)."""
        return all(p.pending == 0 and p.deferred == 0 for p in self.progress().values())
