"""Background loops that survive their own failures and wake early when told to."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

logger = logging.getLogger("crm_graph.events")


async def wait_or_timeout(wake: asyncio.Event, timeout: float | None) -> bool:
    """Wait for ``wake`` at most ``timeout`` seconds; whether it was set. (``asyncio.timeout``
    rather than ``wait_for``: no helper task per wait.)"""
    if timeout is None:  # the common case of a subscriber: no timer at all
        await wake.wait()
        return True
    with suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await wake.wait()
            return True
    return False


async def run_forever(
    name: str, step: Callable[[], Awaitable[Any]], wake: asyncio.Event, interval: float
) -> None:
    """Run ``step`` whenever ``wake`` is set, and at least every ``interval`` seconds.

    A wake-up that arrives while ``step`` runs is kept, so no signal is lost; an exception is
    logged and the loop carries on (a database restart must not end event delivery).
    """
    while True:
        wake.clear()
        try:
            await step()
        except Exception:
            logger.exception("%s failed; retrying in %.1fs", name, interval)
        await wait_or_timeout(wake, interval)
