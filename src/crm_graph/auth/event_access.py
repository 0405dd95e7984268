"""What one reader may see of an event: the same rules as reading the entity itself.

Events are delivered to every reader in log order (so cursors always advance), but the payload
of an event about an entity the reader may not read (no permission, or a grant narrower than
``all``, since an event stream is not filtered by owner) comes back as ``null``, and personal
data is masked for readers without ``pii:read``, exactly as on the entity's fields.

What is personal comes from the declarations: a core entity's personal columns (under the
payload's ``entity``) and each event type's own ``personal_data`` and ``permission`` (see
:class:`crm_graph.contributions.EventType`), so a plugin's events are masked the same way in
every place events are delivered. An event whose type no loaded plugin declares any more
cannot say what it holds: readers without ``pii:read`` get a null payload.

A subscriber reads as itself; a webhook reads as whoever set its URL, with that credential's
grants as they are at delivery time (a revoked key, or a role narrowed by ``CRM_ROLES``, gets
less from then on).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.keys import active_key
from crm_graph.auth.permissions import Policy
from crm_graph.auth.personal import PII_PERMISSION, mask, personal_columns
from crm_graph.auth.principal import AuthError, Principal
from crm_graph.auth.users import standing
from crm_graph.contributions import EventType
from crm_graph.db.jsonable import camel
from crm_graph.db.models import Customer, Interaction, Order, Product
from crm_graph.events.catalog import HEARTBEAT
from crm_graph.events.models import EventRecord, WebhookEndpoint
from crm_graph.events.webhooks.claims import Audience
from crm_graph.plugins_manager import PluginError

EVENTS_PERMISSION = "events:read"
READ_PERMISSIONS = {
    "Customer": "customers:read",
    "Interaction": "interactions:read",
    "Order": "orders:read",
    "Product": "products:read",
}
_MODELS = {"Customer": Customer, "Interaction": Interaction, "Order": Order, "Product": Product}
MASKS = ("email", "phone", "text")

# Personal payload keys as a tree: a key maps to its mask kind, or to the tree of its value.
Tree = dict[str, Any]


def _tree(paths: Mapping[str, str], where: str) -> Tree:
    """The tree of dotted ``paths``; a path that is not one, or an unknown mask, stops startup."""
    tree: Tree = {}
    for path, kind in paths.items():
        keys = path.split(".")
        if kind not in MASKS or not all(keys):
            raise PluginError(f"{where}: personal_data {path!r}: {kind!r} (masks: {MASKS})")
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise PluginError(f"{where}: personal_data {path!r} is inside a personal key")
        if keys[-1] in node:
            raise PluginError(f"{where}: personal_data {path!r} overlaps another key")
        node[keys[-1]] = kind
    return tree


def masked(value: Any, tree: Tree) -> Any:
    """``value`` with the personal keys of ``tree`` masked (lists are walked item by item)."""
    if isinstance(value, list):
        return [masked(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        rule = tree.get(key)
        if rule is None:
            out[key] = item
        elif isinstance(rule, str):
            out[key] = mask(item, rule)
        else:
            out[key] = masked(item, rule)
    return out


@dataclass(frozen=True)
class Rule:
    """What reading one event type's payload takes beyond reading its entity: a permission,
    and what to mask without ``pii:read``."""

    permission: str | None
    personal: Tree


def _rule(owner: str, event_type: EventType, policy: Policy) -> Rule:
    where = f"event type {event_type.name!r} of {owner!r}"
    if event_type.permission is not None and event_type.permission not in policy.permissions:
        raise PluginError(f"{where}: unknown permission {event_type.permission!r}")
    return Rule(event_type.permission, _tree(event_type.personal_data, where))


def _entity_rules() -> dict[str, Tree]:
    """Each core entity's personal columns, as the payload's ``entity`` holds them."""
    return {
        name: {"entity": {camel(key): kind for key, kind in personal_columns(model).items()}}
        for name, model in _MODELS.items()
    }


class EventAccess:
    """The payload of each event as one reader may see it, from the app's event types."""

    def __init__(self, policy: Policy, types: Iterable[tuple[str, EventType]]) -> None:
        self.policy = policy
        self.rules = {t.name: _rule(owner, t, policy) for owner, t in types}
        self.rules[HEARTBEAT] = Rule(None, {})
        self.entities = _entity_rules()

    def visible(self, event: EventRecord, principal: Principal) -> Any:
        """The payload as ``principal`` may see it; ``None`` when it may not read the entity,
        the event type's payload, or the log at all (an event reached through a webhook's
        deliveries, say)."""
        if not principal.has(EVENTS_PERMISSION):
            return None
        rule = self.rules.get(event.type)
        if rule is None and not principal.has(PII_PERMISSION):
            return None  # declared by no loaded plugin: nothing says what it holds
        needed = (READ_PERMISSIONS.get(event.entity_type or ""), rule and rule.permission)
        if any(p is not None and principal.scope(p) != "all" for p in needed):
            return None
        if rule is None or principal.has(PII_PERMISSION):
            return event.payload
        payload = event.payload
        if event.entity_type in self.entities:
            payload = masked(payload, self.entities[event.entity_type])
        return masked(payload, rule.personal) if rule.personal else payload

    def webhook_audience(self) -> Audience:
        """The event data each webhook may receive, decided when each attempt starts."""

        async def data(session: AsyncSession, endpoint: WebhookEndpoint, event: EventRecord) -> Any:
            reader = await creator(session, self.policy, endpoint)
            return None if reader is None else self.visible(event, reader)

        return data


async def creator(
    session: AsyncSession, policy: Policy, endpoint: WebhookEndpoint
) -> Principal | None:
    """The principal a webhook reads as: its recorded creator with the grants it has now (a
    key's current role, a token's role under the current policy); None when it has none."""
    if endpoint.creator_id is None or endpoint.creator_role is None:
        return None  # created before creators were recorded: it may read nothing
    role, user_id = endpoint.creator_role, endpoint.creator_user_id
    if endpoint.creator_id.startswith("key:"):
        key = await active_key(session, int(endpoint.creator_id.removeprefix("key:")))
        if key is None:  # revoked or expired: its webhooks carry nothing more
            return None
        role, user_id = key.role, key.user_id
    kind = "key" if endpoint.creator_id.startswith("key:") else "token"
    found = await standing(session, user_id, policy.uses_teams(role)) if user_id else None
    if found is not None and not found.active:  # deactivated: its webhooks carry nothing more
        return None
    try:
        return Principal.for_role(
            policy,
            kind,
            endpoint.creator_id,
            endpoint.creator_id,
            role,
            user_id,
            teammates=found.teammates if found else frozenset(),
        )
    except AuthError:  # the role is no longer defined
        return None
