"""Customer profiles: postal addresses, birth date, preferred language and time zone, through
the API (both read paths), filters, masking, files, merge, GDPR and the audit log."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import customer, ok, query_error, rejected
from io_support import cli, write

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, temporary_database

PROFILE = (
    "id name birthDate preferredLanguage timeZone "
    "addresses { kind lines city region postalCode country }"
)
COMPILED = 'plan;desc="compiled"'
# Reads and writes customers and events, without pii:read.
CLERK = {"clerk": ["customers:read", "customers:write", "events:read"]}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, plugins=[], env="test", roles=CLERK)


ADA = {
    "birthDate": "1985-12-10",
    "preferredLanguage": "en_gb",
    "timeZone": "europe/london",
    "addresses": [
        {
            "kind": "BILLING",
            "lines": ["  12   St James's Square ", ""],
            "city": "London",
            "postalCode": "sw1y  4jh",
            "country": "United Kingdom",
        },
        {
            "kind": "SHIPPING",
            "lines": ["Hauptstraße 1"],
            "city": "München",
            "region": "Bavaria",
            "postalCode": "80331",
            "country": "de",
        },
    ],
}
ADA_ADDRESSES = [
    {
        "kind": "BILLING",
        "lines": ["12 St James's Square"],
        "city": "London",
        "region": None,
        "postalCode": "SW1Y 4JH",
        "country": "GB",
    },
    {
        "kind": "SHIPPING",
        "lines": ["Hauptstraße 1"],
        "city": "München",
        "region": "BY",
        "postalCode": "80331",
        "country": "DE",
    },
]


async def _read(client: GraphQLClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """A read that the compiled path must serve."""
    response = await client.http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=client.headers
    )
    body = response.json()
    assert not body.get("errors"), body
    assert response.headers.get("server-timing") == COMPILED, response.headers
    return body["data"]


async def _create(client: GraphQLClient, name: str, **fields: Any) -> dict[str, Any]:
    query = (
        "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) "
        f"{{ customer {{ {PROFILE} version }} errors {{ code field }} }} }}"
    )
    payload = (await client.data(query, {"input": {"name": name, **fields}}))["createCustomer"]
    assert payload["errors"] == [], payload["errors"]
    return payload["customer"]


async def test_profile_fields_are_normalised_and_read_back_compiled(
    client: GraphQLClient,
) -> None:
    birth = "1990-02-28"
    created = await _create(client, "Ada Lovelace", **{**ADA, "birthDate": birth})
    assert created["addresses"] == ADA_ADDRESSES
    assert created["birthDate"] == birth
    assert created["preferredLanguage"] == "en-GB"
    assert created["timeZone"] == "Europe/London"

    read = await _read(client, f"query($id: ID!) {{ customer(id: $id) {{ {PROFILE} }} }}", created)
    assert read["customer"] == {k: v for k, v in created.items() if k != "version"}
    listed = await _read(client, f"{{ customers(first: 5) {{ nodes {{ {PROFILE} }} }} }}", {})
    assert listed["customers"]["nodes"] == [read["customer"]]

    # An update replaces the addresses as a whole; null clears a field.
    change = {
        "id": created["id"],
        "addresses": [
            {
                "lines": ["1 Infinite Loop"],
                "city": "Cupertino",
                "country": "US",
                "region": "california",
            }
        ],
        "timeZone": None,
        "preferredLanguage": "iw",
    }
    updated = (await ok(client, "updateCustomer", change))["customer"]
    assert updated["version"] == 2
    again = await _read(client, f"query($id: ID!) {{ customer(id: $id) {{ {PROFILE} }} }}", created)
    assert again["customer"]["addresses"] == [
        {
            "kind": "OTHER",
            "lines": ["1 Infinite Loop"],
            "city": "Cupertino",
            "region": "CA",
            "postalCode": None,
            "country": "US",
        }
    ]
    assert again["customer"]["timeZone"] is None
    assert again["customer"]["preferredLanguage"] == "he", "the registry's preferred tag"
    assert again["customer"]["birthDate"] == birth
    cleared = await ok(client, "updateCustomer", {"id": created["id"], "addresses": None})
    assert cleared["customer"]["version"] == 3
    final = await _read(client, f"query($id: ID!) {{ customer(id: $id) {{ {PROFILE} }} }}", created)
    assert final["customer"]["addresses"] == []


async def test_bad_profile_values_are_typed_errors_and_write_nothing(
    client: GraphQLClient,
) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    bad = {
        "name": "Ada",
        "birthDate": tomorrow,
        "preferredLanguage": "klingon-xx-!",
        "timeZone": "Mars/Olympus_Mons",
        "addresses": [
            {"city": "Paris", "country": "FR"},
            {"lines": ["x" * 201], "country": "Atlantis"},
            {"country": "DE"},
            {"city": "Nowhere", "country": ""},
        ],
    }
    assert sorted(await rejected(client, "createCustomer", bad)) == sorted(
        [
            ("INVALID_DATE", "input.birthDate"),
            ("INVALID_LANGUAGE", "input.preferredLanguage"),
            ("INVALID_TIME_ZONE", "input.timeZone"),
            ("TOO_LONG", "input.addresses.1.lines.0"),
            ("INVALID_COUNTRY", "input.addresses.1.country"),
            ("REQUIRED", "input.addresses.1"),
            ("REQUIRED", "input.addresses.2"),
            ("REQUIRED", "input.addresses.3.country"),
        ]
    )
    assert await rejected(client, "createCustomer", {"name": "Old", "birthDate": "1899-12-31"}) == [
        ("INVALID_DATE", "input.birthDate")
    ]
    too_many = [{"city": f"City {i}", "country": "FR"} for i in range(11)]
    assert await rejected(client, "createCustomer", {"name": "Many", "addresses": too_many}) == [
        ("TOO_MANY", "input.addresses")
    ]
    created = await customer(client, "Grace")
    stale = {"id": created["id"], "birthDate": tomorrow}
    assert await rejected(client, "updateCustomer", stale) == [("INVALID_DATE", "input.birthDate")]
    malformed = await query_error(
        client,
        'mutation { createCustomer(input: {name: "X", birthDate: "1990-02-30"}) { errors { code } } }',
    )
    assert malformed == ("INVALID_DATE", "input.birthDate")


async def test_filters_by_country_language_time_zone_and_birth_date(
    client: GraphQLClient,
) -> None:
    ada = await _create(client, "Ada", **ADA)
    await _create(
        client,
        "Bert",
        preferredLanguage="de-AT",
        timeZone="Europe/Vienna",
        birthDate="1980-06-01",
        addresses=[{"city": "Wien", "country": "Austria"}],
    )
    await _create(client, "Cleo", preferredLanguage="de", birthDate="2001-01-01")

    async def names(filter: dict[str, Any], caller: GraphQLClient = client) -> list[str]:
        query = "query($f: CustomerFilter) { customers(first: 10, filter: $f) { nodes { name } } }"
        data = await _read(caller, query, {"f": filter})
        return sorted(n["name"] for n in data["customers"]["nodes"])

    assert await names({"countries": ["germany"]}) == ["Ada"]
    assert await names({"countries": ["AT", "GB"]}) == ["Ada", "Bert"]
    assert await names({"countries": []}) == []
    assert await names({"preferredLanguages": ["de"]}) == ["Bert", "Cleo"]
    assert await names({"preferredLanguages": ["de_at"]}) == ["Bert"]
    assert await names({"timeZones": ["europe/vienna", "Europe/London"]}) == ["Ada", "Bert"]
    assert await names({"bornAfter": "1900-01-01", "bornBefore": "1990-01-01"}) == ["Ada", "Bert"]
    assert await query_error(
        client, '{ customers(filter: {countries: ["Narnia"]}) { nodes { id } } }'
    ) == ("INVALID_COUNTRY", "filter.countries")
    clerk = client.acting_as("clerk")
    assert await names({"countries": ["GB"]}, clerk) == ["Ada"]
    assert await query_error(
        clerk, '{ customers(filter: {bornAfter: "1900-01-01"}) { nodes { id } } }'
    ) == ("FORBIDDEN", "filter.bornAfter")
    assert ada["addresses"][0]["country"] == "GB"


async def test_addresses_and_birth_dates_are_masked_without_pii_read(
    client: GraphQLClient,
) -> None:
    created = await _create(client, "Ada", **ADA)
    clerk = client.acting_as("clerk")
    query = f"query($id: ID!) {{ customer(id: $id) {{ {PROFILE} }} }}"
    masked = (await _read(clerk, query, created))["customer"]
    assert masked["birthDate"] is None
    assert masked["addresses"] == [
        {
            "kind": "BILLING",
            "lines": [],
            "city": "***",
            "region": None,
            "postalCode": "***",
            "country": "GB",
        },
        {
            "kind": "SHIPPING",
            "lines": [],
            "city": "***",
            "region": "***",
            "postalCode": "***",
            "country": "DE",
        },
    ]
    assert (masked["preferredLanguage"], masked["timeZone"]) == ("en-GB", "Europe/London")
    # The same through strawberry (a mutation's payload is never compiled).
    change = {"id": created["id"], "tags": ["seen"]}
    payload = await clerk.data(
        "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) "
        f"{{ customer {{ {PROFILE} }} }} }}",
        {"input": change},
    )
    assert payload["updateCustomer"]["customer"] == masked
    for _ in range(250):  # events appear once sequenced (after commit on PostgreSQL)
        events = await clerk.data(
            '{ events(first: 10, types: ["customer.created"]) { nodes { payload } } }'
        )
        if events["events"]["nodes"]:
            break
        await asyncio.sleep(0.02)
    entity = events["events"]["nodes"][0]["payload"]["entity"]
    assert entity["birthDate"] == "***"
    assert entity["addresses"][0] == {
        "kind": "billing",
        "lines": [],
        "city": "***",
        "postal_code": "***",
        "country": "GB",
    }


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_profile_fields_import_and_export_exactly(
    client: GraphQLClient, settings: Settings, tmp_path: Path, fmt: str
) -> None:
    url = settings.database_url
    addresses = json.dumps(
        [
            {
                "kind": "billing",
                "lines": ["1 Main St", "Apt 2"],
                "city": "Austin",
                "region": "texas",
                "postal_code": "78701",
                "country": "us",
            }
        ]
    )
    quoted = addresses.replace('"', '""')
    source = write(
        tmp_path / "in.csv",
        "external_id,name,birth_date,preferred_language,time_zone,addresses\n"
        f'C1,Ada,19901231,EN-us,america/chicago,"{quoted}"\n'
        "C2,Bob,,,,\n"
        'C3,Bad,2999-01-01,xx-!!,Nowhere/City,"[{""city"": ""X""}]"\n',
    )
    result = await cli(url, "import", "customers", str(source))
    assert result.exit_code != 0 or "1 rejected" in result.output, result.output
    first = tmp_path / f"first.{fmt}"
    assert (await cli(url, "export", "customers", "--format", fmt, "-o", str(first))).exit_code == 0
    text = first.read_text(encoding="utf-8")
    if fmt == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
        assert [r["external_id"] for r in rows] == ["C1", "C2"]
        assert rows[0]["birth_date"] == "1990-12-31"
        assert rows[0]["preferred_language"] == "en-US"
        assert rows[0]["time_zone"] == "America/Chicago"
        assert rows[0]["addresses"] == [
            {
                "kind": "billing",
                "lines": ["1 Main St", "Apt 2"],
                "city": "Austin",
                "region": "TX",
                "postal_code": "78701",
                "country": "US",
            }
        ]
        assert (rows[1]["birth_date"], rows[1]["addresses"]) == (None, [])

    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    async with temporary_database(kind, tmp_path) as fresh:
        assert (await cli(fresh, "migrate")).exit_code == 0
        again = await cli(fresh, "import", "customers", str(first))
        assert again.exit_code == 0, again.output
        second = tmp_path / f"second.{fmt}"
        exported = await cli(fresh, "export", "customers", "--format", fmt, "-o", str(second))
        assert exported.exit_code == 0
    assert second.read_text(encoding="utf-8") == text


async def test_bulk_import_mutation_takes_profile_fields(client: GraphQLClient) -> None:
    query = (
        "mutation($input: [ImportCustomerInput!]!) { importCustomers(input: $input) "
        "{ results { status errors { code field } } } }"
    )
    items = [
        {
            "externalId": "I1",
            "name": "Ida",
            "birthDate": "2000-01-01",
            "addresses": [{"city": "Oslo", "country": "NO"}],
        },
        {"externalId": "I2", "name": "Ivo", "timeZone": "Nowhere"},
    ]
    results = (await client.data(query, {"input": items}))["importCustomers"]["results"]
    assert results[0] == {"status": "INSERTED", "errors": []}
    assert results[1]["errors"] == [
        {"code": "INVALID_TIME_ZONE", "field": ["input", "1", "timeZone"]}
    ]
    found = await client.data(f'{{ customer(externalId: "I1") {{ {PROFILE} }} }}')
    assert found["customer"]["addresses"][0]["country"] == "NO"
    assert found["customer"]["birthDate"] == "2000-01-01"


async def test_merge_unites_addresses_and_fills_missing_profile_fields(
    client: GraphQLClient,
) -> None:
    survivor = await _create(client, "Ada", addresses=[ADA["addresses"][0]])
    merged = await _create(client, "Ada L.", **ADA)
    payload = await client.data(
        "mutation($input: MergeCustomersInput!) { mergeCustomers(input: $input) "
        f"{{ errors {{ code }} survivor {{ {PROFILE} }} }} }}",
        {"input": {"survivorId": survivor["id"], "mergedIds": [merged["id"]]}},
    )
    result = payload["mergeCustomers"]
    assert result["errors"] == []
    assert result["survivor"]["addresses"] == ADA_ADDRESSES
    assert result["survivor"]["birthDate"] == ADA["birthDate"]
    assert result["survivor"]["timeZone"] == "Europe/London"


async def test_gdpr_export_and_erase_cover_the_profile_and_the_audit_log_hashes_it(
    client: GraphQLClient,
) -> None:
    created = await _create(client, "Ada", **ADA)
    export = "query($id: ID!) { exportCustomerData(id: $id) }"
    document = (await client.data(export, created))["exportCustomerData"]
    assert document["customer"]["birthDate"] == ADA["birthDate"]
    assert document["customer"]["addresses"][1]["city"] == "München"

    audit = await client.data(
        "query($id: ID!) { auditLog(filter: {targetId: $id}, first: 5) { nodes { changes } } }",
        {"id": created["id"]},
    )
    logged = json.dumps(audit["auditLog"]["nodes"])
    assert "München" not in logged and "1985-12-10" not in logged and "SW1Y" not in logged
    fields = audit["auditLog"]["nodes"][-1]["changes"][0]["fields"]
    assert fields["birth_date"]["after"].startswith("hmac-sha256:")
    assert fields["addresses"]["after"].startswith("hmac-sha256:")

    erase = "mutation($id: ID!) { eraseCustomer(input: {id: $id}) { errors { code } } }"
    assert (await client.data(erase, created))["eraseCustomer"]["errors"] == []
    after = (await client.data(export, created))["exportCustomerData"]["customer"]
    assert (after["addresses"], after["birthDate"]) == ([], None)
