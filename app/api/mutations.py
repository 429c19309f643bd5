"""Mutation resolvers: each turns its input into a service call and the result into a payload."""

from __future__ import annotations

import strawberry

from app.api.context import GatewayContext, Info
from app.api.inputs import (
    CreateCustomerInput,
    DeleteCustomerInput,
    UpdateCustomerInput,
    given_fields,
    optional,
)
from app.api.types import (
    CreateCustomerPayload,
    Customer,
    CustomerEdge,
    DeleteCustomerPayload,
    UpdateCustomerPayload,
    UserError,
)
from app.customers import service


async def create_customer(
    context: GatewayContext, input: CreateCustomerInput
) -> service.MutationResult:
    """createCustomer's service call, for both executors (app/api/fastpath)."""
    return await service.create_customer(
        context.store,
        principal=context.principal,
        given=given_fields(input),
        idempotency_key=optional(input.idempotency_key),
    )


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_customer(
        self, info: Info, input: CreateCustomerInput
    ) -> CreateCustomerPayload:
        context = info.context
        result = await create_customer(context, input)
        record = result.customer
        return CreateCustomerPayload(
            customer=Customer.from_record(record) if record else None,
            customer_edge=(CustomerEdge.from_record(record, context.cursors) if record else None),
            user_errors=[UserError.from_record(error) for error in result.user_errors],
            client_mutation_id=optional(input.client_mutation_id),
        )

    @strawberry.mutation
    async def update_customer(
        self, info: Info, input: UpdateCustomerInput
    ) -> UpdateCustomerPayload:
        context = info.context
        result = await service.update_customer(
            context.store,
            principal=context.principal,
            customer_id=input.id,
            given=given_fields(input),
        )
        return UpdateCustomerPayload(
            customer=Customer.from_record(result.customer) if result.customer else None,
            user_errors=[UserError.from_record(error) for error in result.user_errors],
            client_mutation_id=optional(input.client_mutation_id),
        )

    @strawberry.mutation
    async def delete_customer(
        self, info: Info, input: DeleteCustomerInput
    ) -> DeleteCustomerPayload:
        context = info.context
        result = await service.delete_customer(
            context.store, principal=context.principal, customer_id=input.id
        )
        record = result.customer
        return DeleteCustomerPayload(
            customer=Customer.from_record(record) if record else None,
            deleted_customer_id=strawberry.ID(record.id) if record else None,
            user_errors=[UserError.from_record(error) for error in result.user_errors],
            client_mutation_id=optional(input.client_mutation_id),
        )
