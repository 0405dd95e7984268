"""The scheduler across real ``crm-graph serve`` processes on PostgreSQL: each due run is
executed once by two processes, a run whose process is SIGKILLed is taken again by the other
once its lease ends (and counts once), and ``--no-scheduler`` runs nothing.

The servers load a small plugin, ``probe``, installed for them only (a module and its
entry-point metadata on ``PYTHONPATH``). Its jobs append ``start``/``done`` lines, naming the
run and the process, to a file: the side effects counted here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from test_subscriptions_live import server_env

from crm_graph.plugin import AppContext, schedule_once, utcnow
from crm_graph.settings import Settings
from crm_graph.testing import app_client, server_process, temporary_database

PROBE = """
import asyncio, os
from datetime import timedelta
from pydantic import BaseModel
from crm_graph.plugin import PluginMetadata, ScheduledJob, hookimpl


class ProbeSettings(BaseModel):
    log: str
    every: float = 0.3
    sleep: float = 0.05


def _write(path, line):
    with open(path, "a") as out:
        out.write(line + "\\n")


async def _probe(app, run):
    settings = app.plugin_settings("probe")
    _write(settings.log, f"start {run.run_id} {os.getpid()}")
    await asyncio.sleep(settings.sleep)
    _write(settings.log, f"done {run.run_id} {os.getpid()}")


@hookimpl
def crm_plugin_metadata():
    return PluginMetadata(name="probe", version="1.0", requires_core=">=0.1", settings=ProbeSettings)


@hookimpl
def crm_scheduled_jobs(app):
    every = timedelta(seconds=app.plugin_settings("probe").every)
    return [ScheduledJob("tick", _probe, schedule=every), ScheduledJob("once", _probe)]
"""
JOBS = "{ scheduledJobs(first: 10) { nodes { name key status runs attempts lastError } } }"


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    """The probe plugin, importable by the servers through ``PYTHONPATH``."""
    site = tmp_path / "site"
    (site / "probe-1.0.dist-info").mkdir(parents=True)
    (site / "crm_probe.py").write_text(PROBE)
    (site / "probe-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: probe\nVersion: 1.0\n"
    )
    (site / "probe-1.0.dist-info" / "entry_points.txt").write_text(
        "[crm_graph.plugins]\nprobe = crm_probe\n"
    )
    return site


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[str]:
    async with temporary_database("postgresql", tmp_path) as url:
        async with app_client(Settings(database_url=url, env="test"), plugins=[]):
            pass  # migrated
        yield url


def env(database: str, site: Path, log: Path, **probe: float) -> dict[str, str]:
    return {
        **server_env(database),
        "CRM_PLUGINS": "probe",
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "CRM_SCHEDULER_LEASE_SECONDS": "1",
        "CRM_SCHEDULER_RETRY_SECONDS": "0.2",
        "CRM_PLUGIN_PROBE_LOG": str(log),
        **{f"CRM_PLUGIN_PROBE_{name.upper()}": str(value) for name, value in probe.items()},
    }


def lines(log: Path) -> list[tuple[str, str, str]]:
    if not log.exists():
        return []
    return [tuple(line.split()) for line in log.read_text().splitlines()]  # type: ignore[misc]


async def servers(stack: ExitStack, environment: dict[str, str], count: int, *args: str) -> list:
    """``count`` server processes, started side by side (each takes seconds to start)."""
    started = await asyncio.gather(
        *(
            asyncio.to_thread(
                stack.enter_context, server_process(environment, timeout=90, args=args)
            )
            for _ in range(count)
        ),
        return_exceptions=True,
    )
    for outcome in started:
        if isinstance(outcome, BaseException):
            raise outcome
    return started


async def jobs(database: str) -> list[dict]:
    async with app_client(Settings(database_url=database, env="test"), plugins=[]) as client:
        return (await client.data(JOBS))["scheduledJobs"]["nodes"]


async def until(check, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return found


async def test_two_processes_run_each_due_run_exactly_once(
    database: str, probe: Path, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    with ExitStack() as stack:
        await servers(stack, env(database, probe, log, every=0.2), 2)
        await until(lambda: sum(1 for kind, *_ in lines(log) if kind == "done") >= 12)
    started = Counter(run for kind, run, _pid in lines(log) if kind == "start")
    done = Counter(run for kind, run, _pid in lines(log) if kind == "done")
    assert set(started.values()) == {1} and set(done.values()) == {1}
    assert set(done) <= set(started) and len(started) - len(done) <= 1  # one cut by the stop
    [tick] = await jobs(database)
    assert tick["name"] == "tick" and tick["runs"] == len(done)


async def test_a_run_killed_mid_way_is_retried_by_the_other_process_after_its_lease(
    database: str, probe: Path, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    with ExitStack() as stack:
        processes = {
            process.pid: process
            for _url, process in await servers(
                stack, env(database, probe, log, every=3600, sleep=2), 2
            )
        }
        async with app_client(Settings(database_url=database, env="test"), plugins=[]) as c:
            app: AppContext = c.app.state.crm
            async with app.write() as session:
                await schedule_once(session, "probe", "once", utcnow(), {}, key="k")
        [(_kind, run, pid)] = await until(lambda: lines(log))
        processes[int(pid)].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await until(lambda: any(kind == "done" for kind, *_ in lines(log)), 15)
        assert time.monotonic() - killed >= 0.5  # the other one waited for the lease to end
    starts = [(r, p) for kind, r, p in lines(log) if kind == "start"]
    assert [r for r, _p in starts] == [run, run] and starts[0][1] != starts[1][1]
    assert [(kind, r) for kind, r, _p in lines(log) if kind == "done"] == [("done", run)]
    once = next(job for job in await jobs(database) if job["name"] == "once")
    assert once["status"] == "DONE" and once["runs"] == 1 and once["key"] == "k"


async def test_no_scheduler_runs_nothing(database: str, probe: Path, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    with ExitStack() as stack:
        await servers(stack, env(database, probe, log, every=0.1), 1, "--no-scheduler")
        await asyncio.sleep(1.5)
    assert lines(log) == []
    assert await jobs(database) == []
