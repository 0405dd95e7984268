"""Who is calling: an API key or a token subject, with the role's grants resolved."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from crm_graph.auth.declare import AUTHENTICATED
from crm_graph.auth.permissions import SCOPES, WILDCARD, Policy, Scope


class AuthError(Exception):
    """Authentication failed; ``code`` is ``UNAUTHENTICATED`` and the message says why."""

    def __init__(self, message: str, code: str = "UNAUTHENTICATED") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request (or WebSocket connection).

    ``id`` names the credential (``key:12``, ``token:alice``) for the audit log and rate
    limits; ``user_id`` is whose records are "own" (a key's user, a token's subject).
    """

    kind: Literal["key", "token"]
    id: str
    name: str
    role: str
    user_id: str | None
    grants: Mapping[str, Scope]
    # Everyone sharing a team with ``user_id`` (itself included), read at authentication.
    teammates: frozenset[str] = frozenset()
    # When the credential stops being valid (key expiry, token ``exp``); sockets re-check it.
    expires_at: datetime | None = None
    # Per-principal memo of scope criteria (see crm_graph.auth.scope); not part of identity.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    @classmethod
    def for_role(
        cls,
        policy: Policy,
        kind: Literal["key", "token"],
        id: str,
        name: str,
        role: str,
        user_id: str | None,
        expires_at: datetime | None = None,
        teammates: frozenset[str] = frozenset(),
    ) -> Principal:
        grants = policy.grants(role)
        if grants is None:
            raise AuthError(f"the role {role!r} is not defined on this server")
        return cls(
            kind=kind,
            id=id,
            name=name,
            role=role,
            user_id=user_id,
            grants=grants,
            teammates=teammates,
            expires_at=expires_at,
        )

    @property
    def unrestricted(self) -> bool:
        """Every permission at scope ``all``: no row is ever hidden from this caller."""
        return self.grants.get(WILDCARD) == "all" and all(s == "all" for s in self.grants.values())

    def may_grant(self, grants: Mapping[str, Scope]) -> bool:
        """Whether every grant is within this principal's own (no minting of wider keys)."""
        return all(
            (scope := self.scope(name)) is not None and SCOPES.index(scope) >= SCOPES.index(wanted)
            for name, wanted in grants.items()
            if name != WILDCARD
        ) and (WILDCARD not in grants or self.unrestricted)

    def has(self, permission: str) -> bool:
        return permission == AUTHENTICATED or WILDCARD in self.grants or permission in self.grants

    def scope(self, permission: str) -> Scope | None:
        """The widest scope this principal holds ``permission`` with; None when it does not."""
        if permission == AUTHENTICATED:
            return "all"
        return self.grants.get(permission) or self.grants.get(WILDCARD)

    def owners(self, scope: Scope) -> frozenset[str] | None:
        """Owner ids visible at ``scope``; None means every record (scope ``all``)."""
        if scope == "all":
            return None
        if scope == "team":
            return self.teammates
        return frozenset({self.user_id}) if self.user_id else frozenset()

    def permissions(self, policy: Policy) -> list[str]:
        """Every permission held, with its scope (``customers:read@own``), sorted."""
        names = policy.permissions if WILDCARD in self.grants else self.grants
        return sorted(f"{name}@{self.scope(name)}" for name in names if name != AUTHENTICATED)
