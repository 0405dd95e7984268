"""API keys: created once (the secret is shown once), stored as a hash, revocable at once.

This module looks keys up; creating and revoking them (with their rules) is
:mod:`crm_graph.domain.api_keys`.

A key looks like ``crm_<43 url-safe characters>`` (256 random bits). Every request looks its
hash up again (with its user, in the same statement), so a revoked or expired key is refused
on its very next request, in every process: no cache, so no invalidation to get wrong. ``last_used_at`` is written at most once a minute per key to spare the database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.auth.models import ApiKey, User
from crm_graph.auth.users import Standing, standing_of, with_standing
from crm_graph.db.engine import DriverStatement, RequestConnection, read_session, write_session
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


def _key_lookup(with_team: bool) -> DriverStatement:
    """The look-up of an active key by hash, with its user's standing: compiled once per
    dialect and run on the driver (see :class:`~crm_graph.db.engine.DriverStatement`)."""
    statement = select(
        ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.user_id, ApiKey.expires_at, ApiKey.last_used_at
    ).select_from(ApiKey.__table__.outerjoin(User, User.user_id == ApiKey.user_id))
    now = bindparam("now", type_=ApiKey.__table__.c.expires_at.type)
    return DriverStatement(
        with_standing(statement, with_team).where(
            ApiKey.key_hash == bindparam("key_hash"),
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
    )


_KEY_LOOKUP = {with_team: _key_lookup(with_team) for with_team in (False, True)}


@dataclass(frozen=True)
class FoundKey:
    """An active key as a request needs it, with its user's standing (None: not seen yet)."""

    id: int
    name: str
    role: str
    user_id: str
    expires_at: datetime | None
    standing: Standing | None


async def find_active(
    engine: AsyncEngine, lease: RequestConnection, secret: str, with_team: bool
) -> FoundKey | None:
    """The unrevoked, unexpired key with this secret and its user's standing, read in one
    indexed statement on ``lease`` (the request's connection); its use is noted (in a unit
    of work of its own) at most once a minute. None when there is no such key."""
    now = utcnow()
    rows = await lease.fetch(_KEY_LOOKUP[with_team], {"key_hash": hash_key(secret), "now": now})
    if not rows:
        return None
    key = rows[0]
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        async with write_session(engine) as session:
            await session.execute(
                update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
            )
        await lease.wrote()
    return FoundKey(
        key.id,
        key.name,
        key.role,
        key.user_id,
        key.expires_at,
        standing_of(rows, key.user_id, with_team),
    )
