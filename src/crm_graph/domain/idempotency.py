"""Idempotency keys, with Stripe's rules: one caller's key stands for one request for 24 hours.

The first request with a key claims it (a row with no response yet), runs, and stores its
response; the same key with the same body afterwards gets that response back, while the first
is still running it is refused as in progress (never run twice), and with another body it is
refused for good. Claims and responses are separate commits, since the response is known only
after the mutation's own transaction: a claim whose process died before storing a response is
taken over after :data:`ABANDONED_AFTER`, so a key is not locked for a day by a crash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import orjson
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.db.engine import write_session
from crm_graph.db.models import IdempotencyKey, utcnow

KEPT_FOR = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Claim:
    """What to do with a keyed request: ``run`` it (the key is now ours), ``replay`` the stored
    response, or refuse it as ``in_progress`` or ``reused`` (another body)."""

    outcome: Literal["run", "replay", "in_progress", "reused"]
    status: int | None = None
    content_type: str | None = None
    body: bytes | None = None


def fingerprint(request: object) -> str:
    """SHA-256 of the request as canonical JSON: key order and spacing do not make it another."""
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


def valid_key(key: str) -> bool:
    """1-255 printable ASCII characters, as Stripe allows."""
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


async def claim(engine: AsyncEngine, caller: str, key: str, print_: str) -> Claim:
    """Claim ``key`` for ``caller``'s request with fingerprint ``print_``, or say why not.

    Expired rows (of every caller) are deleted in the same transaction: that is the retention.
    Two first requests racing on PostgreSQL both insert; the loser's unique violation means
    the key is taken, so it reads the winner's row instead.
    """
    try:
        return await _claim(engine, caller, key, print_)
    except IntegrityError:
        return await _claim(engine, caller, key, print_)


async def _claim(engine: AsyncEngine, caller: str, key: str, print_: str) -> Claim:
    now = utcnow()
    async with write_session(engine) as session:
        await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < now - KEPT_FOR)
        )
        row = await session.get(IdempotencyKey, (caller, key))
        if row is None:
            session.add(IdempotencyKey(caller=caller, key=key, fingerprint=print_, created_at=now))
            return Claim("run")
        if row.fingerprint != print_:
            return Claim("reused")
        if row.status is not None:
            return Claim("replay", row.status, row.content_type, row.body)
        if row.created_at < now - ABANDONED_AFTER:
            row.created_at = now
            return Claim("run")
        return Claim("in_progress")


async def store(
    engine: AsyncEngine, caller: str, key: str, status: int, content_type: str | None, body: bytes
) -> None:
    """Keep the response of the request that claimed ``key``, for its replays."""
    async with write_session(engine) as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.caller == caller, IdempotencyKey.key == key)
            .values(status=status, content_type=content_type, body=body)
        )


async def release(engine: AsyncEngine, caller: str, key: str) -> None:
    """Give the key back when the request produced no response to keep (the server failed)."""
    async with write_session(engine) as session:
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.caller == caller,
                IdempotencyKey.key == key,
                IdempotencyKey.status.is_(None),  # type: ignore[union-attr]
            )
        )
