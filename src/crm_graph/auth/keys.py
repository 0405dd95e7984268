"""API keys: created once (the secret is shown once), stored as a hash, revocable at once.

This module looks keys up; creating and revoking them (with their rules) is
:mod:`crm_graph.domain.api_keys`.

A key looks like ``crm_<43 url-safe characters>`` (256 random bits). Every request looks its
hash up again, so a revoked or expired key is refused on its very next request, in every
process. ``last_used_at`` is written at most once a minute per key to spare the database.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.auth.models import ApiKey
from crm_graph.db.engine import read_session, write_session
from crm_graph.db.models import utcnow

KEY_PREFIX = "crm_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


async def active_by_name(session: AsyncSession, name: str) -> ApiKey | None:
    return await session.scalar(
        select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    )


async def active_key(session: AsyncSession, key_id: int) -> ApiKey | None:
    """The key when it is still unrevoked and unexpired, else None."""
    key = await session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return None
    return key if key.expires_at is None or key.expires_at > utcnow() else None


async def is_active(engine: AsyncEngine, key_id: int) -> bool:
    """Whether the key is still unrevoked and unexpired (long-lived sockets re-check this)."""
    async with read_session(engine) as session:
        return await active_key(session, key_id) is not None


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
