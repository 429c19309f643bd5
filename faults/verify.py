"""What the database holds, against what the clients were told."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from faults.load import ACKED, IN_DOUBT, REFUSED, Tally


@dataclass
class Findings:
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    keys_split: list[str] = field(default_factory=list)
    wrong_state: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return sum(
            len(each)
            for each in (
                self.lost,
                self.duplicated,
                self.unexpected,
                self.keys_split,
                self.wrong_state,
            )
        )


async def check(database_url: str, tally: Tally) -> Findings:
    rows, keys = await _read(database_url)
    by_name: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for customer_id, name, metadata in rows:
        by_name[name].append((customer_id, metadata))
    present = {customer_id: metadata for customer_id, _n, metadata in rows}
    findings = Findings()
    findings.acknowledged = sum(write.outcome == ACKED for write in tally.writes)
    deleted = _deleted(tally)
    for write in tally.writes:
        if write.kind != "create":
            continue
        copies = [customer_id for customer_id, _m in by_name.get(write.marker, [])]
        if len(copies) > 1:
            findings.duplicated.append(write.marker)
        if write.outcome == ACKED and write.customer_id not in deleted and not copies:
            findings.lost.append(write.marker)
        if write.outcome == REFUSED and copies:
            findings.unexpected.append(write.marker)
    for key, customers in keys.items():
        if len(set(customers)) > 1:
            findings.keys_split.append(key)
    _check_updates_and_deletes(tally, present, deleted, findings)
    return findings


def _deleted(tally: Tally) -> set[str]:
    return {
        w.customer_id
        for w in tally.writes
        if w.kind == "delete" and w.outcome in (ACKED, IN_DOUBT) and w.customer_id
    }


def _check_updates_and_deletes(
    tally: Tally, present: dict[str, dict[str, Any]], deleted: set[str], findings: Findings
) -> None:
    updates: dict[str, list[Any]] = defaultdict(list)
    for write in tally.writes:
        if write.kind == "update" and write.customer_id:
            updates[write.customer_id].append(write)
        if write.kind == "delete" and write.outcome == ACKED and write.customer_id in present:
            findings.wrong_state.append(f"{write.customer_id} deleted but present")
        if write.kind == "delete" and write.outcome == REFUSED and write.customer_id not in present:
            findings.wrong_state.append(f"{write.customer_id} refused delete but absent")
    for customer_id, writes in updates.items():
        if customer_id in deleted or customer_id not in present:
            continue
        acked = [w.version for w in writes if w.outcome == ACKED]
        # The stored value is the last acknowledged one, or one sent after it in doubt.
        allowed = {str(v) for v in acked[-1:]}
        last_acked = acked[-1] if acked else -1
        allowed |= {
            str(w.version) for w in writes if w.outcome == IN_DOUBT and w.version > last_acked
        }
        stored = present[customer_id].get("v")
        if (acked or stored is not None) and stored not in allowed:
            findings.wrong_state.append(f"{customer_id} holds v={stored}, allowed {allowed}")


async def _read(
    database_url: str,
) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, list[str]]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            customers = await connection.execute(text("SELECT id, name, metadata FROM customers"))
            rows = [(c, n, _json(m)) for c, n, m in customers]
            records = await connection.execute(
                text("SELECT key, response FROM idempotency_records")
            )
            keys: dict[str, list[str]] = defaultdict(list)
            for key, response in records:
                if response is not None:
                    keys[key].append(str(_json(response).get("id")))
    finally:
        await engine.dispose()
    return rows, keys


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, (bytes, str)):
        loaded = orjson.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return value if isinstance(value, dict) else {}


def status_summary(tally: Tally) -> str:
    counts: Counter[str] = Counter({str(k): v for k, v in tally.statuses.items()})
    return " ".join(f"{status}:{count}" for status, count in sorted(counts.items()))
