"""The sales fields on Customer answer alike on the compiled read path and through strawberry,
for every role (the differential test of the plugin's fields), SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import crm_sales
from crm_graph.demo import seed_demo
from crm_graph.settings import Settings
from crm_graph.testing import app_client, count_statements
from tests.helpers import beyond_authentication
from tests.sales_support import create_deal, move_deal, new_customer, stages
from tests.test_compiled_reads import COMPILED, FALLBACK, ROLES, _normal, _post, same_answer
from tests.test_sales_scoring import _train as train

QUERY = """query ($first: Int) { customers(first: $first) { nodes { name
  deals { name amount { amount currency } status expectedCloseDate lostReason version
          stage { name probability kind } owner { userId } customer { name }
          pipeline { name stages { name } } stageHistory { stage { name } fromStage { name } } }
  openDealValue { amount currency }
  account { name domain size contacts { name } deals { name } } } } }"""


async def test_customer_sales_fields_answer_alike_compiled_and_not(settings: Settings) -> None:
    async with app_client(settings, plugins=[crm_sales]) as compiled:
        await seed_demo(compiled.app.state.crm.engine, customers=4, seed=2)
        sam = compiled.acting_as("sales", "sam")
        stage = await stages(compiled)
        ada, bob = await new_customer(compiled, "Ada"), await new_customer(sam, "Bob")
        company = await compiled.data(
            'mutation { createCompany(input: {name: "Acme", domain: "acme.example", size: 9}) '
            "{ company { id } } }"
        )
        await compiled.data(
            "mutation ($c: ID!, $u: ID!) { linkCompanyContact(input: {companyId: $c, "
            "customerId: $u}) { errors { code } } }",
            {"c": company["createCompany"]["company"]["id"], "u": ada},
        )
        first = (await create_deal(compiled, name="A1", customerId=ada, amount="10"))["deal"]
        await move_deal(compiled, id=first["id"], stageId=stage["Contract sent"])
        await create_deal(compiled, name="A2", customerId=ada, amount="7", currency="EUR")
        lost = (await create_deal(sam, name="B1", customerId=bob, amount="3"))["deal"]
        await move_deal(sam, id=lost["id"], stageId=stage["Closed lost"], lostReason="Price")
        await create_deal(
            sam, name="B2", customerId=bob, amount="4", expectedCloseDate="2027-01-01"
        )

        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[crm_sales], migrate=False) as fallback:
            body, served = await same_answer(compiled, fallback, QUERY, {"first": 10})
            assert served == COMPILED
            names = {n["name"]: n for n in body["data"]["customers"]["nodes"]}
            assert [d["name"] for d in names["Ada"]["deals"]] == ["A2", "A1"]
            assert names["Ada"]["account"]["contacts"] == [{"name": "Ada"}]
            for role in ROLES:
                for user in ("sam", "test-admin"):
                    await same_answer(
                        compiled.acting_as(role, user),
                        fallback.acting_as(role, user),
                        QUERY,
                        {"first": 10},
                        role,
                    )


DEALS = """query ($first: Int, $after: String, $last: Int, $before: String, $filter: DealFilter,
                 $orderBy: DealOrderBy) {
  deals(first: $first, after: $after, last: $last, before: $before, filter: $filter,
        orderBy: $orderBy) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { __typename id name amount { amount currency } status
      expectedCloseDate lostReason createdAt stageEnteredAt closedAt version
      stage { id name position probability kind } owner { userId } customer { name email }
      pipeline { name stages { name } } quotes { id }
      stageHistory { stage { name } fromStage { name } changedBy } } } } }"""


async def test_the_deals_list_answers_alike_compiled_and_not(settings: Settings) -> None:
    """``deals`` (a list field) is served compiled with its filters, sort orders and cursors,
    for every role and for two sales reps, each seeing their own deals (the owner scope is a
    parameter of the one plan both share), as strawberry answers it."""
    async with app_client(settings, plugins=[crm_sales]) as compiled:
        sam, kim = compiled.acting_as("sales", "sam"), compiled.acting_as("sales", "kim")
        stage = await stages(compiled)
        ada, bob = await new_customer(compiled, "Ada"), await new_customer(sam, "Bob")
        cyd = await new_customer(kim, "Cyd", email="cyd@example.com")
        first = (await create_deal(compiled, name="A1", customerId=ada, amount="10"))["deal"]
        await move_deal(compiled, id=first["id"], stageId=stage["Contract sent"])
        await create_deal(compiled, name="A2", customerId=ada, amount="7", currency="EUR")
        lost = (await create_deal(sam, name="B1", customerId=bob, amount="3"))["deal"]
        await move_deal(sam, id=lost["id"], stageId=stage["Closed lost"], lostReason="Price")
        await create_deal(
            sam, name="B2", customerId=bob, amount="4", expectedCloseDate="2027-01-01"
        )
        await create_deal(kim, name="C1", customerId=cyd, amount="12.5")

        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[crm_sales], migrate=False) as fallback:
            body, served = await same_answer(compiled, fallback, DEALS, {"first": 2})
            assert served == COMPILED
            page = body["data"]["deals"]
            assert page["totalCount"] == 5 and page["pageInfo"]["hasNextPage"]
            after = page["pageInfo"]["endCursor"]
            cases: list[dict[str, Any]] = [
                {"first": 10},
                {"first": 2, "after": after},
                {"last": 2, "before": after},
                {"first": 10, "orderBy": {"field": "AMOUNT", "direction": "ASC"}},
                {"last": 3, "orderBy": {"field": "NAME"}},
                {"first": 10, "filter": {"statuses": ["OPEN"], "search": "a"}},
                {"first": 10, "filter": {"customerId": bob, "closeAfter": "2026-01-01"}},
                {"first": 10, "filter": {"ownerIds": ["sam"], "stageIds": [stage["Closed lost"]]}},
            ]
            for variables in cases:
                for role in ROLES:
                    for user in ("sam", "kim", "test-admin"):
                        body, served = await same_answer(
                            compiled.acting_as(role, user),
                            fallback.acting_as(role, user),
                            DEALS,
                            variables,
                            role,
                        )
                        if role in ("admin", "sales"):
                            assert served == COMPILED, (role, user, variables)
            for user, names in (("sam", ["B2", "B1"]), ("kim", ["C1"])):
                body, _ = await same_answer(
                    compiled.acting_as("sales", user),
                    fallback.acting_as("sales", user),
                    DEALS,
                    {"first": 10},
                    "sales",
                )
                assert [e["node"]["name"] for e in body["data"]["deals"]["edges"]] == names
            # The statements are as many for one deal as for five (one per level and batch).
            counts = []
            for first in (1, 5):
                with count_statements(compiled.app) as statements:
                    response = await compiled.http.post(
                        "/graphql",
                        json={"query": DEALS, "variables": {"first": first}},
                        headers=compiled.headers,
                    )
                assert response.headers["server-timing"] == COMPILED
                counts.append(len(beyond_authentication(statements)))
            assert counts[0] == counts[1], counts
            # A bad argument is strawberry's to answer, the same way.
            for variables in ({"first": 1, "after": "nope"}, {"filter": {"search": "x" * 201}}):
                body, served = await same_answer(compiled, fallback, DEALS, variables)
                assert body["errors"] and served == FALLBACK


LISTS = """query ($first: Int, $after: String, $lead: LeadFilter, $task: SalesTaskFilter,
                 $company: CompanyFilter) {
  leads(first: $first, after: $after, filter: $lead) { totalCount
    pageInfo { hasNextPage endCursor }
    nodes { __typename id name company email phone source status disqualifiedReason score
      scoreFactors { feature effect } attributes convertedAt createdAt version owner { userId }
      convertedCustomer { name } convertedDeal { name amount { amount } } } }
  companies(first: $first, filter: $company, orderBy: {field: NAME, direction: DESC}) {
    totalCount edges { cursor node { id name domain industry size attributes owner { userId }
      contacts { name email } deals { name status } } } }
  salesTasks(first: $first, filter: $task) { totalCount
    nodes { id title notes dueAt status overdue doneAt owner { userId }
      lead { name email } deal { name stage { name } } customer { name } } } }"""


async def test_leads_companies_and_tasks_lists_answer_alike_compiled_and_not(
    settings: Settings,
) -> None:
    """``leads`` (personal data masked without pii:read), ``companies`` and ``salesTasks``
    (the overdue and due-soon filters read the request's time) are list fields: served
    compiled, as strawberry answers them, for every role and two reps."""
    async with app_client(settings, plugins=[crm_sales]) as compiled:
        sam, kim = compiled.acting_as("sales", "sam"), compiled.acting_as("sales", "kim")
        ada = await new_customer(compiled, "Ada", email="ada@acme.example")
        bob = await new_customer(sam, "Bob")
        lead = "mutation ($input: CreateLeadInput!) { createLead(input: $input) { lead { id } errors { code } } }"
        for client, name, extra in (
            (compiled, "Lee", {"email": "lee@x.example", "source": "WEB"}),
            (sam, "Sue", {"company": "Sue Inc", "phone": "+14155550123", "attributes": {"a": 1}}),
            (kim, "Kat", {"source": "REFERRAL"}),
        ):
            made = await client.data(lead, {"input": {"name": name, **extra}})
            assert made["createLead"]["errors"] == [], made
        company = await compiled.data(
            'mutation { createCompany(input: {name: "Acme", domain: "acme.example", size: 9, '
            'industry: "Tools"}) { company { id } } }'
        )
        await sam.data('mutation { createCompany(input: {name: "Bobco"}) { company { id } } }')
        await compiled.data(
            "mutation ($c: ID!, $u: ID!) { linkCompanyContact(input: {companyId: $c, "
            "customerId: $u}) { errors { code } } }",
            {"c": company["createCompany"]["company"]["id"], "u": ada},
        )
        deal = (await create_deal(compiled, name="A1", customerId=ada, amount="10"))["deal"]
        task = """mutation ($input: CreateSalesTaskInput!) { createSalesTask(input: $input) {
          task { id } errors { code } } }"""
        now = datetime.now(UTC)
        for client, title, hours, about in (
            (compiled, "Late", -2, {"dealId": deal["id"]}),
            (compiled, "Soon", 3, {"customerId": ada}),
            (sam, "Later", 48, {"customerId": bob, "notes": "call Bob"}),
            (kim, "Kim's", 1, {}),
        ):
            due = (now + timedelta(hours=hours)).isoformat()
            made = await client.data(task, {"input": {"title": title, "dueAt": due, **about}})
            assert made["createSalesTask"]["errors"] == [], made

        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[crm_sales], migrate=False) as fallback:
            body, served = await same_answer(compiled, fallback, LISTS, {"first": 2})
            assert served == COMPILED
            assert body["data"]["leads"]["totalCount"] == 3
            after = body["data"]["leads"]["pageInfo"]["endCursor"]
            cases: list[dict[str, Any]] = [
                {"first": 10},
                {"first": 2, "after": after},
                {"first": 10, "task": {"overdue": True}, "lead": {"sources": ["WEB", "OTHER"]}},
                {"first": 10, "task": {"dueWithinHours": 4}, "company": {"search": "acme"}},
                {"first": 10, "task": {"overdue": False, "statuses": ["OPEN"]}},
                {"first": 10, "lead": {"search": "su"}, "company": {"industry": "Tools"}},
            ]
            for variables in cases:
                for role in ROLES:
                    for user in ("sam", "kim", "test-admin"):
                        _, served = await same_answer(
                            compiled.acting_as(role, user),
                            fallback.acting_as(role, user),
                            LISTS,
                            variables,
                            role,
                        )
                        if role in ("admin", "sales") and "search" not in variables.get("lead", {}):
                            assert served == COMPILED, (role, user, variables)
            soon = await compiled.data(LISTS, {"first": 10, "task": {"dueWithinHours": 4}})
            assert sorted(t["title"] for t in soon["salesTasks"]["nodes"]) == ["Kim's", "Soon"]


BOARD = """query { salesPipelines { id name stages { id name kind probability } } }"""
PIPELINES = """{ salesPipelines { __typename id name position version
  stages { __typename id name position probability kind } } }"""
FORMS = """{ salesWebForms { __typename id name source honeypot active owner { userId } path } }"""
PIPELINE = """query ($id: ID!) { node(id: $id) { __typename id
  ... on SalesPipeline { name version stages { name kind } } } }"""
RULES = """{ leadAssignmentRules { id name position attribute values team { name } } }"""
SCORING = """{ leadScoringModel { kind outcomes auc trainedAt features } }"""
FORECAST = """query ($period: ForecastPeriod!, $from: Date!, $to: Date!, $owner: String,
                    $pipeline: ID) {
  salesForecast(period: $period, from: $from, to: $to, owner: $owner, pipeline: $pipeline) {
    periods { start end weighted { amount currency } pipeline { amount currency }
      committed { amount currency } openDeals wonDeals }
    total { weighted { amount currency } committed { amount currency }
      undatedWeighted { amount currency } undatedDeals wonDeals lostDeals winRate
      averageDealSize { amount currency } medianCycleDays }
    owners { ownerId figures { __typename weighted { amount } wonDeals winRate } } } }"""


def _form_links(app: Any, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with each web form's ``path`` replaced by what its token says (purpose,
    subject, data): a token is signed when read and expires, so two reads differ as text."""
    forms = (body.get("data") or {}).get("salesWebForms")
    for form in forms or ():
        prefix, token = form["path"].rsplit("/", 1)
        assert prefix == "/p/sales/forms"
        found = app.tokens.check(token, "sales.web_form")
        assert found.expires_at > datetime.now(UTC) + timedelta(days=3000)
        form["path"] = (found.purpose, found.subject, found.data)
    return body


async def test_sales_query_fields_answer_alike_compiled_and_not(settings: Settings) -> None:
    """The pipelines (the web app's board among them, and one by its ID), web forms and assignment rules (rows
    fields) and the scoring model and forecast (query fields: one call per request) are served
    compiled for every role, as strawberry answers them: FORBIDDEN for a caller without the
    permission, the forecast's argument errors, a web form's link token for the same form."""
    async with app_client(settings, plugins=[crm_sales]) as compiled:
        sam = compiled.acting_as("sales", "sam")
        stage = await stages(compiled)
        ada, bob = await new_customer(compiled, "Ada"), await new_customer(sam, "Bob")
        won = (await create_deal(compiled, name="A1", customerId=ada, amount="10"))["deal"]
        await move_deal(compiled, id=won["id"], stageId=stage["Closed won"])
        await create_deal(
            compiled,
            name="A2",
            customerId=ada,
            amount="7",
            currency="EUR",
            expectedCloseDate=datetime.now(UTC).date().isoformat(),
        )
        await create_deal(sam, name="B1", customerId=bob, amount="3")
        await compiled.data(
            'mutation { createSalesPipeline(input: {name: "Renewals", stages: [{name: "Due", '
            'probability: 50}, {name: "Won", kind: WON}, {name: "Lost", kind: LOST}]}) '
            "{ errors { code } } }"
        )
        for name in ("Web", "Fair"):
            made = await compiled.data(
                "mutation ($name: String!) { createSalesWebForm(input: {name: $name}) "
                "{ errors { code } } }",
                {"name": name},
            )
            assert made["createSalesWebForm"]["errors"] == []
        team = await compiled.data('mutation { createTeam(input: {name: "sdr"}) { team { id } } }')
        for name, values in (("DACH", ["DE", "AT"]), ("Rest", [])):
            rule = {"name": name, "teamId": team["createTeam"]["team"]["id"]}
            if values:
                rule |= {"attribute": "country", "values": values}
            made = await compiled.data(
                "mutation ($input: CreateLeadAssignmentRuleInput!) { createLeadAssignmentRule("
                "input: $input) { errors { code } } }",
                {"input": rule},
            )
            assert made["createLeadAssignmentRule"]["errors"] == []

        board = await compiled.data(BOARD)
        assert [p["name"] for p in board["salesPipelines"]][-1] == "Renewals"
        renewals = board["salesPipelines"][-1]["id"]
        today = datetime.now(UTC).date()
        year = {"from": (today - timedelta(days=40)).isoformat(), "to": today.isoformat()}
        cases: list[tuple[str, dict[str, Any]]] = [
            (BOARD, {}),
            (PIPELINES, {}),
            (PIPELINE, {"id": renewals}),
            (FORMS, {}),
            (RULES, {}),
            (SCORING, {}),
            (FORECAST, {"period": "MONTH", **year}),
            (FORECAST, {"period": "QUARTER", **year, "owner": "sam"}),
            (FORECAST, {"period": "MONTH", **year, "pipeline": renewals}),
            (FORECAST, {"period": "MONTH", **year, "pipeline": won["stage"]["id"]}),
            (FORECAST, {"period": "MONTH", "from": year["to"], "to": year["from"]}),
        ]
        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[crm_sales], migrate=False) as fallback:
            for trained in (False, True):
                if trained:  # the model the query shows, after `crm-graph sales train`
                    await train(settings)
                for query, variables in cases:
                    for role in ROLES:
                        for user in ("sam", "test-admin"):
                            body, served = await _same_forms(
                                compiled.acting_as(role, user),
                                fallback.acting_as(role, user),
                                query,
                                variables,
                            )
                            errors = body.get("errors") or ()
                            if all(e["extensions"]["code"] == "FORBIDDEN" for e in errors):
                                assert served == COMPILED, (role, query, variables)
            # The board reads the pipelines and all their stages in two statements.
            with count_statements(compiled.app) as statements:
                response = await compiled.http.post(
                    "/graphql", json={"query": BOARD}, headers=compiled.headers
                )
            assert response.headers["server-timing"] == COMPILED
            assert len(response.json()["data"]["salesPipelines"]) == 2
            assert len(beyond_authentication(statements)) == 2, statements
            admin = await _same_forms(compiled, fallback, FORMS, {})
            assert [f["name"] for f in admin[0]["data"]["salesWebForms"]] == ["Web", "Fair"]
            model = await compiled.data(SCORING)
            assert model["leadScoringModel"]["kind"] == "RULES"
            bad = await _same_forms(
                compiled,
                fallback,
                FORECAST,
                {"period": "MONTH", "from": year["to"], "to": year["from"]},
            )
            assert bad[0]["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"


async def _same_forms(
    compiled: Any, fallback: Any, query: str, variables: dict[str, Any]
) -> tuple[Any, str]:
    """As ``same_answer``, web forms' links compared by what their tokens say."""
    body, served = await _post(compiled, query, variables)
    expected, other = await _post(fallback, query, variables)
    assert other == FALLBACK
    body = _form_links(compiled.app.state.crm, body)
    expected = _form_links(fallback.app.state.crm, expected)
    assert _normal(body) == _normal(expected), (query, variables, served)
    return body, served
