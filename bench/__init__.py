"""The gateway benchmark: `scripts/bench` (see `python -m bench --help`).

It seeds a database, starts the gateway as users run it beside a raw aiohttp handler
that runs the same SQL and writes the same JSON, and drives both with wrk.
"""
