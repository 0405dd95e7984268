"""The delivery workers of one process: ``settings.webhook_workers`` at a time, each claiming
its next delivery as soon as it is free, sending it and recording the outcome."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.db.models import utcnow
from crm_graph.events.loops import logger
from crm_graph.events.webhooks.claims import Audience, claim, next_due
from crm_graph.events.webhooks.outcomes import record
from crm_graph.events.webhooks.request import Job, send
from crm_graph.events.webhooks.targets import TargetPolicy
from crm_graph.settings import Settings

BUSY_RETRY_SECONDS = 0.1


class Deliverer:
    """Claims due deliveries and sends them, ``settings.webhook_workers`` at a time."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        owner: str,
        audience: Audience,
        targets: TargetPolicy,
    ) -> None:
        self.engine, self.settings, self.owner = engine, settings, owner
        self.audience = audience
        self.http = targets.client(settings.webhook_timeout_seconds)

    async def close(self) -> None:
        await self.http.aclose()

    async def step(self) -> float | None:
        """Work until nothing is due; the seconds until the next delivery falls due (None:
        nothing pending). Each worker claims its next delivery as soon as it is free, so a
        slow receiver holds up one worker, not a batch of them."""
        due = await next_due(self.engine)
        if due is None or due > utcnow():
            return None if due is None else (due - utcnow()).total_seconds()
        async with asyncio.TaskGroup() as workers:
            for _ in range(self.settings.webhook_workers):
                workers.create_task(self._work())
        due = await next_due(self.engine)
        if due is None:
            return None
        # Due again by now (a retry fell due as the workers ended, or a claim failed): soon,
        # not in a busy loop.
        return max((due - utcnow()).total_seconds(), BUSY_RETRY_SECONDS)

    async def _work(self) -> None:
        try:
            while job := await claim(self.engine, self.settings, self.owner, self.audience):
                await self.run(job)
        except Exception:  # logged here: raising would cancel the others' requests mid-way
            logger.exception("claiming a webhook delivery failed")

    async def run(self, job: Job) -> None:
        try:
            outcome = await send(self.http, self.settings, job)
            await record(self.engine, self.settings, job, outcome)
        except Exception:
            logger.exception("webhook delivery %s failed unexpectedly", job.delivery_id)
