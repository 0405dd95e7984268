"""Business rules on rows: validation, normalisation, lifecycle. No GraphQL, no HTTP."""
