"""Background loops that survive their own failures and wake early when told to."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

logger = logging.getLogger("crm_graph.events")
MIN_WAIT_SECONDS = 0.01  # a step that has more work at once still yields to the loop


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
    """Run ``step`` whenever ``wake`` is set, and at least every ``interval`` seconds (sooner
    when ``step`` returns a number of seconds: when its next piece of work falls due).

    A wake-up that arrives while ``step`` runs is kept, so no signal is lost; an exception is
    logged and the loop carries on (a database restart must not end event delivery).
    """
    while True:
        wake.clear()
        timeout = interval
        try:
            due = await step()
            if isinstance(due, int | float) and not isinstance(due, bool):
                timeout = min(interval, max(due, MIN_WAIT_SECONDS))
        except Exception:
            logger.exception("%s failed; retrying in %.1fs", name, interval)
        await wait_or_timeout(wake, timeout)
