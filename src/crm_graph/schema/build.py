"""Composing the core schema with plugin contributions into one strawberry Schema.

Plugin fields are merged at conversion time through ``Schema.get_fields`` (strawberry's own
extension point), so the core classes are never mutated and two apps with different plugins
can live in one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types.base import (
    StrawberryContainer,
    StrawberryObjectDefinition,
    has_object_definition,
)
from strawberry.types.field import StrawberryField

from crm_graph.auth.guard import secure_fields
from crm_graph.contributions import EXTENDABLE_TYPES, NodeLookup, SchemaContribution
from crm_graph.plugins_manager import PluginError, PluginSet
from crm_graph.schema.date_fields import name_date_fields
from crm_graph.schema.dedupe import DedupeQueries, MergeMutations
from crm_graph.schema.errors import report_errors
from crm_graph.schema.events import EventQueries, EventSubscriptions
from crm_graph.schema.fanout import SharedEventExecutor
from crm_graph.schema.mutations.catalog import ProductMutations
from crm_graph.schema.mutations.customers import CustomerMutations
from crm_graph.schema.mutations.imports import BulkMutations
from crm_graph.schema.mutations.interactions import InteractionMutations
from crm_graph.schema.mutations.orders import OrderMutations
from crm_graph.schema.outbound_email import OutboundEmailMutations, OutboundEmailQueries
from crm_graph.schema.plugin_fields import RowLookup
from crm_graph.schema.query import Query as CoreQuery
from crm_graph.schema.scheduler import SchedulerQueries
from crm_graph.schema.security import CustomerSecurityFields, SecurityMutations, SecurityQueries
from crm_graph.schema.types.customer import Customer
from crm_graph.schema.types.interaction import Interaction
from crm_graph.schema.types.order import Order
from crm_graph.schema.types.product import Product
from crm_graph.schema.types.scalars import SCALARS
from crm_graph.schema.users import UserMutations, UserQueries
from crm_graph.schema.webhooks import WebhookMutations, WebhookQueries

CORE = "core"


@strawberry.type
class Query(
    CoreQuery,
    EventQueries,
    SecurityQueries,
    UserQueries,
    DedupeQueries,
    WebhookQueries,
    SchedulerQueries,
    OutboundEmailQueries,
):
    pass


@strawberry.type
class Mutation(
    CustomerMutations,
    InteractionMutations,
    ProductMutations,
    OrderMutations,
    SecurityMutations,
    UserMutations,
    BulkMutations,
    MergeMutations,
    WebhookMutations,
    OutboundEmailMutations,
):
    pass


@strawberry.type(description="Live updates. Plugins and the event log contribute its fields.")
class Subscription(EventSubscriptions):
    pass


# Core fields that live with their own layer rather than in the core type classes.
CORE_CONTRIBUTION = SchemaContribution(extend={"Customer": [CustomerSecurityFields]})

CORE_TYPES: dict[str, type] = {
    "Query": Query,
    "Mutation": Mutation,
    "Subscription": Subscription,
    "Customer": Customer,
    "Order": Order,
    "Interaction": Interaction,
    "Product": Product,
}


class ComposedSchema(strawberry.Schema):
    """A strawberry Schema whose types also carry the fields plugins contributed."""

    def __init__(
        self,
        *,
        extra_fields: dict[str, list[StrawberryField]],
        node_lookups: dict[str, NodeLookup | RowLookup],
        **kwargs: Any,
    ) -> None:
        self.extra_fields = extra_fields
        # Plugin type name -> how node(id:) finds its objects (core types have loaders).
        self.node_lookups = node_lookups
        # By definition object: specialised generics (connections) share one name while built.
        self.secured_fields: dict[int, tuple[Any, list[StrawberryField]]] = {}
        super().__init__(**kwargs)

    def get_fields(self, type_definition: StrawberryObjectDefinition) -> list[StrawberryField]:
        """Core and plugin fields, with their declared permissions and masks enforced."""
        key = id(type_definition)
        if key not in self.secured_fields:
            name = type_definition.name
            fields = [*type_definition.fields, *self.extra_fields.get(name, [])]
            self.secured_fields[key] = (type_definition, secure_fields(name, fields))
        return self.secured_fields[key][1]

    @staticmethod
    def remove_field_suggestion(error: GraphQLError) -> None:
        """Drop graphql-core's "Did you mean ...?" from any error (``disable_field_suggestions``).

        strawberry's own version strips only unknown-field suggestions; graphql-core also
        suggests argument, type, enum value and input field names, in validation and while
        coercing variables, always as the message's last sentence.
        """
        head, found, _ = error.message.partition(" Did you mean ")
        if found:
            error.message = head
            error.args = (head,)

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Code every error; log and mask unexpected failures (see :mod:`.errors`); name the
        field of every refused date (:mod:`.date_fields`)."""
        report_errors(errors, getattr(execution_context, "operation_name", None))
        name_date_fields(errors, self._schema, execution_context)


def _definition(cls: type) -> StrawberryObjectDefinition:
    return cls.__strawberry_definition__  # type: ignore[attr-defined]


_NAMES = StrawberryConfig().name_converter


def _named_types(annotation: Any, seen: set[str]) -> Iterator[tuple[str, type]]:
    """Every named strawberry object type reachable from a field type (for conflict checks)."""
    while isinstance(annotation, StrawberryContainer):
        annotation = annotation.of_type
    if not has_object_definition(annotation):
        return
    definition = _definition(annotation)
    # A specialised generic (Connection[Deal]) is named after its arguments (DealConnection).
    name = _NAMES.from_object(definition)
    if name in seen or definition.is_graphql_generic:
        return
    seen.add(name)
    yield name, annotation
    for field in definition.fields:
        yield from _named_types(field.type, seen)


def build_schema(
    plugins: PluginSet, extensions: list[Any] | None = None, suggestions: bool = True
) -> ComposedSchema:
    """Compose core + every enabled plugin's ``crm_schema`` contribution.

    ``suggestions=False`` keeps "Did you mean ...?" out of error messages (they reveal the
    schema where introspection is off).

    Conflicts stop startup naming both contributors: a field whose GraphQL (camelCased) name
    is taken on its type, or a type name defined twice.
    """
    converter = StrawberryConfig().name_converter
    owners: dict[str, dict[str, str]] = {
        name: {converter.from_field(f): CORE for f in _definition(cls).fields}
        for name, cls in CORE_TYPES.items()
    }
    type_owner: dict[str, tuple[str, type]] = {}
    for cls in CORE_TYPES.values():
        for name, found in _named_types(cls, set()):
            type_owner.setdefault(name, (CORE, found))

    extra: dict[str, list[StrawberryField]] = {}
    extra_types: list[type] = []
    lookups: dict[str, NodeLookup | RowLookup] = {}
    for plugin, contribution in [(CORE, CORE_CONTRIBUTION), *plugins.each(plugins.hook.crm_schema)]:
        if not isinstance(contribution, SchemaContribution):
            raise PluginError(f"plugin {plugin!r}: crm_schema must return SchemaContribution")
        for cls in contribution.types:
            _claim_types(plugin, cls, type_owner)
            extra_types.append(cls)
        for target, classes in contribution.extend.items():
            if target not in EXTENDABLE_TYPES:
                raise PluginError(
                    f"plugin {plugin!r} extends {target!r}; only {', '.join(EXTENDABLE_TYPES)} can be extended"
                )
            for cls in classes:
                if not has_object_definition(cls):
                    raise PluginError(f"plugin {plugin!r}: {cls!r} is not a strawberry type")
                for field in _definition(cls).fields:
                    name = converter.from_field(field)
                    owner = owners[target].get(name)
                    if owner is not None:
                        raise PluginError(
                            f"field {target}.{name} is contributed by both {owner!r} and {plugin!r}"
                        )
                    owners[target][name] = plugin
                    extra.setdefault(target, []).append(field)
                    for type_name, found in _named_types(field.type, set()):
                        _claim(plugin, type_name, found, type_owner)
        for type_name, lookup in contribution.nodes.items():
            _claim_lookup(plugin, type_name, lookup, type_owner, lookups)

    return ComposedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=extra_types,
        extra_fields=extra,
        node_lookups=lookups,
        extensions=extensions or [],
        execution_context_class=SharedEventExecutor,
        config=StrawberryConfig(disable_field_suggestions=not suggestions),
        scalar_overrides=SCALARS,
    )


def _claim_lookup(
    plugin: str,
    type_name: str,
    lookup: NodeLookup | RowLookup,
    type_owner: dict[str, tuple[str, type]],
    lookups: dict[str, NodeLookup | RowLookup],
) -> None:
    """A plugin tells ``node(id:)`` how to find its own types only (so each type once)."""
    if not isinstance(lookup, NodeLookup | RowLookup):
        raise PluginError(
            f"plugin {plugin!r}: nodes[{type_name!r}] must be a RowLookup or a NodeLookup"
        )
    owner = type_owner.get(type_name)
    if owner is None or owner[0] != plugin:
        whose = "no type" if owner is None else f"a type of {owner[0]!r}"
        raise PluginError(
            f"plugin {plugin!r} gives node(id:) a lookup for {type_name!r}, {whose}; "
            "a plugin looks up its own types"
        )
    lookups[type_name] = lookup


def _claim_types(plugin: str, cls: type, type_owner: dict[str, tuple[str, type]]) -> None:
    for type_name, found in _named_types(cls, set()):
        _claim(plugin, type_name, found, type_owner)


def _claim(plugin: str, type_name: str, cls: type, type_owner: dict[str, tuple[str, type]]) -> None:
    owner = type_owner.get(type_name)
    if owner is None:
        type_owner[type_name] = (plugin, cls)
    elif owner[1] is not cls:
        raise PluginError(
            f"GraphQL type {type_name!r} is defined by both {owner[0]!r} and {plugin!r}"
        )
