"""A fast path for the hot query shapes, with graphql-core as the fallback for the rest.

graphql-core resolves, completes and checks every field of every row on its own, a few
microseconds each: a 1,000-customer page is ~10,000 field executions. For documents it
knows (the `customers` connection, `customer`, `node`, `nodes`, the `createCustomer`
mutation and `__typename`, through aliases, fragments, `@skip`/`@include` and variables)
the fast path plans the validated document once into the service calls it needs and a
serializer for exactly its selection set, then answers with the `ExecutionResult`
graphql-core would have given.

- Planning (`plan.py`) reads only graphql-core's public AST and our schema's shapes; a
  document it cannot plan exactly runs through graphql-core.
- Running (`run.py`) calls the same service functions as the resolvers in app/api, so
  every rule stays in one place.
- Variables are coerced by graphql-core's functions with each operation's definitions
  read once (`variables.py`); values it would refuse go through graphql-core itself.
- Arguments are translated by the resolvers' own translation (app/api/arguments.py),
  after Strawberry's conversion of graphql-core's coerced values (planned per field
  where that conversion is renaming).
- An error while running (a BadUserInput, anything unexpected) is answered as
  graphql-core answers it: a located error and null for the field, with nothing run
  twice. A mutation's root fields run one after another, as graphql-core runs them;
  updateCustomer and deleteCustomer go through graphql-core.

tests/test_fastpath_differential.py compares both paths on generated documents.
"""

from __future__ import annotations

from app.api.fastpath.run import Executor

__all__ = ["Executor"]
