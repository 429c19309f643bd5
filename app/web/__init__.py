"""The HTTP edge: aiohttp app factory, GraphQL over HTTP, GraphiQL and health checks."""
