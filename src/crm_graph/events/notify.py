"""PostgreSQL LISTEN on a dedicated connection: notifications only wake readers up.

A notification carries nothing the readers rely on; it may be lost (connection drop, process
restart) and the periodic poll still finds the rows. After every (re)connect all callbacks run
once, because notifications sent while disconnected are gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
from sqlalchemy.engine import URL

from crm_graph.events.loops import logger

HEALTH_CHECK_SECONDS = 10.0


def asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(url: URL, callbacks: dict[str, Callable[[], None]]) -> None:
    """Call ``callbacks[channel]()`` on each notification, reconnecting forever."""
    while True:
        connection = None
        try:
            connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
            for channel, callback in callbacks.items():
                await connection.add_listener(channel, lambda *_args, callback=callback: callback())
            for callback in callbacks.values():
                callback()
            while not connection.is_closed():
                await asyncio.sleep(HEALTH_CHECK_SECONDS)
                await connection.fetchval("SELECT 1", timeout=HEALTH_CHECK_SECONDS)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            logger.warning("event notifications: %s; reconnecting", exc)
        finally:
            if connection is not None:
                connection.terminate()
        await asyncio.sleep(1.0)
