"""The scheduler, in one app on SQLite and PostgreSQL: periodic jobs run on their schedule,
failures are retried with backoff and shown, one-shot jobs run once at their time and are
idempotent on their key, and ``scheduledJobs`` shows it all to those holding ``jobs:read``."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from crm_graph.plugin import (
    AppContext,
    ExplainedFailure,
    JobRun,
    PluginMetadata,
    ScheduledJob,
    cancel_job,
    hookimpl,
    schedule_once,
    utcnow,
)
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, temporary_database

JOBS = """
query ($plugin: String) {
  scheduledJobs(plugin: $plugin, first: 50) {
    totalCount
    nodes {
      id name plugin key schedule status running dueAt nextRunAt attempts
      lastRunAt lastStatus lastError runs
    }
  }
}
"""


INTERNALS = "SELECT secret FROM vault (/srv/app/jobs.py)"  # what an exception's text may hold
INTERNAL = re.compile(r"INTERNAL_ERROR: .* \(([0-9a-f]{32})\)")


class Jobber:
    """A plugin whose jobs record each call: a periodic ``tick``, a one-shot ``remind``, and a
    one-shot ``flaky`` that fails its first ``payload['failures']`` attempts (with an
    unexpected error, or an explained one when ``payload['explained']``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, JobRun, float]] = []
        self.early: list[JobRun] = []  # runs started before they were due

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="jobber", version="1.0", requires_core=">=0.1")

    @hookimpl
    def crm_scheduled_jobs(self, app: AppContext) -> list[ScheduledJob]:
        return [
            ScheduledJob("tick", self.record("tick"), schedule=timedelta(seconds=0.3)),
            ScheduledJob("remind", self.record("remind")),
            ScheduledJob("flaky", self.record("flaky"), max_attempts=3),
            ScheduledJob("slow", self.record("slow")),
        ]

    def record(self, name: str) -> Any:
        async def run(app: AppContext, run: JobRun) -> None:
            self.calls.append((name, run, time.monotonic()))
            if utcnow() < run.due_at:
                self.early.append(run)
            if run.attempt <= run.payload.get("failures", 0):
                if run.payload.get("explained"):
                    raise ExplainedFailure(f"the partner refused attempt {run.attempt}")
                raise RuntimeError(f"boom {run.attempt}: {INTERNALS}")
            await asyncio.sleep(run.payload.get("seconds", 0))

        return run

    def runs(self, name: str) -> list[tuple[JobRun, float]]:
        return [(run, at) for called, run, at in self.calls if called == name]


@pytest.fixture(params=["sqlite", "postgresql"])
async def settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    async with temporary_database(request.param, tmp_path) as url:
        yield Settings(
            database_url=url,
            env="test",
            scheduler_retry_seconds=0.3,
            scheduler_lease_seconds=2,
            scheduler_poll_seconds=5,
        )


@pytest.fixture
async def jobber(settings: Settings) -> AsyncIterator[tuple[GraphQLClient, Jobber]]:
    plugin = Jobber()
    async with app_client(settings, plugins=[plugin]) as client:
        yield client, plugin


async def until(check: Any, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return found


async def job(client: GraphQLClient, name: str) -> dict[str, Any]:
    nodes = (await client.data(JOBS, {"plugin": "jobber"}))["scheduledJobs"]["nodes"]
    return next(node for node in nodes if node["name"] == name)


async def schedule(client: GraphQLClient, name: str, at_seconds: float, **kwargs: Any) -> bool:
    app: AppContext = client.app.state.crm
    async with app.write() as session:
        return await schedule_once(
            session, "jobber", name, utcnow() + timedelta(seconds=at_seconds), **kwargs
        )


async def test_a_periodic_job_runs_on_its_schedule_and_is_listed(jobber: tuple) -> None:
    client, plugin = jobber
    await until(lambda: _true(len(plugin.runs("tick")) >= 3))
    # No run starts before it is due (a gap between two runs can be short on a busy machine:
    # the first one started late, the next on time).
    assert plugin.early == []
    dues = [run.due_at for run, _at in plugin.runs("tick")]
    # runs keep the interval's grid (a run that ended late skips the grid points it missed)
    assert all(
        (later - earlier) % timedelta(seconds=0.3) == timedelta(0)
        for earlier, later in itertools.pairwise(dues)
    )

    tick = await until(lambda: _found(job(client, "tick"), lambda j: j["runs"] >= 3))
    assert tick["id"].startswith("U2NoZWR1bGVkSm9i")  # base64 of "ScheduledJob:"
    assert tick["plugin"] == "jobber" and tick["key"] is None
    assert tick["schedule"] == "every 0.3s" and tick["status"] == "SCHEDULED"
    assert tick["lastStatus"] == "succeeded" and tick["lastError"] is None
    assert tick["attempts"] == 0 and tick["lastRunAt"] < tick["nextRunAt"]


async def test_a_failing_run_is_retried_with_backoff_and_its_error_shown(
    jobber: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected error shows as INTERNAL_ERROR and an id only (its text may carry SQL,
    paths or data); the ``crm_graph.errors`` log has the id with the exception and its
    traceback. An explained failure shows its message."""
    client, plugin = jobber
    assert await schedule(client, "flaky", 0, payload={"failures": 2}, key="twice")
    failed = await until(lambda: _found(job(client, "flaky"), lambda j: j["lastError"]))
    assert failed["attempts"] >= 1 and "boom" not in failed["lastError"]
    shown = INTERNAL.fullmatch(failed["lastError"])
    assert shown, failed["lastError"]
    [logged] = [r for r in caplog.records if shown[1] in r.getMessage()]
    assert logged.name == "crm_graph.errors" and "jobber.flaky" in logged.getMessage()
    assert INTERNALS in logged.getMessage() and logged.exc_info is not None
    assert failed["lastStatus"] == "failed" and failed["status"] == "SCHEDULED"

    done = await until(lambda: _found(job(client, "flaky"), lambda j: j["status"] == "DONE"))
    assert done["runs"] == 1 and done["lastError"] is None and done["attempts"] == 0
    times = [at for _run, at in plugin.runs("flaky")]
    assert [run.attempt for run, _at in plugin.runs("flaky")] == [1, 2, 3]
    assert times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.6  # doubling backoff
    assert len({run.run_id for run, _at in plugin.runs("flaky")}) == 1  # one run, retried

    failing = {"failures": 5, "explained": True}
    assert await schedule(client, "flaky", 0, payload=failing, key="always")
    gave_up = await until(
        lambda: _found(job_keyed(client, "always"), lambda j: j["status"] == "FAILED")
    )
    assert gave_up["attempts"] == 3
    assert gave_up["lastError"] == "the partner refused attempt 3"
    assert gave_up["runs"] == 0 and gave_up["nextRunAt"] is None


async def test_a_one_shot_job_runs_once_at_its_time_and_a_key_schedules_once(
    jobber: tuple,
) -> None:
    client, plugin = jobber
    asked = utcnow()
    assert await schedule(client, "remind", 0.5, payload={"task": 7}, key="task-7")
    assert not await schedule(client, "remind", 0.1, payload={"task": 8}, key="task-7")
    assert await schedule(client, "remind", 0.2, key="task-9")
    assert await cancel_in(client, "task-9")
    await until(lambda: _true(plugin.runs("remind")))
    await asyncio.sleep(1.0)  # time for a second run, or the cancelled one, to happen wrongly

    [(run, _at)] = plugin.runs("remind")
    assert run.key == "task-7" and run.payload == {"task": 7} and run.attempt == 1
    assert utcnow() - asked >= timedelta(seconds=0.5) and run.due_at >= asked
    reminded = await job_keyed(client, "task-7")
    assert reminded["status"] == "DONE" and reminded["runs"] == 1
    assert reminded["schedule"] is None and reminded["nextRunAt"] is None
    assert (await job_keyed(client, "task-9"))["status"] == "CANCELLED"
    assert not await cancel_in(client, "task-7")  # it ran: nothing left to cancel


async def test_a_run_longer_than_its_lease_keeps_it_and_runs_once(jobber: tuple) -> None:
    client, plugin = jobber
    assert await schedule(client, "slow", 0, payload={"seconds": 3}, key="long")  # lease: 2 s
    running = await until(lambda: _found(job_keyed(client, "long"), lambda j: j["running"]))
    assert running["attempts"] == 1 and running["status"] == "SCHEDULED"
    done = await until(lambda: _found(job_keyed(client, "long"), lambda j: j["status"] == "DONE"))
    assert len(plugin.runs("slow")) == 1 and done["runs"] == 1 and not done["running"]


async def test_scheduled_jobs_need_jobs_read(jobber: tuple) -> None:
    client, _plugin = jobber
    result = await client.acting_as("sales", "sam").execute(JOBS, {"plugin": None})
    assert result["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def job_keyed(client: GraphQLClient, key: str) -> dict[str, Any]:
    nodes = (await client.data(JOBS, {"plugin": "jobber"}))["scheduledJobs"]["nodes"]
    return next(node for node in nodes if node["key"] == key)


async def cancel_in(client: GraphQLClient, key: str) -> bool:
    app: AppContext = client.app.state.crm
    async with app.write() as session:
        return await cancel_job(session, "jobber", "remind", key=key)


async def _true(value: Any) -> Any:
    return value


async def _found(read: Any, predicate: Any) -> Any:
    found = await read
    return found if predicate(found) else None


class Writer:
    """A plugin whose one-shot ``write`` job holds a write transaction busy with statements
    until it is stopped (as a campaign's send job is, batch after batch)."""

    SLOW = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)"
        " SELECT count(*) FROM c"
    )

    def __init__(self) -> None:
        self.statements = 0

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="writer", version="1.0", requires_core=">=0.1")

    @hookimpl
    def crm_scheduled_jobs(self, app: AppContext) -> list[ScheduledJob]:
        return [ScheduledJob("write", self.write)]

    async def write(self, app: AppContext, run: JobRun) -> None:
        async with app.write() as session:
            await session.execute(
                text("UPDATE scheduled_job SET updated_at = updated_at WHERE id = :id"),
                {"id": run.job_id},
            )
            while True:
                await session.execute(text(self.SLOW))
                self.statements += 1


async def test_a_job_stopped_in_the_middle_of_a_write_leaves_the_database_writable(
    settings: Settings,
) -> None:
    """Stopping the server cancels a job whose statement is in flight: its transaction is
    rolled back, so the stop gives its run back and the next server writes at once (SQLite
    kept the cancelled transaction's write lock: "database is locked")."""
    writer = Writer()
    async with app_client(settings, plugins=[writer]) as client:
        app: AppContext = client.app.state.crm
        async with app.write() as session:
            await schedule_once(session, "writer", "write", utcnow(), key="once")
        await until(lambda: _true(writer.statements >= 3))
    idle = settings.model_copy(update={"scheduler": False})  # the run would start again
    async with app_client(idle, plugins=[writer], migrate=False) as client:
        made = await client.data(
            'mutation { createCustomer(input: {name: "Ada"}) { errors { code } } }'
        )
        assert made["createCustomer"]["errors"] == []
        nodes = (await client.data(JOBS, {"plugin": "writer"}))["scheduledJobs"]["nodes"]
        assert [(n["name"], n["status"], n["attempts"]) for n in nodes] == [
            ("write", "SCHEDULED", 0)
        ]
