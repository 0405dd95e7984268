"""Creating and revoking API keys: the rules (unique active names, known roles, future expiry).

Looking keys up for authentication stays in :mod:`crm_graph.auth.keys`, which this builds on.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.keys import KEY_PREFIX, active_by_name, hash_key
from crm_graph.auth.models import ApiKey
from crm_graph.auth.users import add_missing_users
from crm_graph.db.models import utcnow
from crm_graph.domain.errors import Collector, fail, not_one_of
from crm_graph.domain.values import clean_text


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    role: str,
    roles: set[str] | frozenset[str],
    user_id: str | None = None,
    expires_at: datetime | None = None,
    replace: bool = False,
) -> tuple[ApiKey, str]:
    """A new key and its secret. Names are unique among active keys; ``replace`` revokes the
    active key of that name first (so ``make demo`` can run again). Its user is made now
    when new (named after the key), so it can be edited before the key is first used."""
    errors = Collector()
    name = clean_text(name, errors, "input", "name", max_length=100, required=True) or ""
    user = clean_text(user_id, errors, "input", "userId", max_length=200) or name
    if role not in roles:
        errors.add("INVALID_VALUE", not_one_of("role", sorted(roles)), "input", "role")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        errors.add(
            "INVALID_VALUE", "expiry must be a future time with a time zone", "input", "expiresAt"
        )
    errors.check()
    active = await active_by_name(session, name)
    if active is not None:
        if not replace:
            raise fail("DUPLICATE", f"an active key is already named {name!r}", "input", "name")
        active.revoked_at = utcnow()
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        prefix=secret[:10],
        key_hash=hash_key(secret),
        role=role,
        user_id=user,
        expires_at=expires_at,
    )
    session.add(key)
    await add_missing_users(session, {user: {"name": name}})
    await session.flush()
    return key, secret


async def revoke_key(session: AsyncSession, name_or_id: str | int) -> ApiKey:
    """Revoke the key with this id (an int), or the active key with this name, or else the key
    whose id is this text."""
    key = None
    if isinstance(name_or_id, str):
        key = await active_by_name(session, name_or_id)
        if key is None and name_or_id.isdigit() and int(name_or_id) < 2**31:
            key = await session.get(ApiKey, int(name_or_id))
    else:
        key = await session.get(ApiKey, name_or_id)
    if key is None:
        raise fail("NOT_FOUND", f"no key named or numbered {name_or_id!r}", "input", "id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    return key
