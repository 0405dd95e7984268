"""The sales fields on Customer answer alike on the compiled read path and through strawberry,
for every role (the differential test of the plugin's fields), SQLite and PostgreSQL."""

from __future__ import annotations

import crm_sales
from crm_graph.demo import seed_demo
from crm_graph.settings import Settings
from crm_graph.testing import app_client
from tests.sales_support import create_deal, move_deal, new_customer, stages
from tests.test_compiled_reads import COMPILED, ROLES, same_answer

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
