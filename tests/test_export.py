"""``crm-graph export``: what is exported imports back, into a fresh database, as the same data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from io_support import cli, write

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, temporary_database

KINDS = ("customers", "products", "orders", "interactions")  # in the order they import


async def _seed(client: GraphQLClient, url: str, tmp_path: Path) -> None:
    files = {
        "customers": """
            external_id,name,email,phone,company,lifecycle_stage,tags,country,plan
            C1,Ada Lovelace,ada@example.com,+44 20 7946 0958,"Engines, Ltd",customer,vip;early,UK,gold
            C2,Bob,,,,lead,,,
            """,
        "products": """
            sku,name,category,price,currency
            P1,Widget,tools,9.99,USD
            P2,Yen thing,,1500,JPY
            """,
        "orders": """
            order_number,customer_external_id,placed_at,total,currency,sku,quantity,unit_price,status
            O1,C1,20240105,29.97,USD,P1,3,,paid
            O2,C2,2024-02-01T10:00:00+01:00,3000,JPY,P2,2,,
            O3,C2,2024-02-02,0,USD,,,,cancelled
            """,
        "interactions": """
            customer_external_id,channel,occurred_at,direction,subject,body
            C1,email,2024-05-01T12:00:00Z,outbound,Hello,"Two
            lines"
            C2,phone,20240502,,,
            """,
    }
    for kind in KINDS:
        result = await cli(url, "import", kind, str(write(tmp_path / f"{kind}.csv", files[kind])))
        assert result.exit_code == 0, result.output
    # Typed attributes and a customer without external id, made through the API.
    await client.data(
        """mutation { createCustomer(input: {name: "Zoe", attributes: {score: 5, vip: true}})
           { errors { code } } }"""
    )


async def _export_all(url: str, directory: Path, fmt: str) -> dict[str, str]:
    directory.mkdir()
    out = {}
    for kind in KINDS:
        path = directory / f"{kind}.{fmt}"
        result = await cli(url, "export", kind, "--format", fmt, "--output", str(path))
        assert result.exit_code == 0, result.output
        out[kind] = path.read_text(encoding="utf-8")
    return out


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_an_export_imports_back_into_a_fresh_database_as_the_same_data(
    client: GraphQLClient, settings: Settings, tmp_path: Path, fmt: str
) -> None:
    url = settings.database_url
    await _seed(client, url, tmp_path)
    first = await _export_all(url, tmp_path / "first", fmt)

    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    async with temporary_database(kind, tmp_path) as fresh:
        assert (await cli(fresh, "migrate")).exit_code == 0
        for name in KINDS:
            result = await cli(fresh, "import", name, str(tmp_path / "first" / f"{name}.{fmt}"))
            assert result.exit_code == 0, result.output
        second = await _export_all(fresh, tmp_path / "second", fmt)

    assert second == first
    assert first["customers"].count("\n") == 3 + (fmt == "csv")
    if fmt == "jsonl":
        customers = [json.loads(line) for line in first["customers"].splitlines()]
        assert customers[0]["attributes"] == {"country": "GB", "plan": "gold"}
        assert customers[2]["attributes"] == {"score": 5, "vip": True}
        assert customers[2]["external_id"]  # its global ID stands in for the missing one
        orders = [json.loads(line) for line in first["orders"].splitlines()]
        assert orders[1]["lines"] == [{"sku": "P2", "quantity": 2, "unit_price": "1500"}]
        assert orders[2]["lines"] == []


async def test_export_streams_to_stdout_and_filters_by_change_time(
    client: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    url = settings.database_url
    path = write(tmp_path / "c.csv", "external_id,name,tags\nC1,Ann,a;b\nC2,Ben,\n")
    await cli(url, "import", "customers", str(path))

    everything = await cli(url, "export", "customers")
    assert everything.stdout.splitlines() == [
        "external_id,name,email,phone,company,lifecycle_stage,tags,birth_date,"
        "preferred_language,time_zone,addresses",
        "C1,Ann,,,,lead,a;b,,,,",
        "C2,Ben,,,,lead,,,,,",
    ]
    assert "exported 2 customers" in everything.stderr
    later = await cli(url, "export", "customers", "--since", "2999-01-01", "--format", "jsonl")
    assert (later.exit_code, later.stdout) == (0, "")
    bad = await cli(url, "export", "customers", "--since", "soon")
    assert bad.exit_code == 2


# What a customer may type that a spreadsheet runs (OWASP's CSV injection list), what looks
# like it but cannot run (numbers, E.164 phones), and values that already start with the quote.
FORMULAS = {
    "name": '=HYPERLINK("http://127.0.0.1/x","click")',
    "company": "+cmd|' /C calc'!A0",
    "phone": "+14155550123",
    "tags": ["@SUM(1+1)", "-2+3"],
    "attributes": {
        "=key": "-10",
        "tab": "\t=1+1",
        "cr": "\r=1+1",
        "quoted": "'=already quoted",
        "quotes": "''",
        "tis": "'Tis",
        "number": "-1.5e3",
    },
}


async def test_csv_exports_escape_formulas_and_import_back_exactly(
    client: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    url = settings.database_url
    await client.data(
        "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) "
        "{ errors { code } } }",
        {"input": {**FORMULAS, "externalId": "F1"}},
    )
    exported = tmp_path / "customers.csv"
    assert (await cli(url, "export", "customers", "-o", str(exported))).exit_code == 0
    with exported.open(newline="", encoding="utf-8") as f:
        header, row = list(csv.reader(f))
    cells = dict(zip(header, row, strict=True))
    assert "'=key" in header
    assert cells["name"] == "'" + FORMULAS["name"]
    assert cells["company"] == "'" + FORMULAS["company"]
    assert cells["tags"] == "'@SUM(1+1);-2+3"
    assert (cells["tab"], cells["cr"]) == ("'\t=1+1", "'\r=1+1")
    assert (cells["quoted"], cells["quotes"]) == ("''=already quoted", "'''")
    assert (cells["phone"], cells["'=key"], cells["number"], cells["tis"]) == (
        "+14155550123",
        "-10",
        "-1.5e3",
        "'Tis",
    )
    raw = await cli(url, "export", "customers", "--no-escape-formulas")
    header, row = list(csv.reader(raw.stdout.splitlines(keepends=True)))
    unescaped = dict(zip(header, row, strict=True))
    assert (unescaped["name"], unescaped["tab"]) == (FORMULAS["name"], "\t=1+1")

    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    async with temporary_database(kind, tmp_path) as fresh:
        assert (await cli(fresh, "migrate")).exit_code == 0
        assert (await cli(fresh, "import", "customers", str(exported))).exit_code == 0
        again = tmp_path / "again.csv"
        assert (await cli(fresh, "export", "customers", "-o", str(again))).exit_code == 0
        jsonl = await cli(fresh, "export", "customers", "--format", "jsonl")
    assert again.read_text(encoding="utf-8") == exported.read_text(encoding="utf-8")
    imported = json.loads(jsonl.stdout)
    assert {k: imported[k] for k in ("name", "company", "phone", "tags")} == {
        k: FORMULAS[k] for k in ("name", "company", "phone", "tags")
    }
    assert imported["attributes"] == FORMULAS["attributes"]
