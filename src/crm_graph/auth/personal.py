"""Personal data as one caller may see it: the one masking rule.

Every place that shows personal data (GraphQL fields declared with ``personal_data``, event
and webhook payloads, duplicate reasons, merge plans, GDPR exports) goes through :func:`shown`:
in clear with ``pii:read``, masked without. Columns say what is personal (``info={"pii": ...}``,
the kind of mask when it is not plain text); GraphQL fields say it with ``personal_data``.
"""

from __future__ import annotations

from typing import Any

from crm_graph.auth.principal import Principal

PII_PERMISSION = "pii:read"


# What an address keeps when masked: its kind and country (coarse, like a company name), not
# where the person lives.
ADDRESS_KEPT = ("kind", "country")


def mask_address(address: Any) -> Any:
    """An address with its street lines, city, region and postal code hidden."""
    if not isinstance(address, dict):
        return None
    return {
        key: value if key in ADDRESS_KEPT else ([] if isinstance(value, list) else "***")
        for key, value in address.items()
        if value is not None or key in ADDRESS_KEPT
    }


def mask(value: Any, kind: str) -> Any:
    """``j***@example.com``, ``+1********23``, ``***``; lists and objects come back empty,
    but for addresses (kind ``address``), which keep their kind and country."""
    if value is None:
        return None
    if kind == "address" and isinstance(value, list):
        return [mask_address(address) for address in value]
    if isinstance(value, str):
        if kind == "email" and "@" in value:
            local, _, domain = value.rpartition("@")
            return f"{local[:1]}***@{domain}"
        if kind == "phone" and len(value) > 6:
            return value[:2] + "*" * (len(value) - 4) + value[-2:]
        return "***"
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return None


def shown(principal: Principal, value: Any, kind: str) -> Any:
    """``value`` as ``principal`` may see it: as it is with ``pii:read``, else masked."""
    return value if principal.has(PII_PERMISSION) else mask(value, kind)


def column_kind(column: Any) -> str | None:
    """The mask of a personal-data column (``email``, ``phone`` or ``text``); None when the
    column holds no personal data."""
    marked = column.info.get("pii")
    if not marked:
        return None
    return marked if isinstance(marked, str) else "text"


def personal_columns(model: Any) -> dict[str, str]:
    """Column key -> mask kind, for the personal-data columns of a table model."""
    return {
        column.key: kind
        for column in model.__table__.columns
        if (kind := column_kind(column)) is not None
    }


def shown_row(principal: Principal, values: dict[str, Any], kinds: dict[str, str]) -> dict:
    """A row's values (keyed like ``kinds``) with the personal ones as ``principal`` sees them."""
    if principal.has(PII_PERMISSION):
        return values
    return {k: mask(v, kinds[k]) if k in kinds else v for k, v in values.items()}
