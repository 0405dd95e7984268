"""SLAs in business hours over GraphQL, on SQLite and PostgreSQL: the issue's hand-computed
deadlines (a weekend, a holiday, a daylight-saving change, a pause in PENDING), breach flags,
the SLA filter, and the scheduler's warnings and breaches, each emitted once, the warning
``CRM_PLUGIN_SERVICE_SLA_WARNING_LEAD`` ahead of its deadline.

The plugin reads the time through ``crm_service.clock.now``; the tests set it to the exact
moments the cases are computed for (Europe/Berlin, Monday-Friday 09:00-17:00).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

import crm_service
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.service_support import events_of, mutate, new_customer, ok, reply, set_status

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")
SLA = """query ($id: ID!) { ticket(id: $id) { status sla { policy { name } firstResponseDueAt
  resolutionDueAt firstResponseBreached resolutionBreached remaining paused state } } }"""


class Clock:
    """The moment the plugin sees; set with :meth:`at` (a Berlin wall time or UTC)."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)

    def at(self, text: str) -> None:
        self.moment = datetime.fromisoformat(text).astimezone(UTC)

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(crm_service.clock, "now", fake.now)
    yield fake


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[GraphQLClient]:
    settings = settings.model_copy(update={"rate_limit_per_minute": 0})
    async with app_client(settings, plugins=[crm_service]) as client:
        yield client


def calendar_input(
    name: str, zone: str = "Europe/Berlin", days: Sequence[str] = WEEKDAYS, holidays: Any = ()
) -> dict[str, Any]:
    """A calendar open 09:00-17:00 on ``days``."""
    hours = [{"day": day, "hours": ["09:00-17:00"]} for day in days]
    return {"name": name, "timeZone": zone, "hours": hours, "holidays": list(holidays)}


async def calendar(client: GraphQLClient, name: str, holidays: list[str] = ()) -> str:
    input = calendar_input(name, holidays=holidays)
    payload = await ok(client, "createBusinessCalendar", input, "calendar { id }")
    return payload["calendar"]["id"]


async def policy(
    client: GraphQLClient, name: str, calendar_id: str, default: bool = False, **minutes: int
) -> str:
    target = {"priority": "NORMAL", **minutes}
    input = {"name": name, "calendarId": calendar_id, "targets": [target], "isDefault": default}
    return (await ok(client, "createSlaPolicy", input, "policy { id }"))["policy"]["id"]


async def ticket(client: GraphQLClient, **fields: Any) -> str:
    customer = await new_customer(client)
    input = {"customerId": customer, "subject": "Where is my parcel?", **fields}
    return (await ok(client, "createTicket", input, "ticket { id }"))["ticket"]["id"]


async def sla_of(client: GraphQLClient, ticket_id: str) -> dict[str, Any]:
    return (await client.data(SLA, {"id": ticket_id}))["ticket"]["sla"]


def utc(text: str) -> str:
    """A Berlin wall time as the API writes it (UTC)."""
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


async def test_the_issues_hand_computed_deadlines(service: GraphQLClient, clock: Clock) -> None:
    office = await calendar(service, "Berlin office")
    closed_monday = await calendar(service, "Berlin, Monday off", ["2026-11-30"])
    standard = await policy(service, "Standard", office, True, firstResponseMinutes=240)
    holiday = await policy(service, "Holiday", closed_monday, firstResponseMinutes=240)

    # Friday 17:30, after hours: four business hours are Monday 09:00-13:00.
    clock.at("2026-11-27T17:30:00+01:00")
    friday = await ticket(service)
    assert (await sla_of(service, friday))["firstResponseDueAt"] == utc("2026-11-30T13:00:00+01:00")
    # The same with Monday a holiday: Tuesday 13:00.
    after_holiday = await ticket(service, slaPolicyId=holiday)
    found = await sla_of(service, after_holiday)
    assert found["firstResponseDueAt"] == utc("2026-12-01T13:00:00+01:00")
    assert found["policy"] == {"name": "Holiday"}

    # Friday 15:00 CET, the weekend the clocks go forward: 2 hours on Friday, then Monday
    # 09:00-11:00 CEST, which is 09:00 UTC (an hour earlier in UTC than the winter time).
    clock.at("2026-03-27T15:00:00+01:00")
    spanning = await ticket(service)
    assert (await sla_of(service, spanning))["firstResponseDueAt"] == utc(
        "2026-03-30T11:00:00+02:00"
    )
    assert (await sla_of(service, spanning))["firstResponseDueAt"] == "2026-03-30T09:00:00+00:00"
    assert standard


async def test_a_pause_in_pending_moves_the_deadline_by_the_paused_business_hours(
    service: GraphQLClient, clock: Clock
) -> None:
    office = await calendar(service, "Berlin office")
    await policy(service, "Standard", office, True, resolutionMinutes=240)
    clock.at("2026-11-30T09:00:00+01:00")
    paused = await ticket(service)
    assert (await sla_of(service, paused))["resolutionDueAt"] == utc("2026-11-30T13:00:00+01:00")

    clock.at("2026-11-30T10:00:00+01:00")
    await set_status(service, paused, "PENDING")
    waiting = await sla_of(service, paused)
    assert waiting["paused"] is True and waiting["state"] == "PAUSED"
    assert waiting["resolutionDueAt"] is None and waiting["remaining"] == 180

    clock.at("2026-11-30T12:00:00+01:00")
    await set_status(service, paused, "OPEN")
    resumed = await sla_of(service, paused)
    assert resumed["resolutionDueAt"] == utc("2026-11-30T15:00:00+01:00")
    assert resumed["remaining"] == 180 and resumed["state"] == "ON_TRACK"

    clock.at("2026-11-30T14:30:00+01:00")  # within the hour of warning lead time
    assert (await sla_of(service, paused))["state"] == "AT_RISK"
    clock.at("2026-11-30T15:00:00+01:00")  # due now: not breached yet
    due = await sla_of(service, paused)
    assert due["remaining"] == 0 and due["resolutionBreached"] is False
    clock.at("2026-11-30T15:30:00+01:00")
    late = await sla_of(service, paused)
    assert late["resolutionBreached"] is True and late["remaining"] == -30
    assert late["state"] == "BREACHED"

    clock.at("2026-11-30T16:00:00+01:00")
    await set_status(service, paused, "RESOLVED")
    resolved = await sla_of(service, paused)
    assert resolved["resolutionBreached"] is True and resolved["remaining"] is None
    assert resolved["resolutionDueAt"] == utc("2026-11-30T15:00:00+01:00")


async def test_a_late_first_reply_stays_breached_and_the_filter_finds_it(
    service: GraphQLClient, clock: Clock
) -> None:
    office = await calendar(service, "Berlin office")
    await policy(service, "Standard", office, True, firstResponseMinutes=60, resolutionMinutes=480)
    clock.at("2026-11-30T09:00:00+01:00")
    late, prompt, calm = await ticket(service), await ticket(service), await ticket(service)
    clock.at("2026-11-30T09:30:00+01:00")
    await reply(service, prompt, "On it")
    clock.at("2026-11-30T10:30:00+01:00")
    await reply(service, late, "Sorry for the wait")
    answered = await sla_of(service, late)
    assert answered["firstResponseBreached"] is True and answered["state"] == "BREACHED"
    assert answered["firstResponseDueAt"] == utc("2026-11-30T10:00:00+01:00")
    assert (await sla_of(service, prompt))["firstResponseBreached"] is False

    async def with_state(state: str) -> set[str]:
        data = await service.data(
            "query ($s: SlaState) { tickets(filter: {slaState: $s}) { nodes { id } } }",
            {"s": state},
        )
        return {n["id"] for n in data["tickets"]["nodes"]}

    # calm's first reply (due 10:00) is overdue without anyone having looked: breached too.
    assert await with_state("BREACHED") == {late, calm}
    await reply(service, calm, "Hello")
    assert await with_state("ON_TRACK") == {prompt}  # resolution due 17:00, hours away
    clock.at("2026-11-30T16:30:00+01:00")
    assert await with_state("AT_RISK") == {prompt}


async def test_calendars_and_policies_refuse_what_cannot_be_measured(
    service: GraphQLClient,
) -> None:
    bad = await mutate(
        service,
        "createBusinessCalendar",
        {"name": "x", "timeZone": "Mars/Olympus", "hours": [{"day": "MONDAY", "hours": ["9-5"]}]},
        "calendar { id }",
    )
    assert bad["errors"] == [
        {
            "code": "INVALID_TIME_ZONE",
            "message": "'Mars/Olympus' is not an IANA time zone",
            "field": ["input", "timeZone"],
        }
    ]
    # Found by the deep fuzz run: a name no file system takes was an INTERNAL_ERROR.
    for zone in ("a" * 5000, "../../etc/passwd", "localtime", "Europe"):
        refused = await mutate(
            service,
            "createBusinessCalendar",
            {"name": "x", "timeZone": zone, "hours": []},
            "calendar { id }",
        )
        assert [e["code"] for e in refused["errors"]] == ["INVALID_TIME_ZONE"], zone
    spelled = await mutate(
        service,
        "createBusinessCalendar",
        {
            "name": "Lower",
            "timeZone": "europe/berlin",
            "hours": [{"day": "MONDAY", "hours": ["09:00-17:00"]}],
        },
        "calendar { timeZone }",
    )
    assert spelled["calendar"] == {"timeZone": "Europe/Berlin"}
    overlap = await mutate(
        service,
        "createBusinessCalendar",
        {
            "name": "x",
            "timeZone": "UTC",
            "hours": [{"day": "MONDAY", "hours": ["09:00-13:00", "12:00-17:00"]}],
        },
        "calendar { id }",
    )
    assert overlap["errors"][0]["message"] == "the hours of MONDAY overlap"
    office = await calendar(service, "Office")
    refused = await mutate(
        service,
        "createSlaPolicy",
        {
            "name": "P",
            "calendarId": office,
            "targets": [{"priority": "LOW", "resolutionMinutes": 0}],
        },
        "policy { id }",
    )
    assert refused["errors"][0]["field"] == ["input", "targets", "0", "resolutionMinutes"]
    data = await service.data(
        "{ slaPolicies { name } businessCalendars { name timeZone hours { day hours } } }"
    )
    assert data["slaPolicies"] == []
    stored = {c["name"]: c for c in data["businessCalendars"]}
    assert stored["Office"]["hours"][0] == {"day": "MONDAY", "hours": ["09:00-17:00"]}


async def test_the_scheduler_warns_and_reports_a_breach_once_across_processes(
    settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_SERVICE_SLA_CHECK_EVERY", "0.2")
    settings = settings.model_copy(update={"rate_limit_per_minute": 0})
    async with (
        app_client(settings, plugins=[crm_service]) as one,
        app_client(settings, plugins=[crm_service], migrate=False) as two,
    ):
        office = await calendar(one, "Berlin office")
        await policy(one, "Standard", office, True, firstResponseMinutes=240)
        clock.at("2026-11-27T17:30:00+01:00")
        late = await ticket(one)
        clock.at("2026-11-30T12:15:00+01:00")  # due at 13:00: within the hour of lead time
        warned = await events_of(one, "ticket.sla_warning", count=1)
        clock.at("2026-11-30T13:01:00+01:00")
        breached = await events_of(two, "ticket.sla_breached", count=1)
        await asyncio.sleep(1.0)  # both schedulers keep running: nothing more is announced
        found = await events_of(one, "ticket.sla_warning", "ticket.sla_breached", count=2)
    assert [e["type"] for e in found] == ["ticket.sla_warning", "ticket.sla_breached"]
    for event in (warned[0], breached[0]):
        assert event["entityId"] == late
        assert event["payload"]["target"] == "FIRST_RESPONSE"
        assert event["payload"]["dueAt"] == utc("2026-11-30T13:00:00+01:00")
        assert event["payload"]["policy"] == "Standard"


SLA_CHECK_RUNS = """{ scheduledJobs(plugin: "service") { nodes { name runs } } }"""
AT_RISK = """{ tickets(filter: {slaState: AT_RISK}, first: 10) { nodes { id } } }"""


async def sla_checks_done(client: GraphQLClient) -> int:
    jobs = (await client.data(SLA_CHECK_RUNS))["scheduledJobs"]["nodes"]
    return next(job["runs"] for job in jobs if job["name"] == "sla_check")


async def test_a_shorter_warning_lead_warns_later(
    settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_SERVICE_SLA_WARNING_LEAD", "PT30M")
    monkeypatch.setenv("CRM_PLUGIN_SERVICE_SLA_CHECK_EVERY", "0.2")
    settings = settings.model_copy(update={"rate_limit_per_minute": 0})
    async with app_client(settings, plugins=[crm_service]) as client:
        office = await calendar(client, "Berlin office")
        await policy(client, "Standard", office, True, firstResponseMinutes=240)
        clock.at("2026-11-27T17:30:00+01:00")
        late = await ticket(client)
        # Due at 13:00: 45 minutes ahead is inside the default hour, outside these 30 minutes.
        clock.at("2026-11-30T12:15:00+01:00")
        runs = await sla_checks_done(client)
        for _ in range(300):
            if await sla_checks_done(client) >= runs + 2:  # a whole check saw 12:15
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the SLA check did not run")
        assert await events_of(client, "ticket.sla_warning", count=0) == []
        assert (await sla_of(client, late))["state"] == "ON_TRACK"
        assert (await client.data(AT_RISK))["tickets"]["nodes"] == []

        clock.at("2026-11-30T12:31:00+01:00")
        [warned] = await events_of(client, "ticket.sla_warning", count=1)
        assert (await sla_of(client, late))["state"] == "AT_RISK"
        assert (await client.data(AT_RISK))["tickets"]["nodes"] == [{"id": late}]
    assert warned["entityId"] == late
    assert warned["payload"]["dueAt"] == utc("2026-11-30T13:00:00+01:00")
