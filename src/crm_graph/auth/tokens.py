"""Bearer JWTs for single-page apps, verified with PyJWT.

The algorithm comes from settings, never from the token header (no algorithm confusion);
``exp``, ``iss``, ``aud`` and ``sub`` are required and checked. The role is read from the
``CRM_JWT_ROLE_CLAIM`` claim and the user id from ``sub``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt

from crm_graph.auth.principal import AuthError
from crm_graph.db.models import utcnow
from crm_graph.settings import Settings

REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2


def _verification_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "RS256":
        key = settings.jwt_public_key
    else:
        key = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    if not key:
        raise AuthError("this server does not accept tokens (no CRM_JWT_SECRET/PUBLIC_KEY)")
    return key


def verify_token(settings: Settings, token: str) -> dict[str, Any]:
    """The claims of a valid token; ``AuthError`` saying why otherwise."""
    try:
        return jwt.decode(
            token,
            _verification_key(settings),
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_seconds,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("the token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"the token is not valid: {exc}") from exc


def issue_token(
    settings: Settings,
    subject: str,
    role: str,
    lifetime: timedelta = timedelta(hours=1),
    signing_key: str | None = None,
    **claims: Any,
) -> str:
    """A token this server accepts (for tests, scripts and identity providers written in
    Python). RS256 needs the private key as ``signing_key``; HS256 uses ``CRM_JWT_SECRET``."""
    now = utcnow()
    payload = {
        "sub": subject,
        settings.jwt_role_claim: role,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + lifetime,
        **claims,
    }
    key = signing_key or _verification_key(settings)
    return jwt.encode(payload, key, algorithm=settings.jwt_algorithm)
