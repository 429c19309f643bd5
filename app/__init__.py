"""The customers GraphQL gateway."""
