"""The sales tables: prefixed ``sales_``, pointing at core customers and users, never altering
them. Amounts are ``MoneyColumn`` with their own currency column (no silent conversion)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import Column, Integer

from crm_graph.plugin import Field, JsonColumn, MoneyColumn, SQLModel, UTCDateTimeColumn, utcnow

# Stage kinds: a deal in a WON or LOST stage is closed.
OPEN, WON, LOST = "open", "won", "lost"
# Lead sources and statuses.
SOURCES = ("web", "referral", "event", "import", "partner", "advertising", "phone", "other")
NEW, WORKING, QUALIFIED, DISQUALIFIED, CONVERTED = (
    "new",
    "working",
    "qualified",
    "disqualified",
    "converted",
)


class SalesPipeline(SQLModel, table=True):
    """A sales process: its stages, in order, take a deal from first contact to won or lost."""

    __tablename__ = "sales_pipeline"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    position: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class SalesStage(SQLModel, table=True):
    """One step of a pipeline, with the probability that a deal in it is won (percent). A
    removed stage stays (``removed_at``) for the stage history of the deals that were in it;
    its name is unique among the pipeline's live stages (checked on write)."""

    __tablename__ = "sales_stage"

    id: int | None = Field(default=None, primary_key=True)
    pipeline_id: int = Field(foreign_key="sales_pipeline.id", index=True)
    name: str = Field(max_length=100)
    position: int
    probability: int  # 0..100; 100 for a won stage, 0 for a lost one
    kind: str = Field(default=OPEN, max_length=8)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)


_deal_version = Column("version", Integer, nullable=False, default=1)


class SalesDeal(SQLModel, table=True):
    """An opportunity to sell to a customer: its amount, stage, owner and close date."""

    __tablename__ = "sales_deal"
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": _deal_version}

    id: int | None = Field(default=None, primary_key=True)
    # The deal's id in another system (imports match on it; added by migration 0002).
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    name: str = Field(max_length=200)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    pipeline_id: int = Field(foreign_key="sales_pipeline.id", index=True)
    stage_id: int = Field(foreign_key="sales_stage.id", index=True)
    status: str = Field(default=OPEN, max_length=8, index=True)  # the stage's kind
    amount: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))
    currency: str = Field(max_length=3)
    expected_close_date: date | None = Field(default=None, index=True)
    owner_id: str | None = Field(
        default=None, max_length=200, foreign_key="auth_user.user_id", index=True
    )
    lost_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    stage_entered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    version: int = Field(default=1, sa_column=_deal_version)


class SalesDealStageChange(SQLModel, table=True):
    """A deal entering a stage (the first row: its creation), kept so that time in stage and
    cycle time are measured, not guessed."""

    __tablename__ = "sales_deal_stage_change"

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="sales_deal.id", index=True)
    from_stage_id: int | None = Field(default=None, foreign_key="sales_stage.id")
    to_stage_id: int = Field(foreign_key="sales_stage.id")
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    changed_by: str | None = Field(default=None, max_length=200)


TABLES = [SalesPipeline, SalesStage, SalesDeal, SalesDealStageChange]


# Step 2: companies, leads, tasks and web-to-lead forms -------------------------------------

PII: dict[str, Any] = {"pii": True}
PII_EMAIL: dict[str, Any] = {"pii": "email"}
PII_PHONE: dict[str, Any] = {"pii": "phone"}


class SalesCompany(SQLModel, table=True):
    """An account: a business the team sells to, with its contacts (customers) and deals."""

    __tablename__ = "sales_company"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=300)
    domain: str | None = Field(default=None, max_length=253, unique=True)
    industry: str | None = Field(default=None, max_length=100)
    size: int | None = None  # employees
    owner_id: str | None = Field(
        default=None, max_length=200, foreign_key="auth_user.user_id", index=True
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonColumn, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    # Added by migration 0004 (companies created before it have no update time).
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class SalesCompanyContact(SQLModel, table=True):
    """A customer who is a contact of a company (one company per customer)."""

    __tablename__ = "sales_company_contact"

    id: int | None = Field(default=None, primary_key=True)
    company_id: int = Field(foreign_key="sales_company.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", unique=True)


class SalesLead(SQLModel, table=True):
    """Someone who may buy, not yet a customer: worked, qualified, then converted (or
    disqualified with a reason). Name and contact details are personal data."""

    __tablename__ = "sales_lead"
    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    name: str = Field(max_length=300, sa_column_kwargs={"info": PII})
    company: str | None = Field(default=None, max_length=300, sa_column_kwargs={"info": PII})
    email: str | None = Field(
        default=None, max_length=320, index=True, sa_column_kwargs={"info": PII_EMAIL}
    )
    phone: str | None = Field(
        default=None, max_length=32, index=True, sa_column_kwargs={"info": PII_PHONE}
    )
    source: str = Field(default="other", max_length=16, index=True)
    status: str = Field(default="new", max_length=16, index=True)
    disqualified_reason: str | None = Field(default=None, max_length=500)
    owner_id: str | None = Field(
        default=None, max_length=200, foreign_key="auth_user.user_id", index=True
    )
    score: int | None = None
    score_factors: list[Any] = Field(
        default_factory=list, sa_column=Column(JsonColumn, nullable=False)
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonColumn, nullable=False, info=PII)
    )
    # Not ``customer_id``: an unconverted lead has none, and the core scopes rows by that name.
    converted_customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    converted_deal_id: int | None = Field(default=None, foreign_key="sales_deal.id")
    converted_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    form_id: int | None = Field(default=None, foreign_key="sales_web_form.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    version: int = Field(default=1)


class SalesTask(SQLModel, table=True):
    """A follow-up with a due time, owned by a rep, about a lead, a deal or a customer."""

    __tablename__ = "sales_task"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=300)
    notes: str | None = Field(default=None, max_length=5000, sa_column_kwargs={"info": PII})
    due_at: datetime = Field(sa_type=UTCDateTimeColumn, index=True)
    owner_id: str | None = Field(
        default=None, max_length=200, foreign_key="auth_user.user_id", index=True
    )
    status: str = Field(default="open", max_length=8, index=True)
    lead_id: int | None = Field(default=None, foreign_key="sales_lead.id", index=True)
    deal_id: int | None = Field(default=None, foreign_key="sales_deal.id", index=True)
    # Not ``customer_id``: a task about a lead has none, and the core scopes rows by that name.
    about_customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    # Set, once, in the transaction that emits task.due: the mark that makes it once per task.
    due_emitted_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    version: int = Field(default=1)


class SalesWebForm(SQLModel, table=True):
    """A web-to-lead form: its submissions become leads of ``source`` (default ``web``)."""

    __tablename__ = "sales_web_form"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    source: str = Field(default="web", max_length=16)
    owner_id: str | None = Field(default=None, max_length=200, foreign_key="auth_user.user_id")
    honeypot: str = Field(default="website", max_length=64)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


TABLES += [SalesCompany, SalesCompanyContact, SalesWebForm, SalesLead, SalesTask]


class SalesAssignmentRule(SQLModel, table=True):
    """Who gets a new lead: the rules are tried by position; the first that matches (every
    lead, or those whose ``attribute`` is one of ``values``: a territory) gives the lead to
    the next member of its team, round robin."""

    __tablename__ = "sales_assignment_rule"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    position: int = 0
    team_id: int = Field(foreign_key="auth_team.id")
    attribute: str | None = Field(default=None, max_length=100)
    values: list[Any] = Field(default_factory=list, sa_column=Column(JsonColumn, nullable=False))
    last_user_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


TABLES.append(SalesAssignmentRule)


class SalesQuote(SQLModel, table=True):
    """A priced offer for a deal, in the deal's currency: DRAFT, SENT, then ACCEPTED (a core
    order is placed and the deal won), DECLINED or EXPIRED. The contact it is addressed to is
    personal data."""

    __tablename__ = "sales_quote"

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="sales_deal.id", index=True)
    status: str = Field(default="draft", max_length=10, index=True)
    currency: str = Field(max_length=3)
    valid_until: date | None = None
    contact_name: str | None = Field(default=None, max_length=300, sa_column_kwargs={"info": PII})
    contact_email: str | None = Field(
        default=None, max_length=320, sa_column_kwargs={"info": PII_EMAIL}
    )
    subtotal: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))
    discount: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))
    tax: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))
    total: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))
    order_id: int | None = Field(default=None, foreign_key="order.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    version: int = 1


class SalesQuoteLine(SQLModel, table=True):
    """One product of a quote: its price (the catalogue's or an override), discount and tax."""

    __tablename__ = "sales_quote_line"

    id: int | None = Field(default=None, primary_key=True)
    quote_id: int = Field(foreign_key="sales_quote.id", index=True)
    position: int
    product_id: int = Field(foreign_key="product.id")
    quantity: int
    unit_price: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))
    discount_percent: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))
    tax_rate_percent: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))
    net: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))
    tax: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))


TABLES += [SalesQuote, SalesQuoteLine]


class SalesScoringModel(SQLModel, table=True):
    """The lead scoring model in force (one row): learned from the CRM's own converted and
    disqualified leads, or the rules while too few outcomes exist."""

    __tablename__ = "sales_scoring_model"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # learned | rules
    outcomes: int = 0
    auc: float | None = None
    params: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonColumn, nullable=False)
    )
    trained_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


TABLES.append(SalesScoringModel)
