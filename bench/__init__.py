"""The gateway benchmark: `scripts/bench` (see `python -m bench --help`).

It seeds a database, starts the gateway as users run it beside a raw aiohttp handler
that runs the same SQL and writes the same JSON, and drives both with wrk.
`python -m bench.live` measures the customerEvents subscription (latency to 1,000
subscribers, idle subscriptions' memory), `python -m bench.instructions` instructions per
request under callgrind, `python -m bench.overhead` single features in isolation.
"""
