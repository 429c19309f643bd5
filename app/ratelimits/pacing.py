"""Refusals of one key, answered at a steady pace: a key that keeps sending once its bucket
is empty cannot make the process spend its time refusing it.

Answering a 429 costs about as much as answering any small request (the HTTP exchange,
reading the body, the cost check), and a client that ignores Retry-After sends the next at
once. Each key's refusals therefore take turns, at most `per_second` a second in this
process: a refusal waits for its turn, up to `MAX_WAIT_SECONDS`, before it is answered.
A flooding client's connections then wait instead of sending, and its refusals cost this
process a bounded share of its time whatever its rate (README, "Rate limits").
"""

from __future__ import annotations

import asyncio
import time

MAX_WAIT_SECONDS = 2.0
# Keys whose turns are all in the past are forgotten once this many are remembered.
_PRUNE_AT = 10_000


class RefusalPacer:
    def __init__(self, per_second: int) -> None:
        self._interval = 1.0 / per_second
        self._next_turn: dict[str, float] = {}

    async def wait_turn(self, key_id: str) -> float:
        """Wait for this key's next refusal turn; returns the seconds waited."""
        now = time.monotonic()
        turn = max(now, self._next_turn.get(key_id, now))
        wait = turn - now
        if wait <= MAX_WAIT_SECONDS:
            self._next_turn[key_id] = turn + self._interval
            if len(self._next_turn) > _PRUNE_AT:
                self._forget_past(now)
        else:
            wait = MAX_WAIT_SECONDS  # the queue is full: wait the longest, take no turn
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    def _forget_past(self, now: float) -> None:
        self._next_turn = {key: turn for key, turn in self._next_turn.items() if turn > now}
