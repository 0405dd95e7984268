"""GraphQL types of leads, companies, tasks, web forms and assignment rules.

Plain fields are columns of the row (the row is the root value); personal data is declared
(masked without ``pii:read``); fields reaching other rows use the field contract.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from crm_graph.plugin import (
    CustomerRow,
    CustomerType,
    Node,
    Related,
    RequestContext,
    TeamType,
    UserType,
    batch_field,
    personal_data,
    requires,
    table_field,
    team_of,
    to_global_id,
    user_of,
    utcnow,
)
from crm_sales import companies, deals
from crm_sales.config import DEALS_READ, LEADS_READ
from crm_sales.forms import form_token
from crm_sales.scopes import sight
from crm_sales.tables import (
    SalesAssignmentRule,
    SalesCompany,
    SalesDeal,
    SalesLead,
    SalesTask,
    SalesWebForm,
)
from crm_sales.views import DealType


def _gid(type_name: str, root: object) -> strawberry.ID:
    return strawberry.ID(to_global_id(type_name, root.id))  # type: ignore[attr-defined]


@strawberry.enum(name="LeadStatus")
class LeadStatus(Enum):
    NEW = "new"
    WORKING = "working"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"
    CONVERTED = "converted"


@strawberry.enum(name="LeadSource")
class LeadSource(Enum):
    WEB = "web"
    REFERRAL = "referral"
    EVENT = "event"
    IMPORT = "import"
    PARTNER = "partner"
    ADVERTISING = "advertising"
    PHONE = "phone"
    OTHER = "other"


@strawberry.type(name="LeadScoreFactor", description="Why a lead scores what it does.")
class LeadScoreFactorType:
    feature: str
    effect: float = strawberry.field(
        description="Points the feature adds to (or, negative, takes from) the score."
    )


async def converted_deals(
    leads: list[SalesLead], context: RequestContext
) -> list[SalesDeal | None]:
    seen = sight(context.principal, DEALS_READ)
    ids = sorted({lead.converted_deal_id for lead in leads if lead.converted_deal_id})
    async with context.app.read() as session:
        rows = await deals.visible_deals(session, ids, seen)
    by_id = {row.id: row for row in rows}
    return [by_id.get(lead.converted_deal_id) for lead in leads]  # type: ignore[arg-type]


@strawberry.type(name="Lead", description="Someone who may buy: worked, then converted or not.")
class LeadType(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, SalesLead)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return _gid("Lead", self)

    name: str = strawberry.field(metadata=personal_data("text"))
    company: str | None = strawberry.field(metadata=personal_data("text"))
    email: str | None = strawberry.field(metadata=personal_data("email"))
    phone: str | None = strawberry.field(
        description="E.164, e.g. +14155550123.", metadata=personal_data("phone")
    )

    @strawberry.field
    def source(self) -> LeadSource:
        return LeadSource(self.source)  # type: ignore[arg-type]

    @strawberry.field
    def status(self) -> LeadStatus:
        return LeadStatus(self.status)  # type: ignore[arg-type]

    disqualified_reason: str | None
    score: int | None = strawberry.field(description="0 to 100: how likely it converts.")

    @strawberry.field(description="What moves the score most, strongest first.")
    def score_factors(self) -> list[LeadScoreFactorType]:
        return [LeadScoreFactorType(**f) for f in self.score_factors]  # type: ignore[attr-defined]

    attributes: JSON = strawberry.field(
        description="Custom attributes: a JSON object.", metadata=personal_data("text")
    )
    converted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    owner: UserType | None = table_field(
        user_of("owner_id"),
        description="The rep working the lead.",
        metadata=requires("users:read"),
    )
    converted_customer: CustomerType | None = table_field(
        Related(CustomerRow, key="id", parent_key="converted_customer_id"),
        description="The customer the lead became.",
        metadata=requires("customers:read"),
    )
    converted_deal: DealType | None = batch_field(
        converted_deals,
        parent_columns=("converted_deal_id",),
        description="The deal opened when the lead was converted.",
        metadata=requires(DEALS_READ),
    )


async def company_contacts(
    found: list[SalesCompany], context: RequestContext
) -> list[list[CustomerRow]]:
    """Each company's contacts the caller sees (the core's customer scope applies)."""
    async with context.app.read() as session:
        out = await companies.contacts_of(session, [c.id for c in found])  # type: ignore[misc]
    return [out[c.id] for c in found]  # type: ignore[index]


async def company_deals(
    found: list[SalesCompany], context: RequestContext
) -> list[list[SalesDeal]]:
    """The deals of each company's contacts within the caller's deal scope, newest first."""
    seen = sight(context.principal, DEALS_READ)
    ids = [c.id for c in found]
    async with context.app.read() as session:
        rows = await companies.deals_of(session, ids, seen)  # type: ignore[arg-type]
    out: dict[int, list[SalesDeal]] = {pk: [] for pk in ids}  # type: ignore[misc]
    for company_id, deal in rows:
        out[company_id].append(deal)
    return [out[c.id] for c in found]  # type: ignore[index]


async def suggested(found: list[SalesCompany], context: RequestContext) -> list[list[CustomerRow]]:
    async with context.app.read() as session:
        out = await companies.suggested_contacts(session, found)
    return [out[c.id] for c in found]  # type: ignore[index]


@strawberry.type(name="Company", description="An account: a business with contacts and deals.")
class CompanyType(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, SalesCompany)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return _gid("Company", self)

    name: str
    domain: str | None
    industry: str | None
    size: int | None = strawberry.field(description="Employees.")
    attributes: JSON
    created_at: datetime
    updated_at: datetime | None = strawberry.field(description="Null until first changed.")
    version: int = strawberry.field(description="Give it as expectedVersion when changing it.")
    owner: UserType | None = table_field(user_of("owner_id"), metadata=requires("users:read"))
    contacts: list[CustomerType] = batch_field(
        company_contacts,
        description="Customers linked to the company, by name.",
        metadata=requires("customers:read"),
    )
    deals: list[DealType] = batch_field(
        company_deals,
        description="Its contacts' deals, newest first.",
        metadata=requires(DEALS_READ),
    )
    suggested_contacts: list[CustomerType] = batch_field(
        suggested,
        description="Customers with an e-mail address at the company's domain who are no "
        "company's contact yet: suggestions only, link them with linkCompanyContact.",
        metadata=requires("customers:read"),
    )


async def customer_companies(
    customers: list[CustomerRow], context: RequestContext
) -> list[SalesCompany | None]:
    seen = sight(context.principal, DEALS_READ)
    async with context.app.read() as session:
        found = await companies.companies_of(session, [c.id for c in customers], seen)
    return [found.get(c.id) for c in customers]


@strawberry.type
class CustomerCompany:
    account: CompanyType | None = batch_field(
        customer_companies,
        description="The company (account) the customer is a contact of, where one is linked; "
        "the free-text `company` stays for B2C.",
        metadata=requires(DEALS_READ),
    )


@strawberry.enum(name="SalesTaskStatus")
class TaskStatus(Enum):
    OPEN = "open"
    DONE = "done"


async def task_leads(tasks: list[SalesTask], context: RequestContext) -> list[SalesLead | None]:
    seen = sight(context.principal, LEADS_READ)
    ids = sorted({t.lead_id for t in tasks if t.lead_id})
    async with context.app.read() as session:
        found = await seen.rows(session, SalesLead, ids)  # type: ignore[arg-type]
    return [found.get(t.lead_id) for t in tasks]  # type: ignore[arg-type]


async def task_deals(tasks: list[SalesTask], context: RequestContext) -> list[SalesDeal | None]:
    seen = sight(context.principal, DEALS_READ)
    ids = sorted({t.deal_id for t in tasks if t.deal_id})
    async with context.app.read() as session:
        rows = await deals.visible_deals(session, ids, seen)  # type: ignore[arg-type]
    by_id = {row.id: row for row in rows}
    return [by_id.get(t.deal_id) for t in tasks]  # type: ignore[arg-type]


@strawberry.type(name="SalesTask", description="A follow-up with a due time.")
class SalesTaskType(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, SalesTask)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return _gid("SalesTask", self)

    title: str
    notes: str | None = strawberry.field(metadata=personal_data("text"))
    due_at: datetime

    @strawberry.field
    def status(self) -> TaskStatus:
        return TaskStatus(self.status)  # type: ignore[arg-type]

    @strawberry.field(description="Open and past its due time.")
    def overdue(self) -> bool:
        return self.status == "open" and self.due_at < utcnow()  # type: ignore[operator]

    done_at: datetime | None
    created_at: datetime
    version: int
    owner: UserType | None = table_field(user_of("owner_id"), metadata=requires("users:read"))
    lead: LeadType | None = batch_field(
        task_leads, parent_columns=("lead_id",), metadata=requires(LEADS_READ)
    )
    deal: DealType | None = batch_field(
        task_deals, parent_columns=("deal_id",), metadata=requires(DEALS_READ)
    )
    customer: CustomerType | None = table_field(
        Related(CustomerRow, key="id", parent_key="about_customer_id"),
        metadata=requires("customers:read"),
    )


async def form_paths(forms: list[SalesWebForm], context: RequestContext) -> list[str]:
    """Where each form posts, with a link token signed when read (it expires)."""
    return [f"/p/sales/forms/{form_token(context.app, form)}" for form in forms]


@strawberry.type(name="SalesWebForm", description="A web-to-lead form.")
class SalesWebFormType(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, SalesWebForm)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return _gid("SalesWebForm", self)

    name: str

    @strawberry.field
    def source(self) -> LeadSource:
        return LeadSource(self.source)  # type: ignore[arg-type]

    honeypot: str = strawberry.field(
        description="The hidden field bots fill: a submission that fills it is dropped."
    )
    active: bool
    owner: UserType | None = table_field(user_of("owner_id"), metadata=requires("users:read"))

    path: str = batch_field(form_paths, description="Where the form posts: /p/sales/forms/{token}.")


@strawberry.type(name="LeadAssignmentRule", description="Round robin within a team.")
class LeadAssignmentRuleType(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, SalesAssignmentRule)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return _gid("LeadAssignmentRule", self)

    name: str
    position: int
    attribute: str | None = strawberry.field(
        description="The lead attribute (or `source`, `company`) a territory matches on; null: "
        "every lead."
    )
    values: list[str]
    team: TeamType | None = table_field(team_of("team_id"), metadata=requires("users:read"))


ROW_TYPES = {
    SalesLead: LeadType,
    SalesCompany: CompanyType,
    SalesTask: SalesTaskType,
    SalesWebForm: SalesWebFormType,
    SalesAssignmentRule: LeadAssignmentRuleType,
}
