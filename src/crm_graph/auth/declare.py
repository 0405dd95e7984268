"""How GraphQL fields declare what they need: ``metadata=requires("customers:read")``.

Declarations are plain field metadata, read in one place (:mod:`crm_graph.auth.guard`) when the
schema is composed, so core and plugin fields are checked the same way. This module imports
nothing from crm_graph: every layer may use it.
"""

from __future__ import annotations

from typing import Any, Literal

PERMISSION = "permission"
PII_FIELD = "pii"

# Held by every authenticated caller: for fields any signed-in client may use (``viewer``).
AUTHENTICATED = "authenticated"

MaskKind = Literal["email", "phone", "address", "text"]


def requires(permission: str, **metadata: Any) -> dict[str, Any]:
    """Field metadata declaring the permission needed to resolve the field."""
    return {**metadata, PERMISSION: permission}


def personal_data(kind: MaskKind = "text", **metadata: Any) -> dict[str, Any]:
    """Field metadata marking personal data, masked for callers without ``pii:read``.

    ``kind`` chooses the mask: ``email`` keeps the first letter and the domain
    (``j***@example.com``), ``phone`` the country code and last two digits, ``address`` (a
    list of postal addresses) each address's kind and country, ``text`` hides all.
    """
    return {**metadata, PII_FIELD: kind}
