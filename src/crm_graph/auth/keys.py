"""API keys: created once (the secret is shown once), stored as a hash, revocable at once.

A key looks like ``crm_<43 url-safe characters>`` (256 random bits). Every request looks its
hash up again, so a revoked or expired key is refused on its very next request, in every
process. ``last_used_at`` is written at most once a minute per key to spare the database.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.auth.models import ApiKey
from crm_graph.db.engine import read_session, write_session
from crm_graph.db.models import utcnow
from crm_graph.domain.errors import Collector, fail, not_one_of
from crm_graph.domain.values import clean_text

KEY_PREFIX = "crm_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


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
    active key of that name first (so ``make demo`` can run again)."""
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
    await session.flush()
    return key, secret


async def active_by_name(session: AsyncSession, name: str) -> ApiKey | None:
    return await session.scalar(
        select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    )


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


async def is_active(engine: AsyncEngine, key_id: int) -> bool:
    """Whether the key is still unrevoked and unexpired (long-lived sockets re-check this)."""
    async with read_session(engine) as session:
        key = await session.get(ApiKey, key_id)
    return (
        key is not None
        and key.revoked_at is None
        and (key.expires_at is None or key.expires_at > utcnow())
    )


async def list_keys(session: AsyncSession, include_revoked: bool = False) -> list[ApiKey]:
    statement = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))
    return list(await session.scalars(statement))


async def find_active(engine: AsyncEngine, secret: str) -> ApiKey | None:
    """The unrevoked, unexpired key with this secret (noting its use), or None."""
    now = utcnow()
    async with read_session(engine) as session:
        key = await session.scalar(
            select(ApiKey).where(
                ApiKey.key_hash == hash_key(secret),
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
            )
        )
    if key is not None and (
        key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION
    ):
        key.last_used_at = now
        async with write_session(engine) as session:
            await session.execute(
                update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
            )
    return key
