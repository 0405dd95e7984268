"""crm-graph: a CRM backend served as a GraphQL API, extended by pluggy plugins."""

__version__ = "0.1.0"
