"""A fast path for the hot query shapes, with graphql-core as the fallback for the rest.

graphql-core resolves, completes and checks every field of every row on its own, a few
microseconds each: a 1,000-customer page is ~10,000 field executions. For documents it
knows (the `customers` connection, `customer`, `node`, `nodes` and `__typename`, through
aliases, fragments, `@skip`/`@include` and variables) the fast path plans the validated
document once into the service calls it needs and a serializer for exactly its
selection set, then answers with the `ExecutionResult` graphql-core would have given.

- Planning (`plan.py`) reads only graphql-core's public AST and our schema's shapes; a
  document it cannot plan exactly runs through graphql-core.
- Running (`run.py`) calls the same service functions as the resolvers in app/api, so
  every rule stays in one place.
- Any error while running (a BadUserInput, anything unexpected) re-runs the request
  through graphql-core: queries have no side effects, so the client gets graphql-core's
  answer byte for byte, errors and all. Mutations always go through graphql-core.

tests/test_fastpath_differential.py compares both paths on generated documents.
"""

from __future__ import annotations

from app.api.fastpath.run import execute

__all__ = ["execute"]
