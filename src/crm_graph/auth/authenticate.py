"""Turning an ``Authorization: Bearer ...`` credential into a :class:`Principal`.

The credential's user (a key's ``user_id``, a token's ``sub``) is noted on first sight and
must be active: a deactivated user's keys and tokens are all refused (see
:mod:`crm_graph.auth.users`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.auth.keys import find_active, is_active, looks_like_key
from crm_graph.auth.permissions import Policy
from crm_graph.auth.principal import AuthError, Principal
from crm_graph.auth.ratelimit import RateLimiter
from crm_graph.auth.tokens import looks_like_jwt, verify_token
from crm_graph.auth.users import is_active as user_is_active
from crm_graph.auth.users import sighted
from crm_graph.db.models import utcnow
from crm_graph.settings import Settings

MAX_CREDENTIAL = 8192
MAX_USER_ID = 200  # auth_user.user_id
HOW = "send `Authorization: Bearer <API key or token>`"


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

    async def from_header_at(self, authorization: str | None, address: str) -> Principal:
        """:meth:`from_header` for a client at ``address`` (HTTP and WebSocket alike): each
        failure takes a token from the address's bucket; an empty bucket is
        :class:`TooManyFailures`, whatever the credential."""
        wait = self.failures.wait(address)
        if wait:
            raise TooManyFailures(wait)
        try:
            return await self.from_header(authorization)
        except AuthError:
            self.failures.acquire(address)
            raise

    async def from_header(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthError(f"authentication required: {HOW}")
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise AuthError(f"unsupported credentials: {HOW}")
        return await self.from_credential(credential.strip())

    async def from_credential(self, credential: str) -> Principal:
        if len(credential) > MAX_CREDENTIAL:
            raise AuthError("the credential is too long")
        if looks_like_key(credential):
            key = await find_active(self.engine, credential)
            if key is None:
                raise AuthError("the API key is unknown, revoked or expired")
            teammates = await self._sighted(key.role, key.user_id, key.name)
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
                email if isinstance(email, str) else None,
            )
            return Principal.for_role(
                self.policy, "token", f"user:{subject}", subject, role, subject, expires, teammates
            )
        raise AuthError(f"the credential is neither an API key nor a token: {HOW}")

    async def _sighted(
        self, role: str, user_id: str, name: str | None, email: str | None = None
    ) -> frozenset[str]:
        if self.policy.grants(role) is None:  # refused by for_role before anything is written
            return frozenset()
        if len(user_id) > MAX_USER_ID:
            raise AuthError(f"the user id is longer than {MAX_USER_ID} characters")
        return await sighted(
            self.engine,
            user_id,
            name[:200] if name else None,
            _email(email),
            self.policy.uses_teams(role),
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
