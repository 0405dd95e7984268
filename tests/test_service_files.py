"""Tickets through ``crm-graph import``/``export`` and ``crm-graph demo``, on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import crm_service
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, run_cli
from tests.service_support import new_customer

ROWS = """\
customer_external_id,subject,description,channel,priority,status,tags,created_at
C1,Parcel lost,It never came,email,HIGH,RESOLVED,parcel;late,2026-10-01T09:00:00+00:00
C2,  Charged twice ,,PHONE,urgent,OPEN,,2026-10-02T10:00:00+02:00
C2,,no subject,WEB,LOW,NEW,,2026-10-03T09:00:00+00:00
NOPE,Hello,,WEB,LOW,NEW,,2026-10-04T09:00:00+00:00
C1,Which status?,,WEB,LOW,ARCHIVED,,2026-10-05T09:00:00+00:00
C1,Which zone?,,WEB,LOW,NEW,,2026-10-06T09:00:00
"""
EXPORTED = """\
customer_external_id,subject,description,channel,priority,status,tags,created_at
C1,Parcel lost,It never came,EMAIL,HIGH,RESOLVED,parcel; late,2026-10-01T09:00:00+00:00
C2,Charged twice,,PHONE,URGENT,OPEN,,2026-10-02T08:00:00+00:00
"""


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings, plugins=[crm_service]) as client:
        yield client


def _rejects(path: Path) -> dict[int, str]:
    with path.with_name(path.name + ".rejects.csv").open(newline="", encoding="utf-8") as f:
        return {int(row[0]): row[1] for row in list(csv.reader(f))[1:]}


async def test_tickets_import_with_rejects_and_export_back_the_same(
    service: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    url = settings.database_url
    for external_id in ("C1", "C2"):
        await new_customer(service, external_id, externalId=external_id)
    rows = tmp_path / "tickets.csv"
    rows.write_text(ROWS, encoding="utf-8")

    imported = await run_cli(url, "import", "tickets", str(rows), plugins="service")
    assert imported.exit_code == 1, imported.output
    assert "6 rows read; tickets: 2 inserted, 0 updated, 0 unchanged; 4 rows rejected" in (
        imported.stderr
    )
    assert _rejects(rows) == {
        4: "subject: must not be empty",
        5: "customer_external_id: no customer 'NOPE'",
        6: "status: one of NEW, OPEN, PENDING, RESOLVED, CLOSED",
        7: "created_at: give an ISO 8601 time with its zone",
    }
    data = await service.data(
        "{ tickets(orderBy: {field: CREATED_AT, direction: ASC}) { nodes { subject status "
        "priority channel tags createdAt statusChanges { from to } customer { externalId } } } }"
    )
    first, second = data["tickets"]["nodes"]
    assert first["status"] == "RESOLVED" and first["tags"] == ["parcel", "late"]
    assert first["statusChanges"] == [
        {"from": None, "to": "NEW"},
        {"from": "NEW", "to": "RESOLVED"},
    ]
    assert second["subject"] == "Charged twice" and second["priority"] == "URGENT"
    assert second["customer"] == {"externalId": "C2"}

    exported = tmp_path / "exported.csv"
    result = await run_cli(url, "export", "tickets", "-o", str(exported), plugins="service")
    assert result.exit_code == 0, result.output
    assert exported.read_text(encoding="utf-8").replace("\r\n", "\n") == EXPORTED
    again = await run_cli(url, "import", "tickets", str(exported), plugins="service")
    assert again.exit_code == 0, again.output
    assert "tickets: 0 inserted, 0 updated, 2 unchanged; 0 rows rejected" in again.stderr


async def test_the_demo_seeds_tickets_in_every_status_with_answered_surveys(
    settings: Settings,
) -> None:
    url = settings.database_url
    async with app_client(settings, plugins=[crm_service]):
        pass  # migrated
    for _ in range(2):  # a second run adds nothing
        seeded = await run_cli(url, "demo", "--customers", "40", plugins="service")
        assert seeded.exit_code == 0, seeded.output
    async with app_client(settings, plugins=[crm_service], migrate=False) as client:
        counts = {}
        for status in ("NEW", "OPEN", "PENDING", "RESOLVED", "CLOSED"):
            data = await client.data(
                "query ($s: [TicketStatus!]) { tickets(filter: {statuses: $s}) { totalCount } }",
                {"s": [status]},
            )
            counts[status] = data["tickets"]["totalCount"]
        assert all(counts.values()) and sum(counts.values()) == 40, counts
        answered = await client.data(
            "{ tickets(first: 50, filter: {statuses: [RESOLVED, CLOSED]}) { nodes { "
            "survey { rating } sla { policy { name } } } } }"
        )
        nodes = answered["tickets"]["nodes"]
        assert nodes and all(n["survey"]["rating"] in range(1, 6) for n in nodes)
        assert {n["sla"]["policy"]["name"] for n in nodes} == {"Standard"}
        metrics = await client.data(
            '{ serviceMetrics(from: "2025-06-01", to: "2027-12-31", groupBy: MONTH) { '
            "csatResponses npsResponses } }"
        )
        periods = metrics["serviceMetrics"]
        assert sum(p["csatResponses"] for p in periods) == len(nodes)
        assert sum(p["npsResponses"] for p in periods) == 20
