"""CSAT and NPS surveys over GraphQL and the public survey route, on SQLite and PostgreSQL:
a signed, single-use, expiring link per survey (reused, expired, forged or badly answered
links write nothing), the survey e-mail through the outbound service, and serviceMetrics
exact on a hand-checked fixture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

import crm_service
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, smtp_server
from tests.service_support import events_of, new_customer, ok, reply, set_status
from tests.test_service_sla import Clock, calendar_input

ANONYMOUS = {"Authorization": ""}
SURVEY = """query ($id: ID!) { ticket(id: $id) { survey { id kind rating comment link
  respondedAt customer { id } } } }"""


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


async def resolved_ticket(client: GraphQLClient, customer: str | None = None) -> str:
    customer = customer or await new_customer(client, email="ada@example.com")
    input = {"customerId": customer, "subject": "Parcel never arrived"}
    ticket = (await ok(client, "createTicket", input, "ticket { id }"))["ticket"]["id"]
    assert (await set_status(client, ticket, "RESOLVED"))["errors"] == []
    return ticket


async def survey_of(client: GraphQLClient, ticket: str) -> dict[str, Any]:
    return (await client.data(SURVEY, {"id": ticket}))["ticket"]["survey"]


async def answer(client: GraphQLClient, link: str, body: Any) -> tuple[int, dict]:
    response = await client.http.post(link, json=body, headers=ANONYMOUS)
    return response.status_code, response.json()


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


async def test_a_resolved_ticket_gets_a_survey_answered_once_through_its_link(
    service: GraphQLClient,
) -> None:
    ticket = await resolved_ticket(service)
    survey = await survey_of(service, ticket)
    assert survey["kind"] == "CSAT" and survey["rating"] is None
    link = survey["link"]
    assert link.startswith("/p/service/surveys/")
    [resolved] = await events_of(service, "ticket.resolved", count=1)
    assert resolved["payload"]["surveyUrl"] == link

    status, body = await answer(service, link, {"rating": 6})
    assert status == 400 and body["errors"][0]["extensions"]["code"] == "INVALID_VALUE"
    status, body = await answer(service, link, {"rating": 5, "comment": "Quick and kind"})
    assert status == 200
    assert body == {"surveyId": survey["id"], "kind": "CSAT", "rating": 5}
    assert await answer(service, link, {"rating": 1}) == (
        409,
        {
            "data": None,
            "errors": [
                {"message": "the link has already been used", "extensions": {"code": "TOKEN_USED"}}
            ],
        },
    )
    forged = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    status, body = await answer(service, forged, {"rating": 1})
    assert status == 400 and body["errors"][0]["extensions"]["code"] == "TOKEN_INVALID"
    answered = await survey_of(service, ticket)
    assert answered["rating"] == 5 and answered["comment"] == "Quick and kind"
    assert answered["link"] is None and answered["respondedAt"] is not None
    [responded] = await events_of(service, "survey.responded", count=1)
    assert responded["payload"]["rating"] == 5 and responded["payload"]["kind"] == "CSAT"
    assert responded["payload"]["ticketId"] == ticket
    assert "Quick" not in str(responded)

    # Reopened and resolved again: the ticket keeps its one survey.
    await set_status(service, ticket, "OPEN")
    await set_status(service, ticket, "RESOLVED")
    assert (await survey_of(service, ticket))["id"] == survey["id"]
    masked = await service.acting_as("analyst").data(SURVEY, {"id": ticket})
    assert masked["ticket"]["survey"]["comment"] != "Quick and kind"


async def test_an_expired_link_writes_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_SERVICE_SURVEY_VALID_FOR", "1")
    async with app_client(settings, plugins=[crm_service]) as client:
        ticket = await resolved_ticket(client)
        link = (await survey_of(client, ticket))["link"]
        await asyncio.sleep(1.5)
        status, body = await answer(client, link, {"rating": 4})
        assert status == 410 and body["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"
        assert (await survey_of(client, ticket))["rating"] is None


async def test_the_survey_is_e_mailed_when_smtp_is_configured(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_SERVICE_EMAIL_FROM", "Help <help@shop.example>")
    monkeypatch.setenv("CRM_PLUGIN_SERVICE_SURVEY_URL", "https://shop.example/survey/{token}")
    with smtp_server() as (inbox, port):
        settings = settings.model_copy(
            update={"smtp_url": SecretStr(f"smtp://127.0.0.1:{port}"), "smtp_poll_seconds": 0.25}
        )
        async with app_client(settings, plugins=[crm_service]) as client:
            ticket = await resolved_ticket(client)
            link = (await survey_of(client, ticket))["link"]
            assert link.startswith("https://shop.example/survey/")
            for _ in range(200):
                if inbox.received:
                    break
                await asyncio.sleep(0.05)
            status, _ = await answer(client, f"/p/service/surveys/{token_of(link)}", {"rating": 4})
            assert status == 200
    [message] = inbox.received
    assert message["To"] == "ada@example.com" and message["Subject"] == "How did we do?"
    text, _html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    assert link in text


async def test_nps_surveys_go_to_any_customer(service: GraphQLClient) -> None:
    ada = await new_customer(service)
    sent = await ok(
        service, "sendNpsSurvey", {"customerId": ada}, "survey { id kind link customer { id } }"
    )
    survey = sent["survey"]
    assert survey["kind"] == "NPS" and survey["customer"] == {"id": ada}
    assert (await answer(service, survey["link"], {"rating": 11}))[0] == 400
    assert (await answer(service, survey["link"], {"rating": 0}))[0] == 200
    refused = await service.acting_as("analyst").execute(
        "mutation ($c: ID!) { sendNpsSurvey(input: {customerId: $c}) { errors { code } } }",
        {"c": ada},
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


METRICS = """query ($team: ID) { serviceMetrics(from: "2026-11-02", to: "2026-11-15",
  groupBy: WEEK, team: $team) { start end created resolved backlog firstResponseMedian
  firstResponseP90 firstResponses resolutionMedian resolutionP90 slaAttainment slaTargets
  csat csatResponses nps npsResponses } }"""


async def periods(
    client: GraphQLClient, start: str, end: str, grouping: str
) -> list[tuple[Any, ...]]:
    """serviceMetrics' periods as (start, end, created, resolved, backlog, first-response
    median, p90 and count, resolution median and p90, SLA attainment and targets)."""
    found = await client.data(
        "query ($from: Date!, $to: Date!, $by: MetricsGrouping!) { serviceMetrics(from: $from, "
        "to: $to, groupBy: $by) { start end created resolved backlog firstResponseMedian "
        "firstResponseP90 firstResponses resolutionMedian resolutionP90 slaAttainment "
        "slaTargets } }",
        {"from": start, "to": end, "by": grouping},
    )
    return [tuple(period.values()) for period in found["serviceMetrics"]]


async def test_service_metrics_on_a_hand_checked_fixture(
    service: GraphQLClient, clock: Clock
) -> None:
    """Business hours Monday-Friday 09:00-17:00 UTC; NORMAL tickets: first reply in 2 hours,
    resolution in 8.

    Week of 2 November: T1 replied after 1 h, resolved after 3 h (both met); T2 replied after
    3 h (missed), resolved Tuesday 10:00 (9 h, missed), reopened 11:00, resolved again 12:00
    (10 h); T3 never answered; T4 replied after 0.5 h, PENDING Thursday 10:00 to Friday 10:00
    (the clock stands), resolved Friday 11:00 (2 h). CSAT 5, 2, 4; NPS 9, 10, 9, 10, 9
    (promoters), 7, 8, 7 (passives), 0, 6 (detractors). Week of 9 November: T5 replied after
    2 h (met), unresolved; no survey answers at all."""
    office = await ok(
        service, "createBusinessCalendar", calendar_input("UTC office", "UTC"), "calendar { id }"
    )
    targets = [{"priority": "NORMAL", "firstResponseMinutes": 120, "resolutionMinutes": 480}]
    await ok(
        service,
        "createSlaPolicy",
        {
            "name": "Standard",
            "calendarId": office["calendar"]["id"],
            "targets": targets,
            "isDefault": True,
        },
        "policy { id }",
    )
    customers = [await new_customer(service, f"C{i}") for i in range(10)]

    async def at(moment: str) -> None:
        clock.at(moment + "+00:00")

    async def opened(moment: str) -> str:
        await at(moment)
        payload = await ok(
            service,
            "createTicket",
            {"customerId": customers[0], "subject": "Help"},
            "ticket { id }",
        )
        return payload["ticket"]["id"]

    async def move(ticket: str, moment: str, status: str) -> None:
        await at(moment)
        assert (await set_status(service, ticket, status))["errors"] == []

    async def replied(ticket: str, moment: str) -> None:
        await at(moment)
        await reply(service, ticket, "On it")

    async def rate(ticket: str, moment: str, rating: int) -> None:
        link = (await survey_of(service, ticket))["link"]
        await at(moment)
        assert (await answer(service, link, {"rating": rating}))[0] == 200

    t1, t2 = await opened("2026-11-02T09:00:00"), await opened("2026-11-02T09:00:00")
    await replied(t1, "2026-11-02T10:00:00")
    await move(t1, "2026-11-02T12:00:00", "RESOLVED")
    await replied(t2, "2026-11-02T12:00:00")
    await move(t2, "2026-11-03T10:00:00", "RESOLVED")
    await move(t2, "2026-11-03T11:00:00", "OPEN")
    await move(t2, "2026-11-03T12:00:00", "RESOLVED")
    await opened("2026-11-04T09:00:00")
    t4 = await opened("2026-11-05T09:00:00")
    await replied(t4, "2026-11-05T09:30:00")
    await move(t4, "2026-11-05T10:00:00", "PENDING")
    await move(t4, "2026-11-06T10:00:00", "OPEN")
    await move(t4, "2026-11-06T11:00:00", "RESOLVED")
    for ticket, rating in ((t1, 5), (t2, 2), (t4, 4)):
        await rate(ticket, "2026-11-07T10:00:00", rating)
    await at("2026-11-06T12:00:00")
    for customer, rating in zip(customers, (9, 10, 9, 10, 9, 7, 8, 7, 0, 6), strict=True):
        sent = await ok(service, "sendNpsSurvey", {"customerId": customer}, "survey { link }")
        assert (await answer(service, sent["survey"]["link"], {"rating": rating}))[0] == 200
    t5 = await opened("2026-11-09T09:00:00")
    await replied(t5, "2026-11-09T11:00:00")

    weeks = (await service.data(METRICS))["serviceMetrics"]
    assert weeks == [
        {
            "start": "2026-11-02",
            "end": "2026-11-08",
            "created": 4,
            "resolved": 3,
            "backlog": 1,
            "firstResponseMedian": 1.0,
            "firstResponseP90": pytest.approx(2.6),
            "firstResponses": 3,
            "resolutionMedian": 3.0,
            "resolutionP90": pytest.approx(8.6),
            "slaAttainment": pytest.approx(100 * 4 / 6),
            "slaTargets": 6,
            "csat": pytest.approx(100 * 2 / 3),
            "csatResponses": 3,
            "nps": 30.0,
            "npsResponses": 10,
        },
        {
            "start": "2026-11-09",
            "end": "2026-11-15",
            "created": 1,
            "resolved": 0,
            "backlog": 2,
            "firstResponseMedian": 2.0,
            "firstResponseP90": 2.0,
            "firstResponses": 1,
            "resolutionMedian": None,
            "resolutionP90": None,
            "slaAttainment": None,
            "slaTargets": 0,
            "csat": None,
            "csatResponses": 0,
            "nps": None,
            "npsResponses": 0,
        },
    ]
    # From the second week on: the tickets resolved before it count nowhere, T3 still does.
    later = METRICS.replace('from: "2026-11-02"', 'from: "2026-11-09"')
    assert (await service.data(later))["serviceMetrics"] == weeks[1:]
    # By day: T2's two resolutions on Tuesday count once, timed at the second (10 h).
    days = await periods(service, "2026-11-02", "2026-11-04", "DAY")
    assert days == [
        ("2026-11-02", "2026-11-02", 2, 1, 1, 2.0, pytest.approx(2.8), 2, 3.0, 3.0, 100.0, 2),
        ("2026-11-03", "2026-11-03", 0, 1, 0, None, None, 0, 10.0, 10.0, 0.0, 2),
        ("2026-11-04", "2026-11-04", 1, 0, 1, None, None, 0, None, None, None, 0),
    ]
    # A week cut by from (Wednesday) and by to (Tuesday): its days only.
    cut = await periods(service, "2026-11-04", "2026-11-10", "WEEK")
    assert cut == [
        ("2026-11-04", "2026-11-08", 2, 1, 1, 0.5, 0.5, 1, 2.0, 2.0, 100.0, 2),
        ("2026-11-09", "2026-11-10", 1, 0, 2, 2.0, 2.0, 1, None, None, None, 0),
    ]
    # By month, from a month without tickets: first replies 0.5, 1, 2, 3 h; resolutions 2,
    # 3, 10 h.
    months = await periods(service, "2026-10-20", "2026-11-30", "MONTH")
    assert months == [
        ("2026-10-20", "2026-10-31", 0, 0, 0, None, None, 0, None, None, None, 0),
        (
            "2026-11-01",
            "2026-11-30",
            5,
            3,
            2,
            1.5,
            pytest.approx(2.7),
            4,
            3.0,
            pytest.approx(8.6),
            pytest.approx(100 * 4 / 6),
            6,
        ),
    ]
    # A team's numbers: its tickets and their CSAT answers only (NPS answers have no ticket).
    team = await service.data('mutation { createTeam(input: {name: "Desk"}) { team { id } } }')
    desk = await service.data(METRICS, {"team": team["createTeam"]["team"]["id"]})
    for week in desk["serviceMetrics"]:
        assert (week["created"], week["backlog"], week["csatResponses"]) == (0, 0, 0)
        assert (week["csat"], week["nps"], week["npsResponses"]) == (None, None, 0)
    bad = await service.execute(
        '{ serviceMetrics(from: "2026-11-15", to: "2026-11-02") { created } }'
    )
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"
    assert t5
