"""What one reader may see of an event: the same rules as reading the entity itself.

Events are delivered to every reader in log order (so cursors always advance), but the payload
of an event about an entity the reader may not read (no permission, or a grant narrower than
``all``, since an event stream is not filtered by owner) comes back as ``null``, and personal
data columns are masked for readers without ``pii:read``, exactly as on the entity's fields.

A subscriber reads as itself; a webhook reads as whoever set its URL, with that credential's
grants as they are at delivery time (a revoked key, or a role narrowed by ``CRM_ROLES``, gets
less from then on).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.keys import active_key
from crm_graph.auth.permissions import Policy
from crm_graph.auth.personal import personal_columns, shown_row
from crm_graph.auth.principal import AuthError, Principal
from crm_graph.auth.users import standing
from crm_graph.db.jsonable import camel
from crm_graph.db.models import Customer, Interaction, Order, Product
from crm_graph.events.models import EventRecord, WebhookEndpoint
from crm_graph.events.webhooks.claims import Audience

EVENTS_PERMISSION = "events:read"
READ_PERMISSIONS = {
    "Customer": "customers:read",
    "Interaction": "interactions:read",
    "Order": "orders:read",
    "Product": "products:read",
}
_MODELS = {"Customer": Customer, "Interaction": Interaction, "Order": Order, "Product": Product}
# camelCased payload keys of each entity's personal-data columns, with their mask kind.
PERSONAL_KEYS = {
    name: {camel(key): kind for key, kind in personal_columns(model).items()}
    for name, model in _MODELS.items()
}


def visible_payload(entity_type: str | None, payload: Any, principal: Principal) -> Any:
    """The payload as ``principal`` may see it; ``None`` when it may not read the entity, or
    the log at all (an event reached through a webhook's deliveries, say)."""
    if not principal.has(EVENTS_PERMISSION):
        return None
    permission = READ_PERMISSIONS.get(entity_type or "")
    if permission is not None and principal.scope(permission) != "all":
        return None
    personal = PERSONAL_KEYS.get(entity_type or "", {})
    entity = payload.get("entity") if isinstance(payload, dict) else None
    if not personal or not isinstance(entity, dict):
        return payload
    return {**payload, "entity": shown_row(principal, entity, personal)}


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


def webhook_audience(policy: Policy) -> Audience:
    """The event data each webhook may receive, decided when each attempt starts."""

    async def data(session: AsyncSession, endpoint: WebhookEndpoint, event: EventRecord) -> Any:
        reader = await creator(session, policy, endpoint)
        return None if reader is None else visible_payload(event.entity_type, event.payload, reader)

    return data
