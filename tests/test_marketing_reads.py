"""The marketing plugin's lists (``audienceSegments``, ``emailCampaigns``: rows fields) answer
alike on the compiled read path and through strawberry, for every role, on SQLite and
PostgreSQL, and are served compiled."""

from __future__ import annotations

import crm_marketing
from crm_graph.settings import Settings
from crm_graph.testing import app_client
from tests.marketing_support import condition, create_segment, customer
from tests.test_compiled_reads import COMPILED, ROLES, same_answer

QUERY = """query ($first: Int!) {
  audienceSegments { __typename id name description kind filter createdAt updatedAt refreshedAt
    size preview(first: $first) { id name email } }
  emailCampaigns { __typename id name subject sender replyTo textTemplate htmlTemplate status
    sendRate cost { amount currency } scheduledAt startedAt finishedAt createdAt
    variantSubject variantSplit segment { name kind size }
    stats { recipients sent delivered revenue { amount currency } cost { amount } roi }
    abTest { winner pValue } sends(first: 5) { status customer { name } } } }"""

CAMPAIGN = """mutation ($input: CreateEmailCampaignInput!) { createEmailCampaign(input: $input) {
  campaign { id } errors { code message } } }"""


async def test_segment_and_campaign_lists_answer_alike_compiled_and_not(
    settings: Settings,
) -> None:
    async with app_client(settings, plugins=[crm_marketing]) as compiled:
        people = [
            await customer(compiled, name, email=f"{name.lower()}@example.com", tags=tags)
            for name, tags in (("Ada", ["vip"]), ("Bob", []), ("Cyd", ["vip"]))
        ]
        vip = await create_segment(
            compiled, name="VIPs", kind="DYNAMIC", filter=condition("tags", "contains", "vip")
        )
        listed = await create_segment(compiled, name="A list", kind="STATIC")
        await compiled.data(
            "mutation ($input: AudienceSegmentMembersInput!) { addAudienceSegmentMembers("
            "input: $input) { errors { code } } }",
            {"input": {"segmentId": listed["segment"]["id"], "customers": people[:2]}},
        )
        for name, segment, extra in (
            ("Spring", vip["segment"]["id"], {"cost": "120.5", "currency": "EUR"}),
            ("Summer", listed["segment"]["id"], {"variantSubject": "B", "variantSplit": 0.5}),
        ):
            made = await compiled.data(
                CAMPAIGN,
                {
                    "input": {
                        "name": name,
                        "segmentId": segment,
                        "subject": "Hello {{ customer.name }}",
                        "sender": "Shop <news@shop.example>",
                        "textTemplate": "Hi {{ customer.name }}: {{ unsubscribe_url }}",
                        **extra,
                    }
                },
            )
            assert made["createEmailCampaign"]["errors"] == [], made

        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[crm_marketing], migrate=False) as fallback:
            body, served = await same_answer(compiled, fallback, QUERY, {"first": 2})
            assert served == COMPILED
            data = body["data"]
            assert [s["name"] for s in data["audienceSegments"]] == ["A list", "VIPs"]
            assert [c["name"] for c in data["emailCampaigns"]] == ["Summer", "Spring"]
            assert [c["name"] for c in data["audienceSegments"][1]["preview"]] == ["Ada", "Cyd"]
            for role in ROLES:
                _, served = await same_answer(
                    compiled.acting_as(role), fallback.acting_as(role), QUERY, {"first": 3}, role
                )
                if role in ("admin", "marketing", "analyst", "readonly"):
                    assert served == COMPILED, role
