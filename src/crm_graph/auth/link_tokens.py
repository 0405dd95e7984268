"""Signed link tokens: what a public URL carries instead of a credential (a survey, an
unsubscribe or a voucher link), bound to a purpose and a subject, expiring, optionally
single-use.

Tokens are HS256 JWTs made with PyJWT, already the core's library for bearer tokens: it checks
the signature before any claim, then ``exp``, then the audience, so a forged, an expired and a
wrong-purpose token each get their own refusal. The purpose is the audience
(``crm-graph-link:<purpose>``), so a token made for one purpose never passes for another, nor
for an API bearer token (whose audience is ``CRM_JWT_AUDIENCE``). The signing key is derived
from ``CRM_SECRET_KEY``, never the secret itself, so the secret can sign other things later
without one kind of signature standing for another.

A single-use token carries an id (``jti``); using it inserts that id into ``used_token`` in the
caller's unit of work, so the use commits with what the link does, or not at all.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.models import UsedToken
from crm_graph.db.models import utcnow
from crm_graph.settings import Settings

ALGORITHM = "HS256"
ISSUER = "crm-graph-links"
AUDIENCE_PREFIX = "crm-graph-link:"
PURPOSE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
MAX_TOKEN = 4096

log = logging.getLogger(__name__)


class MissingSecretKey(RuntimeError):
    """Production without ``CRM_SECRET_KEY``: links could be forged or would break."""


class TokenRefused(Exception):
    """A link token that cannot be used; ``code`` says why, ``status`` is the HTTP answer.

    Codes: ``TOKEN_INVALID`` (malformed, forged or signed by another server, 400),
    ``TOKEN_WRONG_PURPOSE`` (made for another purpose, 400), ``TOKEN_EXPIRED`` (410) and
    ``TOKEN_USED`` (a single-use token used before, 409).
    """

    STATUS = {
        "TOKEN_INVALID": 400,
        "TOKEN_WRONG_PURPOSE": 400,
        "TOKEN_EXPIRED": 410,
        "TOKEN_USED": 409,
    }

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = self.STATUS[code]


@dataclass(frozen=True)
class LinkToken:
    """A checked token: what it was made for and the data it carries."""

    purpose: str
    subject: str
    expires_at: datetime
    data: dict[str, Any]
    # The single-use id; None for a token that may be used until it expires.
    id: str | None


def secret_key(settings: Settings) -> str | None:
    """``CRM_SECRET_KEY``; ``MissingSecretKey`` in production without it, None elsewhere."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if settings.env == "production":
        raise MissingSecretKey(
            "CRM_SECRET_KEY is required in production: it signs the links crm-graph and its "
            "plugins hand out (vouchers, surveys, unsubscribe links). Set it to a random "
            "string of 32 or more characters, the same in every server process, e.g. "
            '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
        )
    return None


class LinkTokens:
    """Makes and checks one app's link tokens (``app.tokens``)."""

    def __init__(self, settings: Settings) -> None:
        secret_key(settings)  # production without a secret stops here, at startup
        self._settings = settings

    @functools.cached_property
    def _key(self) -> bytes:
        """Derived on first use, so commands that never sign a link (migrate, demo, import)
        say nothing about a missing secret."""
        secret = secret_key(self._settings)
        if secret is None:
            log.log(
                logging.WARNING if self._settings.env == "development" else logging.DEBUG,
                "CRM_SECRET_KEY is not set: link tokens are signed with a key generated for "
                "this process and stop working when it restarts (set it in production)",
            )
            secret = secrets.token_urlsafe(48)
        return hmac.new(secret.encode(), b"crm-graph link tokens", hashlib.sha256).digest()

    def digest(self, purpose: str, value: str) -> str:
        """A keyed hash of ``value`` for ``purpose`` (hex HMAC-SHA256 under a key derived from
        ``CRM_SECRET_KEY``): what to keep of a value that must be recognised again but not
        read back, such as an address on a suppression list after the customer was erased.
        Stable while ``CRM_SECRET_KEY`` is."""
        if not PURPOSE.match(purpose):
            raise ValueError(f"purpose {purpose!r} must match {PURPOSE.pattern}")
        key = hmac.new(self._key, f"digest:{purpose}".encode(), hashlib.sha256).digest()
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    def make(
        self,
        purpose: str,
        subject: str | int,
        expires_in: timedelta,
        *,
        single_use: bool = False,
        data: dict[str, Any] | None = None,
    ) -> str:
        """A URL-safe token for ``purpose`` about ``subject``, valid for ``expires_in``.

        ``data`` (small, JSON-serialisable) travels signed, readable by anyone holding the
        token: never put secrets or personal data in it.
        """
        if not PURPOSE.match(purpose):
            raise ValueError(f"purpose {purpose!r} must match {PURPOSE.pattern}")
        if expires_in <= timedelta(0):
            raise ValueError("expires_in must be positive")
        now = utcnow()
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE_PREFIX + purpose,
            "sub": str(subject),
            "iat": now,
            "exp": now + expires_in,
        }
        if single_use:
            claims["jti"] = secrets.token_urlsafe(24)
        if data:
            claims["dat"] = data
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def check(self, token: str, purpose: str) -> LinkToken:
        """The token's content if it is genuine, unexpired and made for ``purpose`` (a
        single-use token is not marked used here: see :meth:`use`); ``TokenRefused`` if not."""
        if len(token) > MAX_TOKEN:
            raise TokenRefused("TOKEN_INVALID", "the link is not valid")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                audience=AUDIENCE_PREFIX + purpose,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRefused("TOKEN_EXPIRED", "the link has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRefused(
                "TOKEN_WRONG_PURPOSE", f"the link was not made for {purpose!r}"
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRefused("TOKEN_INVALID", "the link is not valid") from exc
        return LinkToken(
            purpose=purpose,
            subject=claims["sub"],
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            data=claims.get("dat") or {},
            id=claims.get("jti"),
        )

    async def use(self, session: AsyncSession, token: str, purpose: str) -> LinkToken:
        """:meth:`check` the token and, if it is single-use, record its use in ``session``.

        Call it inside the unit of work that does what the link is for, before writing: the
        use commits with that work or not at all, and a used token raises ``TOKEN_USED``
        (let it propagate, so the unit of work rolls back and nothing is written).
        """
        checked = self.check(token, purpose)
        if checked.id is None:
            return checked
        now = utcnow()
        await session.execute(delete(UsedToken).where(UsedToken.expires_at < now))
        used = TokenRefused("TOKEN_USED", "the link has already been used")
        if await session.scalar(select(UsedToken.id).where(UsedToken.id == checked.id)):
            raise used
        session.add(
            UsedToken(id=checked.id, purpose=purpose, used_at=now, expires_at=checked.expires_at)
        )
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent use committed first
            raise used from exc
        return checked
