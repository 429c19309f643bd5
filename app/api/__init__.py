"""The GraphQL layer: Strawberry types and resolvers that translate to service calls."""
