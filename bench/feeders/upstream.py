"""Bench upstream: a Binance-like combined-stream WebSocket replaying 24hrTicker frames.

Runs in its own process (started by run.py) so that its CPU is not counted
against the feeder. Every connection gets, for each stream it subscribed to
(URL or SUBSCRIBE), `rate` frames per second, with increasing event times.
Loopback only; stops after `--duration` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve


def frame_parts(stream: str, rng: random.Random) -> tuple[str, str, str]:
    """The constant parts of a stream's frames: only the event time and price vary.

    Pre-built so the replay server spends its CPU on sending, not formatting.
    """
    symbol = stream.split("@")[0].upper()
    head = f'{{"stream":"{stream}","data":{{"e":"24hrTicker","E":'
    middle = f',"s":"{symbol}","p":"12.5","P":"{rng.uniform(-5, 5):.3f}","w":"100.0","c":"'
    tail = (
        f'","Q":"0.1","o":"99.0","h":"110.0","l":"90.0","v":"1000.0",'
        f'"q":"{rng.uniform(1e6, 1e9):.2f}","O":0,"C":86400000,"F":0,"L":18150,"n":18151}}}}'
    )
    return head, middle, tail


async def handler(ws: ServerConnection, rate: float, stop_at: float) -> None:
    assert ws.request is not None
    query = parse_qs(urlsplit(ws.request.path).query)
    streams = set(query.get("streams", [""])[0].split("/")) - {""}

    async def control() -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("method") == "SUBSCRIBE":
                streams.update(message["params"])
            elif message.get("method") == "UNSUBSCRIBE":
                streams.difference_update(message["params"])
            await ws.send(json.dumps({"result": None, "id": message.get("id")}))

    reader = asyncio.create_task(control())
    rng = random.Random(1)
    prices: dict[str, float] = {}
    parts: dict[str, tuple[str, str, str]] = {}
    period = 1.0 / rate
    next_at = time.monotonic()
    try:
        while time.monotonic() < stop_at:
            event = str(time.time_ns() // 1_000_000)
            for stream in sorted(streams):
                if stream not in parts:
                    parts[stream] = frame_parts(stream, rng)
                    prices[stream] = rng.uniform(1, 1000)
                price = prices[stream] * (1 + rng.gauss(0, 0.0005))
                prices[stream] = price
                head, middle, tail = parts[stream]
                await ws.send(head + event + middle + f"{price:.8f}" + tail)
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    except Exception:
        pass
    finally:
        reader.cancel()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=10.0, help="frames per second per stream")
    parser.add_argument("--duration", type=float, default=90.0)
    args = parser.parse_args()
    stop_at = time.monotonic() + args.duration
    async with serve(
        lambda ws: handler(ws, args.rate, stop_at),
        "127.0.0.1",
        args.port,
        max_size=2**20,
    ):
        print("ready", flush=True)
        await asyncio.sleep(args.duration + 1)


if __name__ == "__main__":
    asyncio.run(main())
