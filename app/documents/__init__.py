"""Persisted documents: GraphQL documents stored by the SHA-256 of their text."""
