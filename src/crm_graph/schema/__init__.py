"""The GraphQL schema: core types composed with plugin contributions."""
