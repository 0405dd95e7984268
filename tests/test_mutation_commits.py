"""A response never hides a commit: whatever fails while a mutation's payload is built, after
its unit of work committed, the client is told the work committed.

A test plugin's mutation commits a change through ``perform`` and then fails in one of the two
places a payload is built: a field of the payload (the rest of the payload still arrives) or
the resolver's own last lines (the payload is lost). Either way each error under it says
``committed: true`` and the response lists the committed mutations; a failure before the
commit says nothing of the kind, and nothing is written.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from crm_graph.plugin import (
    CustomerRow,
    PluginMetadata,
    SchemaContribution,
    hookimpl,
    id_arg,
    perform,
    requires,
)
from crm_graph.settings import Settings
from crm_graph.testing import app_client


@strawberry.type
class TaggedPayload:
    tags: list[str]

    @strawberry.field
    def broken(self) -> str | None:
        raise RuntimeError("building this field failed")


@strawberry.type
class TagMutations:
    @strawberry.mutation(metadata=requires("customers:write"))
    async def tag_customer(self, info: Info, id: strawberry.ID, fail: str) -> TaggedPayload:
        pk = id_arg(id, "Customer")

        async def work(session) -> list[str]:  # type: ignore[no-untyped-def]
            customer = await session.get(CustomerRow, pk)
            customer.tags = [*customer.tags, "tagged"]
            if fail == "before":
                raise RuntimeError("the work failed before its commit")
            return list(customer.tags)

        tags, _errors = await perform(info, work)
        if fail == "after":
            raise RuntimeError("building the payload failed")
        return TaggedPayload(tags=tags or [])


class TagPlugin:
    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="tagger", version="1.0", requires_core=">=0.1")

    @hookimpl
    def crm_schema(self) -> SchemaContribution:
        return SchemaContribution(extend={"Mutation": [TagMutations]})


TAG = (
    "mutation ($id: ID!, $fail: String!) { tag: tagCustomer(id: $id, fail: $fail) { tags broken } }"
)
TAGS = "query ($id: ID!) { customer(id: $id) { tags } }"


async def test_errors_after_the_commit_say_the_work_committed(settings: Settings) -> None:
    async with app_client(settings, plugins=[TagPlugin()]) as client:
        made = await client.data(
            'mutation { createCustomer(input: {name: "T"}) { customer { id } } }'
        )
        customer = made["createCustomer"]["customer"]["id"]

        in_field = await client.execute(TAG, {"id": customer, "fail": "field"})
        assert in_field["data"] == {"tag": {"tags": ["tagged"], "broken": None}}
        [error] = in_field["errors"]
        assert error["path"] == ["tag", "broken"] and error["extensions"]["committed"] is True
        assert in_field["extensions"]["committed"] == ["tag"]

        in_resolver = await client.execute(TAG, {"id": customer, "fail": "after"})
        assert in_resolver["data"] is None
        [error] = in_resolver["errors"]
        assert error["path"] == ["tag"] and error["extensions"]["committed"] is True
        assert in_resolver["extensions"]["committed"] == ["tag"]
        assert (await client.data(TAGS, {"id": customer}))["customer"]["tags"] == [
            "tagged",
            "tagged",
        ]

        before = await client.execute(TAG, {"id": customer, "fail": "before"})
        assert before["data"] is None
        assert "committed" not in before["errors"][0].get("extensions", {})
        assert "committed" not in (before.get("extensions") or {})
        assert len((await client.data(TAGS, {"id": customer}))["customer"]["tags"]) == 2
