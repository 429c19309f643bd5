"""`python -m faults.attackers PORT SECRET SECONDS`: greedy and slow clients, in a process
of their own so that they do not slow down the harness's measurements.

Slowloris clients trickle header lines, idle ones hold a connection open, a few send
pipelined requests and never read an answer, and one key floods the gateway from 16
connections. Connections the gateway closes are opened again. Prints what it saw.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

import aiohttp

SLOWLORIS, IDLE, NON_READERS, FLOODERS = 300, 2_000, 5, 16
_PAGE = '{"query": "{ customers(first: 50) { edges { node { id name email } } } }"}'


async def _hold(port: int, tally: Counter[str], stop: asyncio.Event, *, trickle: bool) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            tally["connect failed"] += 1
            await asyncio.sleep(0.5)
            continue
        tally["slowloris opened" if trickle else "idle opened"] += 1
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\n" if trickle else b"")
        try:
            while not stop.is_set():
                if trickle:
                    writer.write(b"X-Slow: y\r\n")
                try:
                    if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                        break
                except TimeoutError:
                    continue
        except OSError:
            pass
        finally:
            writer.close()


async def _never_read(port: int, secret: str, tally: Counter[str], stop: asyncio.Event) -> None:
    body = _PAGE.encode()
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request * 200)
    tally["pipelined requests never read"] += 200
    await stop.wait()
    writer.close()


async def _flood(url: str, secret: str, tally: Counter[str], stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.post(url, data=_PAGE, headers=headers) as response:
                    await response.read()
                    tally[f"flood {response.status}"] += 1
            except aiohttp.ClientError:
                tally["flood error"] += 1


async def main(port: int, secret: str, seconds: float) -> None:
    tally: Counter[str] = Counter()
    stop = asyncio.Event()
    url = f"http://127.0.0.1:{port}/graphql"
    tasks = [
        *(_hold(port, tally, stop, trickle=True) for _ in range(SLOWLORIS)),
        *(_hold(port, tally, stop, trickle=False) for _ in range(IDLE)),
        *(_never_read(port, secret, tally, stop) for _ in range(NON_READERS)),
        *(_flood(url, secret, tally, stop) for _ in range(FLOODERS)),
    ]
    running = [asyncio.create_task(task) for task in tasks]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait(running, timeout=5)
    print(", ".join(f"{name}: {count}" for name, count in sorted(tally.items())), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3])))
