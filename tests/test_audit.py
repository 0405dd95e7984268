"""The audit log: every committed mutation has exactly one audit row, written in its own
transaction; refused or failed mutations leave none. Personal data in it is hashed.

The script below performs every mutation of the composed schema (core, events, imports,
analytics, loyalty, marketing, sales, service) successfully; the test fails when a mutation exists that it does not run,
so a new mutation cannot escape the audit comparison.
"""

from __future__ import annotations

from typing import Any

import pytest

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.sales_support import perform_lead_mutations, perform_sales_mutations
from tests.smtp_support import eventually


class Script:
    """Runs mutations that must succeed, remembering each one's request id."""

    def __init__(self, client: GraphQLClient) -> None:
        self.client = client
        self.made: list[tuple[str, str]] = []  # (operation, request id)

    async def run(
        self, name: str, selection: str, arguments: str = "input: $input", **variables: Any
    ) -> dict:
        declared = ", ".join(f"${k}: {t}" for k, (t, _v) in variables.items())
        document = f"mutation ({declared}) {{ {name}({arguments}) {{ {selection} errors {{ code message field }} }} }}"
        values = {k: v for k, (_t, v) in variables.items()}
        response = await self.client.http.post(
            "/graphql", json={"query": document, "variables": values}
        )
        body = response.json()
        assert not body.get("errors"), (name, body)
        payload = body["data"][name]
        assert payload["errors"] == [], (name, payload["errors"])
        self.made.append((name, response.headers["x-request-id"]))
        return payload

    async def input(self, name: str, input_type: str, value: dict, selection: str = "") -> dict:
        return await self.run(name, selection, input=(f"{input_type}!", value))


async def perform_every_mutation(client: GraphQLClient) -> Script:
    s = Script(client)
    product = (
        await s.input(
            "createProduct",
            "CreateProductInput",
            {"sku": "A-1", "name": "A", "price": "10"},
            "product { id }",
        )
    )["product"]["id"]
    await s.input("updateProduct", "UpdateProductInput", {"id": product, "name": "A2"})
    ada = (
        await s.input(
            "createCustomer",
            "CreateCustomerInput",
            {"name": "Ada", "email": "ada@example.com", "externalId": "ada"},
            "customer { id }",
        )
    )["customer"]["id"]
    await s.input("updateCustomer", "UpdateCustomerInput", {"id": ada, "phone": "+14155550123"})
    bob = (
        await s.input(
            "upsertCustomer",
            "UpsertCustomerInput",
            {"externalId": "bob", "name": "Bob"},
            "customer { id }",
        )
    )["customer"]["id"]
    await s.input(
        "logInteraction",
        "LogInteractionInput",
        {"customerId": ada, "channel": "EMAIL", "subject": "Hi", "body": "Call me"},
    )
    order = (
        await s.input(
            "placeOrder",
            "PlaceOrderInput",
            {"customerId": ada, "lines": [{"productId": product, "quantity": 2}]},
            "order { id }",
        )
    )["order"]["id"]
    await s.input("changeOrderStatus", "ChangeOrderStatusInput", {"id": order, "status": "PAID"})
    await s.input(
        "recordConsent",
        "RecordConsentInput",
        {"customerId": ada, "channel": "EMAIL", "granted": True},
    )
    await s.input(
        "assignCustomerOwner", "AssignCustomerOwnerInput", {"id": ada, "ownerId": "alice"}
    )
    await s.input("deleteCustomer", "DeleteCustomerInput", {"id": bob})
    await s.input("restoreCustomer", "RestoreCustomerInput", {"id": bob})
    key = (
        await s.input(
            "createApiKey", "CreateApiKeyInput", {"name": "k", "role": "readonly"}, "apiKey { id }"
        )
    )["apiKey"]["id"]
    await s.input("revokeApiKey", "RevokeApiKeyInput", {"id": key})
    me = await client.data('{ users(filter: {search: "test-admin"}) { nodes { id } } }')
    me_id = me["users"]["nodes"][0]["id"]
    await s.input("updateUser", "UpdateUserInput", {"id": me_id, "name": "Admin"})
    team = await s.input("createTeam", "CreateTeamInput", {"name": "emea"}, "team { id }")
    membership = {"teamId": team["team"]["id"], "userId": me_id}
    await s.input("addTeamMember", "TeamMemberInput", membership)
    await s.input("removeTeamMember", "TeamMemberInput", membership)
    await s.input("deleteTeam", "DeleteTeamInput", {"id": team["team"]["id"]})
    await s.run(
        "importCustomers",
        "inserted",
        "input: $items",
        items=("[ImportCustomerInput!]!", [{"externalId": "cy", "name": "Cy"}]),
    )
    await s.run(
        "importOrders",
        "inserted",
        "input: $items",
        items=(
            "[ImportOrderInput!]!",
            [
                {
                    "customerExternalId": "cy",
                    "placedAt": "2026-01-02T00:00:00Z",
                    "total": "10",
                    "lines": [{"sku": "A-1", "quantity": 1, "unitPrice": "10"}],
                }
            ],
        ),
    )
    cy = (await client.data('{ customer(externalId: "cy") { id } }'))["customer"]["id"]
    await s.input("markNotDuplicate", "MarkNotDuplicateInput", {"customerIds": [ada, cy]})
    await s.input(
        "mergeCustomers",
        "MergeCustomersInput",
        {"survivorId": ada, "mergedIds": [cy], "dryRun": False},
    )
    hook = (
        await s.input(
            "createWebhook",
            "CreateWebhookInput",
            {"url": "http://127.0.0.1:9/hook", "eventTypes": []},
            "webhook { id }",
        )
    )["webhook"]["id"]
    await s.input("updateWebhook", "UpdateWebhookInput", {"id": hook, "description": "ops"})
    event = (await client.data("{ events(first: 1) { nodes { id } } }"))["events"]["nodes"][0]["id"]
    await s.input("redeliverEvent", "RedeliverEventInput", {"webhookId": hook, "eventId": event})
    await s.input("deleteWebhook", "WebhookIdInput", {"id": hook})
    await s.run(
        "trainAnalyticsModels",
        "job { id }",
        "input: $input",
        input=("TrainAnalyticsModelsInput", {}),
    )
    await s.input(
        "awardLoyaltyPoints",
        "AwardLoyaltyPointsInput",
        {"customerId": ada, "points": 100, "reason": "visit"},  # bronze: an e-mail is queued
    )
    queued = (await client.data("{ outboundEmails { nodes { id } } }"))["outboundEmails"]
    await s.input(
        "settleOutboundEmail",
        "SettleOutboundEmailInput",
        {"id": queued["nodes"][0]["id"], "action": "FAILED"},
    )
    await s.input(
        "redeemLoyaltyPoints",
        "RedeemLoyaltyPointsInput",
        {"customerId": ada, "points": 5, "lines": [{"productId": product}]},
    )
    await perform_sales_mutations(s, ada, product)
    await perform_lead_mutations(s, ada)
    await perform_service_mutations(s, ada)
    await perform_marketing_mutations(s, ada)
    await s.input("eraseCustomer", "EraseCustomerInput", {"id": bob})
    return s


async def perform_service_mutations(s: Script, customer: str) -> None:
    """The service plugin's mutations, on a ticket of ``customer``."""
    hours = [{"day": "MONDAY", "hours": ["09:00-17:00"]}]
    calendar = (
        await s.input(
            "createBusinessCalendar",
            "CreateBusinessCalendarInput",
            {"name": "Office", "timeZone": "Europe/Berlin", "hours": hours},
            "calendar { id }",
        )
    )["calendar"]["id"]
    target = {"priority": "NORMAL", "firstResponseMinutes": 60}
    await s.input(
        "createSlaPolicy",
        "CreateSlaPolicyInput",
        {"name": "Standard", "calendarId": calendar, "targets": [target], "isDefault": True},
    )
    ticket = (
        await s.input(
            "createTicket",
            "CreateTicketInput",
            {"customerId": customer, "subject": "Broken"},
            "ticket { id }",
        )
    )["ticket"]["id"]
    await s.input("updateTicket", "UpdateTicketInput", {"id": ticket, "priority": "HIGH"})
    await s.input("assignTicket", "AssignTicketInput", {"id": ticket, "assigneeId": "test-admin"})
    await s.input("addTicketComment", "AddTicketCommentInput", {"ticketId": ticket, "body": "Hi"})
    await s.input(
        "changeTicketStatus", "ChangeTicketStatusInput", {"id": ticket, "status": "PENDING"}
    )
    call = (
        await s.input(
            "logInteraction",
            "LogInteractionInput",
            {"customerId": customer, "channel": "PHONE"},
            "interaction { id }",
        )
    )["interaction"]["id"]
    await s.input("sendNpsSurvey", "SendNpsSurveyInput", {"customerId": customer})
    form = (
        await s.input("createWebForm", "CreateWebFormInput", {"name": "Contact"}, "form { id }")
    )["form"]["id"]
    await s.input("closeWebForm", "CloseWebFormInput", {"id": form})
    await s.input(
        "linkTicketInteraction",
        "LinkTicketInteractionInput",
        {"ticketId": ticket, "interactionId": call},
    )


async def perform_marketing_mutations(s: Script, customer: str) -> None:
    made = await s.input(
        "createAudienceSegment",
        "CreateAudienceSegmentInput",
        {"name": "Fair", "kind": "STATIC"},
        "segment { id }",
    )
    members = {"segmentId": made["segment"]["id"], "customers": [customer]}
    await s.input("addAudienceSegmentMembers", "AudienceSegmentMembersInput", members)
    await s.input("removeAudienceSegmentMembers", "AudienceSegmentMembersInput", members)
    await s.input("deleteAudienceSegment", "AudienceSegmentIdInput", {"id": members["segmentId"]})
    buyers = {"condition": {"field": "orders.count", "operator": "gte", "value": 1}}
    dynamic = await s.input(
        "createAudienceSegment",
        "CreateAudienceSegmentInput",
        {"name": "Buyers", "kind": "DYNAMIC", "filter": buyers},
        "segment { id }",
    )
    segment = dynamic["segment"]["id"]
    await s.input(
        "updateAudienceSegment",
        "UpdateAudienceSegmentInput",
        {"id": segment, "description": "Paid once"},
    )
    await s.input("refreshAudienceSegment", "AudienceSegmentIdInput", {"id": segment})
    made = await s.input(
        "createEmailCampaign",
        "CreateEmailCampaignInput",
        {
            "name": "Spring",
            "segmentId": segment,
            "subject": "Hi {{ customer.first_name }}",
            "sender": "news@shop.example",
            "textTemplate": "Hello",
        },
        "campaign { id }",
    )
    campaign = made["campaign"]["id"]
    await s.input("updateEmailCampaign", "UpdateEmailCampaignInput", {"id": campaign, "cost": "10"})
    later = {"id": campaign, "sendAt": "2999-01-01T00:00:00Z"}
    await s.input("sendEmailCampaign", "SendEmailCampaignInput", later)
    await s.input("cancelEmailCampaign", "EmailCampaignIdInput", {"id": campaign})
    now = await s.input(
        "createEmailCampaign",
        "CreateEmailCampaignInput",
        {
            "name": "Now",
            "segmentId": segment,
            "subject": "Hi",
            "sender": "news@shop.example",
            "textTemplate": "Hello",
        },
        "campaign { id }",
    )
    await s.input("sendEmailCampaign", "SendEmailCampaignInput", now["campaign"])
    sends = "query ($id: ID!) { emailCampaign(id: $id) { sends { messageId } } }"

    async def queued() -> str | None:
        found = await s.client.data(sends, now["campaign"])
        return next(
            (x["messageId"] for x in found["emailCampaign"]["sends"] if x["messageId"]), None
        )

    bounced = {"messageId": await eventually(queued, timeout=30), "permanent": False}
    await s.input("reportEmailBounce", "ReportEmailBounceInput", bounced)
    opt_in = {"customerId": customer, "sender": "news@shop.example"}
    await s.input("requestEmailOptIn", "RequestEmailOptInInput", opt_in)
    flow = await s.input(
        "createMarketingAutomation",
        "CreateMarketingAutomationInput",
        {"builtIn": "WELCOME", "sender": "news@shop.example"},
        "automation { id }",
    )
    paused = {"id": flow["automation"]["id"], "active": False}
    await s.input("setMarketingAutomationActive", "SetMarketingAutomationActiveInput", paused)


@pytest.fixture
async def full(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CRM_PLUGIN_LOYALTY_EMAIL_FROM", "club@shop.example")
    everything = settings.model_copy(
        update={"plugins": None, "webhook_allow_private_targets": True, "webhook_workers": 0}
    )
    async with app_client(everything) as client:
        yield client


AUDIT = """
query ($after: String) {
  auditLog(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { operation requestId actor actorRole targetIds changes }
  }
}
"""


async def audit_rows(client: GraphQLClient) -> list[dict]:
    rows, after = [], None
    while True:
        page = (await client.data(AUDIT, {"after": after}))["auditLog"]
        rows += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return rows[::-1]  # oldest first
        after = page["pageInfo"]["endCursor"]


async def test_every_mutation_made_has_exactly_one_audit_row(full: GraphQLClient) -> None:
    script = await perform_every_mutation(full)
    schema_mutations = set(full.app.state.schema._schema.mutation_type.fields)
    assert schema_mutations == {name for name, _id in script.made}, (
        "run every mutation in perform_every_mutation: "
        f"{sorted(schema_mutations - {n for n, _ in script.made})}"
    )
    rows = await audit_rows(full)
    assert [(r["operation"], r["requestId"]) for r in rows] == script.made
    assert {(r["actor"], r["actorRole"]) for r in rows} == {("user:test-admin", "admin")}
    empty = [r["operation"] for r in rows if not (r["targetIds"] and r["changes"])]
    assert empty == [], "mutations whose audit row names no changed record"


async def test_audit_rows_hold_changes_with_personal_data_hashed(client: GraphQLClient) -> None:
    created = await client.data(
        'mutation { createCustomer(input: {name: "Zed Canary", email: "zed@example.com"}) '
        "{ customer { id version } } }"
    )
    zed = created["createCustomer"]["customer"]
    await client.data(
        'mutation ($id: ID!) { updateCustomer(input: {id: $id, email: "z2@example.com", '
        "lifecycleStage: CUSTOMER}) { errors { code } } }",
        {"id": zed["id"]},
    )
    rows = await audit_rows(client)
    update = rows[-1]
    assert update["operation"] == "updateCustomer" and update["targetIds"] == [zed["id"]]
    [change] = update["changes"]
    fields = change["fields"]
    assert change["action"] == "update" and change["id"] == zed["id"]
    assert fields["lifecycle_stage"] == {"before": "lead", "after": "customer"}
    assert fields["email"]["before"].startswith("hmac-sha256:")
    assert fields["email"]["before"] != fields["email"]["after"]
    assert "zed" not in repr(rows).lower()

    by_target = await client.data(
        'query ($id: ID!) { auditLog(filter: {targetId: $id, operation: "updateCustomer"}) '
        "{ totalCount } }",
        {"id": zed["id"]},
    )
    assert by_target["auditLog"]["totalCount"] == 1


async def test_refused_and_failed_mutations_leave_no_audit_row(client: GraphQLClient) -> None:
    failed = await client.data(
        'mutation { createCustomer(input: {name: "", email: "nope"}) { errors { code } } }'
    )
    assert failed["createCustomer"]["errors"]
    denied = await client.acting_as("readonly", "r").execute(
        'mutation { createCustomer(input: {name: "X"}) { errors { code } } }'
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await audit_rows(client) == []
    readonly = await client.acting_as("sales", "s").execute("{ auditLog { totalCount } }")
    assert readonly["errors"][0]["extensions"]["code"] == "FORBIDDEN"
