"""Permissions, roles and their scopes: the policy one app enforces.

A role grants permissions, each with an ownership scope: ``own`` (records whose owner is the
caller), ``team`` (owned by anyone in one of the caller's teams, kept in the database: see
:mod:`crm_graph.auth.users`) or ``all``.
Grants are written ``"customers:read"`` (scope ``all``) or ``"customers:read@own"``. Plugins
declare their permissions and grant them to roles through ``crm_permissions``; ``CRM_ROLES``
replaces a role's grants or adds roles, last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from crm_graph.auth.declare import AUTHENTICATED
from crm_graph.plugins_manager import PluginError, PluginSet
from crm_graph.settings import Settings

Scope = Literal["own", "team", "all"]
SCOPES: tuple[Scope, ...] = ("own", "team", "all")
WILDCARD = "*"
CORE = "core"

CORE_PERMISSIONS: dict[str, str] = {
    AUTHENTICATED: "Any signed-in caller (held implicitly by every role).",
    "customers:read": "Read customers and their consent records.",
    "customers:write": "Create, change, delete and restore customers; record consent.",
    "customers:assign": "Give a customer another owner.",
    "interactions:read": "Read interactions.",
    "interactions:write": "Log interactions.",
    "orders:read": "Read orders.",
    "orders:write": "Place orders and change their status.",
    "products:read": "Read the product catalogue.",
    "products:write": "Create and change products.",
    "pii:read": "See personal data (e-mail, phone, free text) unmasked.",
    "gdpr:export": "Export everything held about a customer.",
    "gdpr:erase": "Irreversibly erase a customer's personal data.",
    "events:read": "Read the event log and subscribe to events.",
    "webhooks:manage": "Create, change and replay webhooks.",
    "emails:manage": "See the outbound e-mail queue; resend or settle messages in doubt.",
    "keys:manage": "Create, list and revoke API keys.",
    "audit:read": "Read the audit log.",
    "jobs:read": "See scheduled jobs, their runs and errors.",
    "users:read": "See users and teams (who owns what).",
    "users:manage": "Change users (name, e-mail, deactivation) and teams and their members.",
}

_OWN = ("customers:read", "customers:write", "interactions:read", "interactions:write")
DEFAULT_ROLES: dict[str, list[str]] = {
    "admin": [WILDCARD],
    "sales": [
        *(f"{p}@own" for p in _OWN),
        "orders:read@own",
        "orders:write@own",
        "products:read",
        "pii:read",
        "users:read",
    ],
    "marketing": [
        "customers:read",
        "customers:write",
        "interactions:read",
        "interactions:write",
        "products:read",
        "pii:read",
        "users:read",
    ],
    "service": [
        "customers:read",
        "customers:write",
        "interactions:read",
        "interactions:write",
        "orders:read",
        "products:read",
        "pii:read",
        "users:read",
    ],
    "analyst": [
        "customers:read",
        "interactions:read",
        "orders:read",
        "products:read",
        "users:read",
    ],
    "integration": [
        "customers:read",
        "customers:write",
        "interactions:read",
        "interactions:write",
        "orders:read",
        "orders:write",
        "products:read",
        "products:write",
        "pii:read",
        "events:read",
        "webhooks:manage",
        "users:read",
    ],
    "readonly": [
        "customers:read",
        "interactions:read",
        "orders:read",
        "products:read",
        "users:read",
    ],
}


@dataclass(frozen=True)
class Permissions:
    """What a plugin returns from ``crm_permissions``.

    ``declare`` maps each new permission (use the plugin's name as prefix, ``loyalty:write``)
    to a description; ``grants`` adds grants to roles, e.g. ``{"sales": ["loyalty:write@own"]}``.
    A role named in ``grants`` that does not exist yet is created.
    """

    declare: dict[str, str] = field(default_factory=dict)
    grants: dict[str, list[str]] = field(default_factory=dict)


def parse_grant(text: str) -> tuple[str, Scope]:
    """``"orders:read@team"`` -> ``("orders:read", "team")``; no ``@`` means ``all``."""
    name, _, scope = text.strip().partition("@")
    scope = scope or "all"
    if not name or scope not in SCOPES:
        raise ValueError(f"grant {text!r} is not PERMISSION[@own|@team|@all]")
    return name, scope  # type: ignore[return-value]


@dataclass(frozen=True)
class Policy:
    """Every known permission (with its owner) and each role's grants."""

    permissions: Mapping[str, tuple[str, str]]  # name -> (owner, description)
    roles: Mapping[str, Mapping[str, Scope]]

    def grants(self, role: str) -> Mapping[str, Scope] | None:
        return self.roles.get(role)

    def uses_teams(self, role: str) -> bool:
        """Whether a grant of ``role`` has scope ``team`` (its callers' teammates are read)."""
        return "team" in (self.roles.get(role) or {}).values()


def _grants(entries: Iterable[str], known: Mapping[str, object], where: str) -> dict[str, Scope]:
    out: dict[str, Scope] = {}
    for entry in entries:
        try:
            name, scope = parse_grant(entry)
        except ValueError as exc:
            raise PluginError(f"{where}: {exc}") from exc
        if name != WILDCARD and name not in known:
            raise PluginError(f"{where}: unknown permission {name!r}")
        out[name] = scope
    return out


def build_policy(settings: Settings, plugins: PluginSet) -> Policy:
    """Core permissions and roles, plus plugin contributions, then ``CRM_ROLES`` overrides.

    Fails at startup, naming who is at fault, when two owners declare one permission or a grant
    names a permission nobody declared.
    """
    permissions: dict[str, tuple[str, str]] = {
        name: (CORE, text) for name, text in CORE_PERMISSIONS.items()
    }
    contributed: list[tuple[str, Permissions]] = []
    for plugin, result in plugins.each(plugins.hook.crm_permissions):
        if not isinstance(result, Permissions):
            raise PluginError(f"plugin {plugin!r}: crm_permissions must return Permissions")
        for name, text in result.declare.items():
            if name in permissions:
                raise PluginError(
                    f"permission {name!r} is declared by both {permissions[name][0]!r} "
                    f"and {plugin!r}"
                )
            if name == WILDCARD or ":" not in name:
                raise PluginError(f"plugin {plugin!r}: permission {name!r} must look like a:b")
            permissions[name] = (plugin, text)
        contributed.append((plugin, result))

    roles = {
        role: _grants(entries, permissions, f"role {role!r}")
        for role, entries in DEFAULT_ROLES.items()
    }
    for plugin, result in contributed:
        for role, entries in result.grants.items():
            granted = _grants(entries, permissions, f"plugin {plugin!r} grants to {role!r}")
            roles.setdefault(role, {}).update(granted)
    for role, entries in settings.roles.items():
        roles[role] = _grants(entries, permissions, f"CRM_ROLES[{role!r}]")
    return Policy(permissions=permissions, roles=roles)
