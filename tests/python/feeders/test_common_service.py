"""`cancel_and_wait`: the shutdown step the market feeder and its Binance streams share."""

from __future__ import annotations

import asyncio

from bbdash.common.service import cancel_and_wait


def test_cancel_and_wait_cancels_every_task_and_swallows_what_they_raise():
    async def scenario() -> list[asyncio.Task[None]]:
        async def forever() -> None:
            await asyncio.Event().wait()

        async def fails_on_cancel() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise RuntimeError("clean-up failed") from None

        async def failed_already() -> None:
            raise ValueError("boom")

        tasks = [
            asyncio.create_task(forever()),
            asyncio.create_task(fails_on_cancel()),
            asyncio.create_task(failed_already()),
        ]
        await asyncio.sleep(0)  # let each task start
        await cancel_and_wait(tasks)  # raises nothing
        return tasks

    forever, fails_on_cancel, failed_already = asyncio.run(scenario())
    assert forever.cancelled()
    assert isinstance(fails_on_cancel.exception(), RuntimeError)
    assert isinstance(failed_already.exception(), ValueError)
