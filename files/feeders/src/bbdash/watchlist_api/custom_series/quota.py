"""The loop that keeps each person's custom bucket within its series quota.

Every ``interval`` seconds, for each person of ``custom_buckets``: count the series
of their bucket (``influxdb.cardinality`` since the epoch), then switch their write
tokens to ``inactive`` while the count is above ``max_series``, and back to
``active`` once it is not. A token is the person's by its description prefix and
its single permission (influx.owned_tokens). An inactive token is refused by
InfluxDB on write (403 "token is inactive"); the person deletes series or asks for
a larger quota, and writes resume at the next pass.

An InfluxDB outage skips the pass: one log line per outage, the last measures
stay, nothing is lost (the tokens keep their status), the next pass retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from bbdash.watchlist_api.custom_series.influx import (
    CustomInflux,
    CustomInfluxError,
    TokenMissingError,
    owned_tokens,
)
from bbdash.watchlist_api.metrics import (
    CUSTOM_OVER_QUOTA,
    CUSTOM_QUOTA_SUCCESS,
    CUSTOM_SERIES,
    CUSTOM_TOKEN_CHANGES,
)
from bbdash.watchlist_api.settings import CustomBucket

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Measure:
    series: int
    over_quota: bool
    at: float  # time.time() of the measure


class CustomQuota:
    """One background task per process; ``measures`` is what the last passes found."""

    def __init__(
        self, influx: CustomInflux, buckets: dict[str, CustomBucket], *, interval: float
    ) -> None:
        self.influx = influx
        self._buckets = buckets
        self._interval = interval
        self.measures: dict[str, Measure] = {}
        self._task: asyncio.Task[None] | None = None
        self._reported: dict[str, str] = {}  # the last failure logged, per login ("" = all)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="custom-series-quota")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.influx.close()

    def over_quota(self, login: str) -> bool:
        found = self.measures.get(login)
        return found is not None and found.over_quota

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop outlives any one pass; the pass said what failed
                log.exception("custom series quota pass failed")
            await asyncio.sleep(self._interval)

    async def run_once(self) -> bool:
        """One pass; True when every bucket was measured and its tokens set."""
        done = True
        for login, declared in self._buckets.items():
            try:
                await self._check(login, declared)
            except CustomInfluxError as exc:
                done = False
                unreachable = exc.status is None
                # InfluxDB down or no token: the same for every bucket, one line for all.
                self._report("" if unreachable else login, str(exc), quiet=_quiet(exc))
                if unreachable:
                    break
            else:
                self._recovered(login)
        if done:
            self._recovered("")
            CUSTOM_QUOTA_SUCCESS.set_to_current_time()
        return done

    async def _check(self, login: str, declared: CustomBucket) -> None:
        try:
            bucket = await self.influx.bucket(declared.bucket)
            series = await self.influx.series(bucket)
            tokens = owned_tokens(await self.influx.authorizations(bucket.org_id), login, bucket)
        except CustomInfluxError as exc:
            if exc.status == 404:
                self.influx.forget_buckets()  # recreated under another ID, maybe
            raise
        over = series > declared.max_series
        self.measures[login] = Measure(series, over, time.time())
        CUSTOM_SERIES.labels(login).set(series)
        CUSTOM_OVER_QUOTA.labels(login).set(1 if over else 0)
        wanted = "inactive" if over else "active"
        for token in tokens:
            if token.status == wanted:
                continue
            await self.influx.set_status(token.id, wanted)
            CUSTOM_TOKEN_CHANGES.labels("deactivate" if over else "reactivate").inc()
            log.info(
                "custom series token switched",
                extra={"login": login, "token_id": token.id, "status": wanted, "series": series},
            )

    def _report(self, key: str, reason: str, *, quiet: bool = False) -> None:
        # An outage is one log line, not one per pass; the metrics keep the last measures.
        if self._reported.get(key) != reason:
            level = logging.INFO if quiet else logging.WARNING
            extra = {"reason": reason, "login": key or None}
            log.log(level, "custom series quota waits", extra=extra)
            self._reported[key] = reason

    def _recovered(self, key: str) -> None:
        if self._reported.pop(key, None) is not None:
            log.info("custom series quota measured again", extra={"login": key or None})


def _quiet(exc: CustomInfluxError) -> bool:
    return isinstance(exc, TokenMissingError)
