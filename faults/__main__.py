"""`python -m faults`: run the fault cases and print what was acknowledged and kept."""

from __future__ import annotations

import argparse
import asyncio
import sys

from faults import cases

_HEADER = [
    "case",
    "backend",
    "load",
    "faults injected",
    "acked writes",
    "lost",
    "duplicated",
    "other mismatches",
    "unclean answers",
    "hangs",
    "tracebacks",
    "recovery",
    "statuses",
]


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/faults", description=__doc__)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--outage", type=float, default=5.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--soak", type=float, default=30.0, help="minutes of each soak")
    parser.add_argument(
        "--cases",
        default="restart,kill,sigterm,disk,greedy",
        help="comma-separated: restart,kill,sigterm,disk,greedy,soak (soak is not in the default)",
    )
    arguments = parser.parse_args()
    rows = asyncio.run(
        _run(arguments.cases.split(","), arguments.clients, arguments.outage, arguments.soak)
    )
    print("| " + " | ".join(_HEADER) + " |")
    print("|" + "---|" * len(_HEADER))
    for row in rows:
        print("| " + " | ".join(cases.describe(row)) + " |")
    for row in rows:
        if row.missed:
            print(f"{row.case} ({row.backend}): missed: {row.missed}", file=sys.stderr)
        for problem in row.tally.unclean[:5]:
            print(f"{row.case} ({row.backend}): {problem}", file=sys.stderr)
    return 0 if all(row.passed for row in rows) else 1


async def _run(
    names: list[str], clients: int, outage: float, soak_minutes: float
) -> list[cases.Row]:
    rows = []
    for name in names:
        if name == "restart":
            rows.append(await cases.postgres_restart(clients, outage))
        elif name == "kill":
            rows.append(await cases.replica_killed(clients))
        elif name == "soak":
            for backend in ("sqlite", "postgres"):
                rows.append(await cases.soak(clients, soak_minutes, backend))
        elif name == "greedy":
            rows.append(await cases.greedy_clients(clients))
        elif name == "disk":
            rows.append(await cases.sqlite_disk_full(clients))
        elif name == "sigterm":
            for backend in ("sqlite", "postgres"):
                rows.append(await cases.sigterm_under_load(clients, backend))
        else:
            raise SystemExit(f"error: unknown case {name!r}")
    return rows


if __name__ == "__main__":
    sys.exit(main())
