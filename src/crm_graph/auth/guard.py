"""Enforcing field declarations: permissions on operation fields, masks on personal data.

:func:`secure_fields` is called once per GraphQL type while the schema is composed (from
``ComposedSchema.get_fields``): every Query, Mutation and Subscription field gets a
:class:`PermissionGuard` (fail closed: a field that declares nothing is for ``admin`` only, and
a test lists such fields), and any field, on any type, declaring a permission or personal data
gets its guard or mask. Other fields are left untouched and cost nothing.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from crm_graph.auth.declare import PERMISSION, PII_FIELD
from crm_graph.auth.permissions import WILDCARD, Policy
from crm_graph.auth.personal import shown
from crm_graph.auth.principal import Principal
from crm_graph.auth.scope import acting_as
from crm_graph.plugins_manager import PluginError

OPERATION_TYPES = ("Query", "Mutation", "Subscription")


def principal_of(info: Info) -> Principal:
    principal = getattr(info.context, "principal", None)
    if principal is None:
        raise GraphQLError("authentication required", extensions={"code": "UNAUTHENTICATED"})
    return principal


def forbidden(principal: Principal, field_name: str, permission: str) -> GraphQLError | None:
    """The FORBIDDEN error of ``field_name`` for a caller without ``permission``; None when
    the caller holds it."""
    if principal.has(permission):
        return None
    shown = "an administrator" if permission == WILDCARD else f"permission {permission!r}"
    return GraphQLError(
        f"{field_name} needs {shown}; role {principal.role!r} does not have it",
        extensions={"code": "FORBIDDEN", "permission": permission},
    )


def require(info: Info, permission: str) -> Principal:
    """The caller, when it holds ``permission``; a FORBIDDEN error otherwise."""
    principal = principal_of(info)
    error = forbidden(principal, info.field_name, permission)
    if error is not None:
        raise error
    return principal


async def _settle(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


class PermissionGuard(FieldExtension):
    def __init__(self, permission: str) -> None:
        self.permission = permission

    def resolve(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        require(info, self.permission)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        require(info, self.permission)
        return await _settle(next_(source, info, **kwargs))


class PersonalDataMask(FieldExtension):
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def _shown(self, info: Info, value: Any) -> Any:
        return shown(principal_of(info), value, self.kind)

    def resolve(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        return self._shown(info, next_(source, info, **kwargs))

    async def resolve_async(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        return self._shown(info, await _settle(next_(source, info, **kwargs)))


def personal_fields(graphql_type: Any) -> dict[str, str]:
    """Python name -> mask kind of the fields of a strawberry type declared ``personal_data``,
    for values of those fields shown elsewhere (a merge plan shows customer fields)."""
    return {
        field.python_name: kind
        for field in graphql_type.__strawberry_definition__.fields
        if (kind := (field.metadata or {}).get(PII_FIELD)) is not None
    }


def _secured(field: StrawberryField, operation: bool) -> StrawberryField:
    metadata = field.metadata or {}
    permission = metadata.get(PERMISSION) or (WILDCARD if operation else None)
    kind = metadata.get(PII_FIELD)
    if permission is None and kind is None:
        return field
    secured = copy.copy(field)
    # A fresh list: the shallow copy shares it with the class's field, which other apps
    # composed in this process must not see. The last extension runs outermost, so the
    # guard decides before anything runs.
    secured.extensions = [
        *field.extensions,
        *([PersonalDataMask(kind)] if kind is not None else []),
        *([PermissionGuard(permission)] if permission is not None else []),
    ]
    return secured


def secure_fields(type_name: str, fields: list[StrawberryField]) -> list[StrawberryField]:
    operation = type_name in OPERATION_TYPES
    return [_secured(field, operation) for field in fields]


def operation_fields(schema: Any) -> Iterator[tuple[str, str, str | None]]:
    """(type, field, declared permission or None) for every operation field of a schema."""
    for type_name in OPERATION_TYPES:
        graphql_type = schema._schema.get_type(type_name)
        if graphql_type is None:
            continue
        for name, graphql_field in graphql_type.fields.items():
            field = graphql_field.extensions.get("strawberry-definition")
            metadata = (field.metadata if field is not None else None) or {}
            yield type_name, name, metadata.get(PERMISSION)


class AccessExtension(SchemaExtension):
    """Runs each operation as its caller, so ownership scopes apply to every ORM read."""

    def on_operation(self) -> Iterator[None]:
        principal = getattr(self.execution_context.context, "principal", None)
        with acting_as(principal):
            yield


def check_declarations(schema: Any, policy: Policy) -> None:
    """Stop startup when a field requires a permission nobody declared (a typo fails open
    nowhere, but it would lock everyone out silently)."""
    for graphql_type in schema._schema.type_map.values():
        for name, graphql_field in (getattr(graphql_type, "fields", None) or {}).items():
            field = graphql_field.extensions.get("strawberry-definition")
            permission = ((field.metadata if field is not None else None) or {}).get(PERMISSION)
            if permission is not None and permission not in policy.permissions:
                raise PluginError(
                    f"field {graphql_type.name}.{name} requires {permission!r}, which no one "
                    "declares (declare it with the crm_permissions hook)"
                )
