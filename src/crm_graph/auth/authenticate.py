"""Turning an ``Authorization: Bearer ...`` credential into a :class:`Principal`.

The credential's user (a key's ``user_id``, a token's ``sub``) is noted on first sight and
must be active: a deactivated user's keys and tokens are all refused (see
:mod:`crm_graph.auth.users`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.auth.keys import find_active, is_active, looks_like_key
from crm_graph.auth.permissions import Policy
from crm_graph.auth.principal import AuthError, Principal
from crm_graph.auth.ratelimit import RateLimiter
from crm_graph.auth.tokens import looks_like_jwt, verify_token
from crm_graph.auth.users import Standing, request_standing, sighted
from crm_graph.auth.users import is_active as user_is_active
from crm_graph.db.engine import RequestConnection
from crm_graph.db.models import utcnow
from crm_graph.settings import Settings

MAX_CREDENTIAL = 8192
MAX_USER_ID = 200  # auth_user.user_id
HOW = "send `Authorization: Bearer <API key or token>`"
UNREAD = object()  # a standing not read yet


class TooManyFailures(AuthError):
    """The client address used up its failed authentications: refused before its credential
    is checked at all, so guessing keys or tokens gets no answer until the bucket refills."""

    def __init__(self, wait: float) -> None:
        super().__init__(
            f"too many failed authentications from this address; retry after {wait:.2f} s",
            "RATE_LIMITED",
        )
        self.retry_after = wait


class Authenticator:
    """Everything one app needs to authenticate and throttle callers."""

    def __init__(self, settings: Settings, policy: Policy, engine: AsyncEngine) -> None:
        self.settings = settings
        self.policy = policy
        self.engine = engine
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.failures = RateLimiter(settings.auth_failures_per_minute, settings.auth_failure_burst)
        # Whether a key's look-up also reads its user's teammates (some role has scope team).
        self.any_team = any(policy.uses_teams(role) for role in policy.roles)

    async def from_header_at(
        self, authorization: str | None, address: str, lease: RequestConnection | None = None
    ) -> Principal:
        """:meth:`from_header` for a client at ``address`` (HTTP and WebSocket alike): each
        failure takes a token from the address's bucket; an empty bucket is
        :class:`TooManyFailures`, whatever the credential."""
        wait = self.failures.wait(address)
        if wait:
            raise TooManyFailures(wait)
        try:
            return await self.from_header(authorization, lease)
        except AuthError:
            self.failures.acquire(address)
            raise

    async def from_header(
        self, authorization: str | None, lease: RequestConnection | None = None
    ) -> Principal:
        if not authorization:
            raise AuthError(f"authentication required: {HOW}")
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise AuthError(f"unsupported credentials: {HOW}")
        return await self.from_credential(credential.strip(), lease)

    @asynccontextmanager
    async def _connection(
        self, lease: RequestConnection | None
    ) -> AsyncIterator[RequestConnection]:
        """The request's connection (kept for the rest of the request), or one of its own."""
        if lease is not None:
            yield lease
            return
        own = RequestConnection(self.engine)
        try:
            yield own
        finally:
            await own.close()

    async def from_credential(
        self, credential: str, lease: RequestConnection | None = None
    ) -> Principal:
        """The caller of ``credential``, checked with one indexed statement (on ``lease``, the
        request's connection, when given)."""
        if len(credential) > MAX_CREDENTIAL:
            raise AuthError("the credential is too long")
        if looks_like_key(credential):
            async with self._connection(lease) as connection:
                key = await find_active(self.engine, connection, credential, self.any_team)
            if key is None:
                raise AuthError("the API key is unknown, revoked or expired")
            teammates = await self._sighted(
                key.role, key.user_id, key.name, key.standing, lease=lease
            )
            return Principal.for_role(
                self.policy,
                "key",
                f"key:{key.id}",
                key.name,
                key.role,
                key.user_id,
                key.expires_at,
                teammates,
            )
        if looks_like_jwt(credential):
            claims = verify_token(self.settings, credential)
            role = claims.get(self.settings.jwt_role_claim)
            subject = claims["sub"]
            if not isinstance(role, str) or not isinstance(subject, str):
                raise AuthError(
                    f"the token needs string claims sub and {self.settings.jwt_role_claim}"
                )
            expires = datetime.fromtimestamp(claims["exp"], UTC)
            name, email = claims.get("name"), claims.get("email")
            teammates = await self._sighted(
                role,
                subject,
                name if isinstance(name, str) else None,
                lease=lease,
                email=email if isinstance(email, str) else None,
            )
            return Principal.for_role(
                self.policy, "token", f"user:{subject}", subject, role, subject, expires, teammates
            )
        raise AuthError(f"the credential is neither an API key nor a token: {HOW}")

    async def _sighted(
        self,
        role: str,
        user_id: str,
        name: str | None,
        found: Standing | object | None = UNREAD,
        lease: RequestConnection | None = None,
        email: str | None = None,
    ) -> frozenset[str]:
        """The teammates of ``user_id``, from its standing: ``found`` (read with an API key),
        or read now (a token's subject)."""
        if self.policy.grants(role) is None:  # refused by for_role before anything is written
            return frozenset()
        if len(user_id) > MAX_USER_ID:
            raise AuthError(f"the user id is longer than {MAX_USER_ID} characters")
        with_team = self.policy.uses_teams(role)
        if found is UNREAD:
            async with self._connection(lease) as connection:
                found = await request_standing(connection, user_id, with_team)
        known = cast(Standing | None, found)
        if known is not None and not with_team:  # a key's look-up read teammates for any role
            known = Standing(known.active, known.last_seen_at, frozenset({user_id}))
        return await sighted(
            self.engine, user_id, known, name[:200] if name else None, _email(email), lease
        )

    async def still_valid(self, principal: Principal) -> bool:
        """For long-lived connections: not expired, (for a key) not revoked since, and its
        user not deactivated since."""
        if principal.expires_at is not None and principal.expires_at <= utcnow():
            return False
        if principal.user_id is not None and not await user_is_active(
            self.engine, principal.user_id
        ):
            return False
        if principal.kind == "key":
            return await is_active(self.engine, int(principal.id.removeprefix("key:")))
        return True


def _email(value: str | None) -> str | None:
    """A token's ``email`` claim, lower-cased as admins' edits store it, kept only when it
    fits the column and looks like an address."""
    return value.strip().lower() if value and len(value) <= 320 and "@" in value else None
