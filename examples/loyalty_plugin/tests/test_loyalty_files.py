"""Loyalty entries through ``crm-graph import`` and ``export``, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, run_cli

AWARDS = """\
customer_external_id,points,reason,awarded_at
C1,120,  first   order ,2024-01-02T10:00:00+00:00
C2,-5,oops,2024-01-03T10:00:00+00:00
C2,15,review,2024-01-04T08:00:00+01:00
NOPE,10,welcome,2024-01-05T00:00:00+00:00
C1,40,referral,2024-02-01T09:30:00.250000+00:00
"""
EXPORTED = """\
customer_external_id,points,reason,awarded_at
C1,120,first order,2024-01-02T10:00:00+00:00
C2,15,review,2024-01-04T07:00:00+00:00
C1,40,referral,2024-02-01T09:30:00.250000+00:00
"""
POINTS = "query ($x: String!) { customer(externalId: $x) { loyaltyPoints } }"


async def _customers(client: GraphQLClient, *external_ids: str) -> None:
    for external_id in external_ids:
        await client.data(
            "mutation ($x: String!) { createCustomer(input: {name: $x, externalId: $x}) "
            "{ errors { code } } }",
            {"x": external_id},
        )


async def _points(client: GraphQLClient, external_id: str) -> int:
    return (await client.data(POINTS, {"x": external_id}))["customer"]["loyaltyPoints"]


def _rejects(path: Path) -> dict[int, str]:
    with path.with_name(path.name + ".rejects.csv").open(newline="", encoding="utf-8") as f:
        return {int(row[0]): row[1] for row in list(csv.reader(f))[1:]}


async def test_awards_import_with_rejects_and_export_back_the_same(
    loyalty: GraphQLClient, loyalty_settings: Settings, tmp_path: Path
) -> None:
    url = loyalty_settings.database_url
    await _customers(loyalty, "C1", "C2")
    awards = tmp_path / "awards.csv"
    awards.write_text(AWARDS, encoding="utf-8")

    imported = await run_cli(url, "import", "loyalty_entries", str(awards), plugins="loyalty")

    assert imported.exit_code == 1, imported.output
    assert "5 rows read; loyalty_entries: 3 inserted, 0 updated, 0 unchanged; 2 rows rejected" in (
        imported.stderr
    )
    assert _rejects(awards) == {
        3: "points: points must be a positive whole number",
        5: "customer_external_id: no customer 'NOPE'",
    }
    assert (await _points(loyalty, "C1"), await _points(loyalty, "C2")) == (160, 15)

    exported = tmp_path / "exported.csv"
    result = await run_cli(url, "export", "loyalty_entries", "-o", str(exported), plugins="loyalty")
    assert result.exit_code == 0, result.output
    assert exported.read_text(encoding="utf-8").replace("\r\n", "\n") == EXPORTED

    again = await run_cli(url, "import", "loyalty_entries", str(exported), plugins="loyalty")
    assert again.exit_code == 0, again.output
    assert "loyalty_entries: 0 inserted, 0 updated, 3 unchanged; 0 rows rejected" in again.stderr
    assert (await _points(loyalty, "C1"), await _points(loyalty, "C2")) == (160, 15)


async def test_the_command_line_knows_the_kind_only_with_the_plugin_enabled(
    loyalty: GraphQLClient, loyalty_settings: Settings
) -> None:
    url = loyalty_settings.database_url
    with_plugin = await run_cli(url, "import", "--help", plugins="loyalty")
    assert "loyalty_entries" in with_plugin.output
    without = await run_cli(url, "export", "loyalty_entries")
    assert without.exit_code == 2
    assert "'loyalty_entries' is not one of" in without.output
    assert "interactions" in without.output
