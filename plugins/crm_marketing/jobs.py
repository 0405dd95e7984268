"""The plugin's background jobs: every dynamic segment's membership, recomputed on a schedule
(conditions such as "ordered in the last 30 days" change with time alone, with no event); a
campaign's send (one-shot, scheduled by ``sendEmailCampaign``); and following what became of
the messages sent."""

from __future__ import annotations

from datetime import timedelta

from crm_graph.plugin import AppContext, JobRun, ScheduledJob
from crm_marketing import automations, campaigns, segments
from crm_marketing.settings import (
    FOLLOW_SENDS,
    REFRESH_SEGMENTS,
    RUN_AUTOMATION,
    SEND_CAMPAIGN,
    MarketingSettings,
)


async def refresh_segments(app: AppContext, run: JobRun) -> None:
    await segments.refresh_all(app)


async def send_campaign(app: AppContext, run: JobRun) -> None:
    await campaigns.run(app, int(run.payload["campaign"]))


async def follow_sends(app: AppContext, run: JobRun) -> None:
    await campaigns.follow(app)


async def run_automation(app: AppContext, run: JobRun) -> None:
    await automations.perform_run(app, int(run.payload["run"]))


def declarations(settings: MarketingSettings) -> list[ScheduledJob]:
    return [
        ScheduledJob(REFRESH_SEGMENTS, refresh_segments, schedule=settings.segment_refresh),
        ScheduledJob(SEND_CAMPAIGN, send_campaign),
        ScheduledJob(RUN_AUTOMATION, run_automation),
        ScheduledJob(
            FOLLOW_SENDS, follow_sends, schedule=timedelta(seconds=settings.follow_seconds)
        ),
    ]
