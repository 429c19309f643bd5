"""PostGraphile's documents for the gateway's read workloads, and the check that each
answers the same customers in the same order as the gateway's.

The documents come from the gateway's own specs (bench/workloads.py), spelled in
PostGraphile's schema: `allCustomers` ordered by `[CREATED_AT_DESC, ROW_ID_DESC]` (the
gateway's default order), `customerByRowId`, `id: rowId` (PostGraphile's amber preset
names an `id` column `rowId`), and the gateway's filter on the casefolded `*_key`
columns, which is what the gateway's own SQL matches. Selections, aliases and shapes
stay the gateway's, so both answers have the same keys. Writes and documents by
documentId have no equivalent here (the gateway's create records an event and mints
its id; PostGraphile 5 has no persisted documents without another plugin).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from bench import workloads
from bench.workloads import Case, Workload

# The gateway's default order, created_at DESC, id DESC.
_ORDER = "orderBy: [CREATED_AT_DESC, ROW_ID_DESC]"
POSTGRAPHILE = workloads.Dialect(
    connection="allCustomers",
    cursor_type="Cursor",
    page_arguments=f", {_ORDER}",
    lookup="customerByRowId(rowId: $id)",
    id_type="String!",
    renames={"id": "rowId"},
)
# The gateway's filter operators as the connection-filter plugin names them.
_OPERATORS = {"eq": "equalTo", "startsWith": "startsWith", "contains": "includes"}
_LOGICAL = ("and", "or")
# bench/seed.py's deep cursor stands 60 customers from the end of the default order.
_DEEP_FROM_END = 60
_UNMATCHED = {
    "persisted_page50": "no persisted documents in PostGraphile 5 without another plugin",
    "persisted_customer": "no persisted documents in PostGraphile 5 without another plugin",
    "create": "not equivalent: the gateway's create mints the id and records an event",
}


def peer_filter(given: dict[str, Any]) -> dict[str, Any]:
    """The gateway's CustomerFilter as the plugin's: each text field by its casefolded
    key column, with the value casefolded as the gateway does before it matches."""
    translated: dict[str, Any] = {}
    for name, value in given.items():
        if name in _LOGICAL:
            translated[name] = [peer_filter(each) for each in value]
        elif name == "not":
            translated[name] = peer_filter(value)
        else:
            translated[f"{name}Key"] = {
                _OPERATORS[operator]: operand.casefold() for operator, operand in value.items()
            }
    return translated


def build(chosen: list[Workload], deep_cursor: str) -> dict[str, Workload | str]:
    """Each of the gateway's workloads for PostGraphile, or why it has none."""
    built: dict[str, Workload | str] = {}
    for workload in chosen:
        if workload.name in _UNMATCHED:
            built[workload.name] = _UNMATCHED[workload.name]
            continue
        cases = [_case(case, deep_cursor) for case in workload.cases]
        built[workload.name] = Workload(workload.name, cases)
    return built


def _case(case: Case, deep_cursor: str) -> Case:
    spec = case.raw
    if spec["kind"] == "customer":
        query = workloads.customer_document(spec, POSTGRAPHILE)
        return Case({**case.body, "query": query}, spec)
    given = case.body.get("variables")
    if given is None:
        # A burst's document, named in its text alone: "query Burst7 { … }".
        operation = case.body["query"].split(" ", 2)[1]
        query = workloads.page_document(operation, spec, variables=False, dialect=POSTGRAPHILE)
        return Case({"query": query}, spec)
    variables = dict(given)
    if variables.get("after"):
        variables["after"] = deep_cursor
    if variables.get("filter"):
        variables["filter"] = peer_filter(variables["filter"])
    operation = case.body["operationName"]
    query = workloads.page_document(operation, spec, variables=True, dialect=POSTGRAPHILE)
    return Case({"query": query, "variables": variables, "operationName": operation}, spec)


def deep_cursor(port: int) -> str:
    """PostGraphile's cursor for the customer the gateway's deep cursor points at."""
    query = f"{{ allCustomers(last: {_DEEP_FROM_END + 1}, {_ORDER}) {{ edges {{ cursor }} }} }}"
    answer = json.loads(post(port, {"query": query}))
    return str(answer["data"]["allCustomers"]["edges"][0]["cursor"])


def post(port: int, body: dict[str, Any]) -> bytes:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return bytes(response.read())


def differences(spec: dict[str, Any], gateway: bytes, peer: bytes) -> str | None:
    """None when both answers hold the same customers in the same order (and the same
    pageInfo flags), else what differs."""
    ours, theirs = json.loads(gateway), json.loads(peer)
    if "errors" in theirs or "errors" in ours:
        return f"an answer has errors: {str(theirs.get('errors') or ours.get('errors'))[:300]}"
    root = spec["root"]
    mine, yours = _customers(spec, ours["data"][root]), _customers(spec, theirs["data"][root])
    if mine != yours:
        pairs = enumerate(zip(mine, yours, strict=False))
        at = next((index for index, (a, b) in pairs if a != b), min(len(mine), len(yours)))
        return (
            f"customers differ at {at}: gateway {mine[at : at + 2]} ({len(mine)} in all), "
            f"peer {yours[at : at + 2]} ({len(yours)} in all)"
        )
    return None


def _customers(spec: dict[str, Any], answer: Any) -> list[Any]:
    """The ids an answer lists, in order, and a page's hasNextPage. Not hasPreviousPage:
    after a cursor PostGraphile answers false without looking (Relay allows it), where
    the gateway looks behind the cursor."""
    if spec["kind"] == "customer":
        return [_id(spec["fields"], answer)]
    found: list[Any] = []
    for key, kind, payload in spec["parts"]:
        if kind == "edges":
            found += [_id(payload["fields"], edge[payload["node"]]) for edge in answer[key]]
        elif kind == "nodes":
            found += [_id(payload, node) for node in answer[key]]
        else:
            found += [(out, answer[key][out]) for out, name in payload if name == "hasNextPage"]
    return found


def _id(fields: list[list[str]], node: dict[str, Any] | None) -> Any:
    if node is None:
        return None
    return next(node[key] for key, name in fields if name == "id")
