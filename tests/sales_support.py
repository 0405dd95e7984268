"""Helpers of the sales plugin's tests: an app with the plugin, and the requests they repeat."""

from __future__ import annotations

from typing import Any

from crm_graph.testing import GraphQLClient

DEAL_FIELDS = """
  id name version status lostReason expectedCloseDate closedAt
  amount { amount currency }
  stage { id name probability kind }
  owner { userId }
"""


async def new_customer(client: GraphQLClient, name: str, **extra: Any) -> str:
    data = await client.data(
        "mutation ($input: CreateCustomerInput!) { createCustomer(input: $input) "
        "{ customer { id } errors { code field } } }",
        {"input": {"name": name, **extra}},
    )
    assert data["createCustomer"]["errors"] == [], data
    return data["createCustomer"]["customer"]["id"]


async def stages(client: GraphQLClient, pipeline: int = 0) -> dict[str, str]:
    """The stage ids of a pipeline (the default one first), by name."""
    data = await client.data("{ salesPipelines { id stages { id name } } }")
    return {s["name"]: s["id"] for s in data["salesPipelines"][pipeline]["stages"]}


async def create_deal(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await client.data(
        f"mutation ($input: CreateDealInput!) {{ createDeal(input: $input) "
        f"{{ deal {{ {DEAL_FIELDS} }} errors {{ code message field }} }} }}",
        {"input": input},
    )
    return data["createDeal"]


async def move_deal(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await client.data(
        f"mutation ($input: MoveDealInput!) {{ moveDeal(input: $input) "
        f"{{ deal {{ {DEAL_FIELDS} }} errors {{ code message field }} }} }}",
        {"input": input},
    )
    return data["moveDeal"]


async def events(client: GraphQLClient, *types: str) -> list[dict[str, Any]]:
    data = await client.data(
        "query ($types: [String!]) { events(types: $types, first: 100) "
        "{ nodes { type entityId payload } } }",
        {"types": list(types)},
    )
    return data["events"]["nodes"]


async def perform_sales_mutations(script: Any, customer: str, product: str) -> None:
    """Every mutation of the sales plugin, successfully, for the audit test's script."""
    pipeline = await script.input(
        "createSalesPipeline",
        "CreateSalesPipelineInput",
        {
            "name": "Audit",
            "stages": [
                {"name": "Open", "probability": 10},
                {"name": "Won", "kind": "WON"},
                {"name": "Lost", "kind": "LOST"},
            ],
        },
        "pipeline { id stages { id } }",
    )
    won = pipeline["pipeline"]["stages"][1]["id"]
    await script.input(
        "updateSalesPipeline",
        "UpdateSalesPipelineInput",
        {"id": pipeline["pipeline"]["id"], "name": "Audited"},
    )
    made = await script.input(
        "createDeal",
        "CreateDealInput",
        {"name": "Audit deal", "customerId": customer, "amount": "10"},
        "deal { id }",
    )
    deal = made["deal"]["id"]
    await script.input("updateDeal", "UpdateDealInput", {"id": deal, "amount": "12"})
    await script.input("moveDeal", "MoveDealInput", {"id": deal, "stageId": won})
    other = await script.input(
        "createDeal",
        "CreateDealInput",
        {"name": "Quoted", "customerId": customer, "amount": "20"},
        "deal { id }",
    )
    quotes = []
    for _ in range(2):
        quote = await script.input(
            "createQuote",
            "CreateQuoteInput",
            {"dealId": other["deal"]["id"], "lines": [{"productId": product, "quantity": 1}]},
            "quote { id }",
        )
        await script.input(
            "updateQuote", "UpdateQuoteInput", {"id": quote["quote"]["id"], "contactName": "Ada"}
        )
        await script.input("sendQuote", "QuoteActionInput", {"id": quote["quote"]["id"]})
        quotes.append(quote["quote"]["id"])
    await script.input("declineQuote", "QuoteActionInput", {"id": quotes[0]})
    await script.input("acceptQuote", "QuoteActionInput", {"id": quotes[1]})


async def perform_lead_mutations(script: Any, customer: str) -> None:
    """Every lead, company, task, form and assignment-rule mutation, successfully."""
    lead = await script.input(
        "createLead", "CreateLeadInput", {"name": "Lead", "email": "lead@x.example"}, "lead { id }"
    )
    lead_id = lead["lead"]["id"]
    await script.input("updateLead", "UpdateLeadInput", {"id": lead_id, "company": "X"})
    await script.input(
        "changeLeadStatus", "ChangeLeadStatusInput", {"id": lead_id, "status": "QUALIFIED"}
    )
    await script.input("convertLead", "ConvertLeadInput", {"id": lead_id})
    company = await script.input(
        "createCompany", "CreateCompanyInput", {"name": "X Inc"}, "company { id }"
    )
    await script.input(
        "updateCompany", "UpdateCompanyInput", {"id": company["company"]["id"], "size": 12}
    )
    link = {"companyId": company["company"]["id"], "customerId": customer}
    await script.input("linkCompanyContact", "CompanyContactInput", link)
    await script.input(
        "unlinkCompanyContact", "UnlinkCompanyContactInput", {"customerId": customer}
    )
    task = await script.input(
        "createSalesTask",
        "CreateSalesTaskInput",
        {"title": "Call", "dueAt": "2030-01-01T09:00:00Z", "customerId": customer},
        "task { id }",
    )
    await script.input(
        "updateSalesTask", "UpdateSalesTaskInput", {"id": task["task"]["id"], "done": True}
    )
    form = await script.input(
        "createSalesWebForm", "CreateSalesWebFormInput", {"name": "Web"}, "form { id }"
    )
    await script.input(
        "setSalesWebFormActive",
        "SetSalesWebFormActiveInput",
        {"id": form["form"]["id"], "active": False},
    )
    team = await script.input("createTeam", "CreateTeamInput", {"name": "sdr"}, "team { id }")
    rule = await script.input(
        "createLeadAssignmentRule",
        "CreateLeadAssignmentRuleInput",
        {"name": "All", "teamId": team["team"]["id"]},
        "rule { id }",
    )
    await script.input(
        "deleteLeadAssignmentRule", "DeleteLeadAssignmentRuleInput", {"id": rule["rule"]["id"]}
    )
