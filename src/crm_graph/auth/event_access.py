"""What one caller may see of an event: the same rules as reading the entity itself.

Events are delivered to every reader in log order (so cursors always advance), but the payload
of an event about an entity the caller may not read (no permission, or a grant narrower than
``all``, since an event stream is not filtered by owner) comes back as ``null``, and personal
data columns are masked for callers without ``pii:read``, exactly as on the entity's fields.
"""

from __future__ import annotations

from typing import Any

from crm_graph.auth.guard import PII_PERMISSION, mask
from crm_graph.auth.principal import Principal
from crm_graph.db.jsonable import camel
from crm_graph.db.models import Customer, Interaction, Order, Product

READ_PERMISSIONS = {
    "Customer": "customers:read",
    "Interaction": "interactions:read",
    "Order": "orders:read",
    "Product": "products:read",
}
_MODELS = {"Customer": Customer, "Interaction": Interaction, "Order": Order, "Product": Product}
_MASKS = {"email": "email", "phone": "phone"}


def _personal_keys(model: Any) -> dict[str, str]:
    """camelCased payload keys of the model's personal-data columns, with their mask kind."""
    return {
        camel(column.key): _MASKS.get(column.key, "text")
        for column in model.__table__.columns
        if column.info.get("pii")
    }


PERSONAL_KEYS = {name: _personal_keys(model) for name, model in _MODELS.items()}


def visible_payload(entity_type: str | None, payload: Any, principal: Principal) -> Any:
    """The payload as ``principal`` may see it; ``None`` when it may not read the entity."""
    permission = READ_PERMISSIONS.get(entity_type or "")
    if permission is not None and principal.scope(permission) != "all":
        return None
    personal = PERSONAL_KEYS.get(entity_type or "", {})
    entity = payload.get("entity") if isinstance(payload, dict) else None
    if not personal or not isinstance(entity, dict) or principal.has(PII_PERMISSION):
        return payload
    masked = {
        key: mask(value, personal[key]) if key in personal else value
        for key, value in entity.items()
    }
    return {**payload, "entity": masked}
