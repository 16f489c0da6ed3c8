"""Process lifecycle for an asyncio service: run until SIGTERM/SIGINT, then stop cleanly.

Docker stops a container with SIGTERM and kills it 10 s later; turning the
signal into task cancellation gives the service's `finally` blocks (flushing the
sink to InfluxDB or the spool) the time to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)


async def run_until_signal(main: Callable[[], Awaitable[None]]) -> None:
    """Await `main()`; cancel it on SIGTERM or SIGINT and wait for it to finish."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main())

    def _stop(signame: str) -> None:
        log.info("stop requested", extra={"signal": signame})
        task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, _stop, sig.name)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


async def cancel_and_wait(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel every task, then await each, swallowing what it raises.

    Shutdown paths run this in `finally`: one task's error (or a cancellation
    arriving meanwhile) must not stop the others from being cancelled and
    awaited, nor skip the clean-up that follows.
    """
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
