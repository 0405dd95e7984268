"""The sales GraphQL of leads, companies, tasks, web forms and assignment rules: queries and
mutations. Resolvers parse input and call the rules of :mod:`crm_sales.leads`,
:mod:`crm_sales.companies`, :mod:`crm_sales.tasks`, :mod:`crm_sales.forms` and
:mod:`crm_sales.assignment` inside ``perform``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_graph.plugin import (
    Connection,
    CustomerRow,
    CustomerType,
    RequestContext,
    SortDirection,
    UserError,
    ValidationFailed,
    fail,
    id_arg,
    input_id,
    list_field,
    lookup_field,
    perform,
    query_error,
    query_field,
    requires,
    rows_field,
)
from crm_sales import assignment, companies, forms, leads, scoring, tasks
from crm_sales.config import (
    DEALS_READ,
    DEALS_WRITE,
    LEADS_MANAGE,
    LEADS_READ,
    LEADS_WRITE,
    TASKS_READ,
    TASKS_WRITE,
)
from crm_sales.lead_views import (
    CompanyType,
    LeadAssignmentRuleType,
    LeadSource,
    LeadStatus,
    LeadType,
    SalesTaskType,
    SalesWebFormType,
    TaskStatus,
)
from crm_sales.nodes import COMPANY, LEAD
from crm_sales.scopes import EVERYTHING, Sight, every_row, sight
from crm_sales.tables import (
    SalesAssignmentRule,
    SalesCompany,
    SalesDeal,
    SalesLead,
    SalesTask,
    SalesWebForm,
)
from crm_sales.views import DealType

MAX_SEARCH = 200


def _sight(info: Info, permission: str) -> Sight:
    return sight(info.context.principal, permission)


def _region(info: Info) -> str:
    return info.context.app.settings.default_phone_region


def _search(principal: Any, text: str | None) -> str | None:
    """A search over personal data: only for callers who may read it."""
    if not text:
        return None
    if len(text) > MAX_SEARCH:
        raise query_error("INVALID_ARGUMENT", f"at most {MAX_SEARCH} characters", "filter.search")
    if not principal.has("pii:read"):
        raise query_error("FORBIDDEN", "searching personal data needs pii:read", "filter.search")
    return text


def _enum_values(values: list[Enum] | None) -> list[str] | None:
    return None if values is None else [v.value for v in values]


# Leads --------------------------------------------------------------------------------------


@strawberry.enum(name="LeadSortField")
class LeadSortField(Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    SCORE = "score"


@strawberry.input(name="LeadOrderBy")
class LeadOrderBy:
    field: LeadSortField = LeadSortField.CREATED_AT
    direction: SortDirection = SortDirection.DESC


@strawberry.input(name="LeadFilter")
class LeadFilter:
    statuses: list[LeadStatus] | None = None
    sources: list[LeadSource] | None = None
    owner_ids: list[str] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    search: str | None = strawberry.field(
        default=None, description="Part of the name, company or e-mail (needs pii:read)."
    )


def lead_statement(principal: Any, filter: LeadFilter | None) -> Any:
    """The leads a filter selects (the list adds the caller's scope)."""
    f = filter or LeadFilter()
    return leads.lead_select(
        EVERYTHING,
        statuses=_enum_values(f.statuses),
        sources=_enum_values(f.sources),
        owner_ids=f.owner_ids,
        created_after=f.created_after,
        created_before=f.created_before,
        search=_search(principal, f.search),
    )


@strawberry.enum(name="LeadScoringKind")
class ScoringKind(Enum):
    LEARNED = "learned"
    RULES = "rules"


@strawberry.type(name="LeadScoringModel")
class LeadScoringModelType:
    kind: ScoringKind = strawberry.field(
        description="LEARNED from converted vs disqualified leads, or RULES while too few exist."
    )
    outcomes: int = strawberry.field(description="Converted plus disqualified leads at training.")
    auc: float | None = strawberry.field(description="Cross-validated ROC AUC (LEARNED only).")
    trained_at: datetime
    features: list[str]


@strawberry.input
class CreateLeadInput:
    name: str
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    source: LeadSource = LeadSource.OTHER
    owner_id: str | None = strawberry.field(
        default=None, description="Left out: the first matching assignment rule, else you."
    )
    attributes: JSON | None = None


@strawberry.input
class UpdateLeadInput:
    id: strawberry.ID
    expected_version: int | None = None
    name: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    source: LeadSource | None = None
    owner_id: str | None = None
    attributes: JSON | None = None


@strawberry.input
class ChangeLeadStatusInput:
    id: strawberry.ID
    status: LeadStatus
    reason: str | None = strawberry.field(default=None, description="Required to disqualify.")
    expected_version: int | None = None


@strawberry.input
class ConvertLeadDealInput:
    amount: Decimal
    currency: str | None = None
    name: str | None = strawberry.field(
        default=None, description="The lead's company (or name) when left out."
    )
    pipeline_id: strawberry.ID | None = None
    stage_id: strawberry.ID | None = None
    expected_close_date: date | None = None


@strawberry.input
class ConvertLeadInput:
    id: strawberry.ID
    dry_run: bool = strawberry.field(default=False, description="Report, write nothing.")
    customer_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Link to this customer; left out: the existing customer duplicate "
        "matching finds (an e-mail or phone match), else a new one.",
    )
    deal: ConvertLeadDealInput | None = strawberry.field(
        default=None, description="Open a deal for the customer too."
    )


@strawberry.type(name="LeadDuplicate", description="An existing customer the lead may be.")
class LeadDuplicateType:
    customer: CustomerType
    score: float
    reasons: list[str]


@strawberry.type
class LeadPayload:
    lead: LeadType | None
    errors: list[UserError]


@strawberry.type
class ConvertLeadPayload:
    dry_run: bool
    lead: LeadType | None
    customer: CustomerType | None = strawberry.field(
        description="The customer linked or created (null on a dry run that would create one)."
    )
    created_customer: bool | None = strawberry.field(
        description="Whether the conversion creates a customer rather than linking one."
    )
    duplicates: list[LeadDuplicateType]
    deal: DealType | None
    errors: list[UserError]


class _DryRun(Exception):
    def __init__(self, conversion: leads.Conversion) -> None:
        self.conversion = conversion


async def _row(info: Info, model: type, pk: int | None) -> Any:
    if pk is None:
        return None
    async with info.context.app.read() as session:
        return await session.get(model, pk)


def _fields(input: Any, names: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for name in names:
        value = getattr(input, name)
        if value is not None and value is not strawberry.UNSET:
            out[name] = value.value if isinstance(value, Enum) else value
    return out


LEAD_FIELDS = ("name", "company", "email", "phone", "source", "owner_id", "attributes")


async def scoring_model(context: RequestContext) -> LeadScoringModelType | None:
    """The model in force, as the query shows it."""
    async with context.app.read() as session:
        model = await scoring.current(session)
    if model is None:
        return None
    return LeadScoringModelType(
        kind=ScoringKind(model.kind),
        outcomes=model.outcomes,
        auc=None if model.auc is None else round(model.auc, 4),
        trained_at=model.trained_at,
        features=model.params.get("features", sorted(scoring.RULE_POINTS)),
    )


@strawberry.type
class LeadQueries:
    leads: Connection[LeadType] = list_field(
        SalesLead,
        lead_statement,
        LeadFilter,
        LeadOrderBy,
        permission=LEADS_READ,
        owner="owner_id",
        description="Leads within your scope, filtered and sorted.",
    )
    lead: LeadType | None = lookup_field(LEAD, description="One lead within your scope.")

    lead_scoring_model: LeadScoringModelType | None = query_field(
        scoring_model,
        description="The lead scoring model in force (null before the first training).",
        metadata=requires(LEADS_READ),
    )
    sales_web_forms: list[SalesWebFormType] = rows_field(
        SalesWebForm,
        every_row(SalesWebForm),
        permission=LEADS_MANAGE,
        description="Web-to-lead forms.",
    )
    lead_assignment_rules: list[LeadAssignmentRuleType] = rows_field(
        SalesAssignmentRule,
        every_row(SalesAssignmentRule),
        ("position",),
        permission=LEADS_MANAGE,
        description="Lead assignment rules, in order.",
    )


@strawberry.type
class LeadMutations:
    @strawberry.mutation(description="A lead; emits lead.created.", metadata=requires(LEADS_WRITE))
    async def create_lead(self, info: Info, input: CreateLeadInput) -> LeadPayload:
        seen, actor = _sight(info, LEADS_WRITE), info.context.principal.user_id
        fields = _fields(input, LEAD_FIELDS)
        lead, errors = await perform(
            info, lambda s: leads.create_lead(s, fields, seen, actor, _region(info))
        )
        return LeadPayload(lead=await _row(info, SalesLead, lead and lead.id), errors=errors)

    @strawberry.mutation(
        description="Change a lead's details; emits lead.updated.", metadata=requires(LEADS_WRITE)
    )
    async def update_lead(self, info: Info, input: UpdateLeadInput) -> LeadPayload:
        seen = _sight(info, LEADS_WRITE)
        fields = _fields(input, LEAD_FIELDS)

        async def work(session):
            pk = input_id(input.id, "Lead", "input", "id")
            return await leads.update_lead(
                session, pk, fields, seen, _region(info), input.expected_version
            )

        lead, errors = await perform(info, work)
        return LeadPayload(lead=await _row(info, SalesLead, lead and lead.id), errors=errors)

    @strawberry.mutation(
        description="Move a lead along NEW, WORKING, QUALIFIED, DISQUALIFIED (with a reason); "
        "emits lead.status_changed.",
        metadata=requires(LEADS_WRITE),
    )
    async def change_lead_status(self, info: Info, input: ChangeLeadStatusInput) -> LeadPayload:
        seen = _sight(info, LEADS_WRITE)

        async def work(session):
            pk = input_id(input.id, "Lead", "input", "id")
            return await leads.change_status(
                session, pk, input.status.value, input.reason, seen, input.expected_version
            )

        lead, errors = await perform(info, work)
        return LeadPayload(lead=await _row(info, SalesLead, lead and lead.id), errors=errors)

    @strawberry.mutation(
        description="Turn a lead into a customer (linking an existing duplicate, or creating "
        "one) and optionally a deal; emits lead.converted. dryRun reports what it would do.",
        metadata=requires(LEADS_WRITE),
    )
    async def convert_lead(self, info: Info, input: ConvertLeadInput) -> ConvertLeadPayload:
        principal = info.context.principal
        seen, deal_seen = _sight(info, LEADS_WRITE), _sight(info, DEALS_WRITE)
        currency = info.context.app.settings.default_currency

        async def work(session):
            pk = input_id(input.id, "Lead", "input", "id")
            customer = (
                input_id(input.customer_id, "Customer", "input", "customerId")
                if input.customer_id
                else None
            )
            spec = None
            if input.deal is not None:
                if not principal.has(DEALS_WRITE):
                    raise fail("FORBIDDEN", "opening a deal needs deals:write", "input", "deal")
                d = input.deal
                spec = leads.DealSpec(
                    amount=d.amount,
                    currency=d.currency or currency,
                    name=d.name,
                    pipeline_id=input_id(
                        d.pipeline_id, "SalesPipeline", "input", "deal", "pipelineId"
                    )
                    if d.pipeline_id
                    else None,
                    stage_id=input_id(d.stage_id, "SalesStage", "input", "deal", "stageId")
                    if d.stage_id
                    else None,
                    expected_close_date=d.expected_close_date,
                )
            done = await leads.convert_lead(
                session,
                pk,
                seen,
                deal_seen,
                principal.user_id,
                _region(info),
                customer_id=customer,
                deal=spec,
            )
            if input.dry_run:
                done.dry_run = True
                raise _DryRun(done)
            return done

        try:
            done, errors = await perform(info, work)
        except _DryRun as dry:
            done, errors = dry.conversion, []
        if done is None:
            return ConvertLeadPayload(
                dry_run=input.dry_run,
                lead=None,
                customer=None,
                created_customer=None,
                duplicates=[],
                deal=None,
                errors=errors,
            )
        async with info.context.app.read() as session:
            ids = [customer_id for customer_id, _score, _reasons in done.candidates]
            rows = await leads.customers_by_id(session, ids)
        duplicates = [
            LeadDuplicateType(customer=rows[pk], score=score, reasons=reasons)  # type: ignore[arg-type]
            for pk, score, reasons in done.candidates
            if pk in rows
        ]
        if done.dry_run:
            customer = (
                None if done.created_customer else await _row(info, CustomerRow, done.customer_id)
            )
            lead = await _row(info, SalesLead, done.lead_id)
            return ConvertLeadPayload(
                dry_run=True,
                lead=lead,
                customer=customer,
                created_customer=done.created_customer,
                duplicates=duplicates,
                deal=None,
                errors=[],
            )
        return ConvertLeadPayload(
            dry_run=False,
            lead=await _row(info, SalesLead, done.lead_id),
            customer=await _row(info, CustomerRow, done.customer_id),
            created_customer=done.created_customer,
            duplicates=duplicates,
            deal=await _row(info, SalesDeal, done.deal_id),
            errors=[],
        )

    @strawberry.mutation(
        description="A web-to-lead form; its `path` takes submissions.",
        metadata=requires(LEADS_MANAGE),
    )
    async def create_sales_web_form(
        self, info: Info, input: CreateSalesWebFormInput
    ) -> SalesWebFormPayload:
        form, errors = await perform(
            info,
            lambda s: forms.create_form(
                s, input.name, input.source.value, input.owner_id, input.honeypot
            ),
        )
        return SalesWebFormPayload(
            form=await _row(info, SalesWebForm, form and form.id), errors=errors
        )

    @strawberry.mutation(
        description="Open or close a web-to-lead form.", metadata=requires(LEADS_MANAGE)
    )
    async def set_sales_web_form_active(
        self, info: Info, input: SetSalesWebFormActiveInput
    ) -> SalesWebFormPayload:
        async def work(session):
            pk = input_id(input.id, "SalesWebForm", "input", "id")
            return await forms.set_active(session, pk, input.active)

        form, errors = await perform(info, work)
        return SalesWebFormPayload(
            form=await _row(info, SalesWebForm, form and form.id), errors=errors
        )

    @strawberry.mutation(
        description="A rule giving new leads (of a territory) to a team's members in turn.",
        metadata=requires(LEADS_MANAGE),
    )
    async def create_lead_assignment_rule(
        self, info: Info, input: CreateLeadAssignmentRuleInput
    ) -> LeadAssignmentRulePayload:
        async def work(session):
            team = input_id(input.team_id, "Team", "input", "teamId")
            return await assignment.create_rule(
                session, input.name, team, input.attribute, input.values or []
            )

        rule, errors = await perform(info, work)
        return LeadAssignmentRulePayload(
            rule=await _row(info, SalesAssignmentRule, rule and rule.id), errors=errors
        )

    @strawberry.mutation(description="Delete an assignment rule.", metadata=requires(LEADS_MANAGE))
    async def delete_lead_assignment_rule(
        self, info: Info, input: DeleteLeadAssignmentRuleInput
    ) -> DeleteLeadAssignmentRulePayload:
        async def work(session):
            pk = input_id(input.id, "LeadAssignmentRule", "input", "id")
            await assignment.delete_rule(session, pk)
            return True

        done, errors = await perform(info, work)
        return DeleteLeadAssignmentRulePayload(deleted=bool(done), errors=errors)


@strawberry.input
class CreateSalesWebFormInput:
    name: str
    source: LeadSource = LeadSource.WEB
    owner_id: str | None = strawberry.field(
        default=None, description="Who gets its leads; left out: the assignment rules decide."
    )
    honeypot: str = strawberry.field(
        default="website", description="A field your page hides from people (bots fill it)."
    )


@strawberry.input
class SetSalesWebFormActiveInput:
    id: strawberry.ID
    active: bool


@strawberry.type
class SalesWebFormPayload:
    form: SalesWebFormType | None
    errors: list[UserError]


@strawberry.input
class CreateLeadAssignmentRuleInput:
    name: str
    team_id: strawberry.ID
    attribute: str | None = None
    values: list[str] | None = None


@strawberry.type
class LeadAssignmentRulePayload:
    rule: LeadAssignmentRuleType | None
    errors: list[UserError]


@strawberry.input
class DeleteLeadAssignmentRuleInput:
    id: strawberry.ID


@strawberry.type
class DeleteLeadAssignmentRulePayload:
    deleted: bool
    errors: list[UserError]


# Companies ----------------------------------------------------------------------------------


@strawberry.input(name="CompanyFilter")
class CompanyFilter:
    search: str | None = strawberry.field(default=None, description="Part of name or domain.")
    owner_ids: list[str] | None = None
    industry: str | None = None


@strawberry.enum(name="CompanySortField")
class CompanySortField(Enum):
    NAME = "name"
    CREATED_AT = "created_at"


@strawberry.input(name="CompanyOrderBy")
class CompanyOrderBy:
    field: CompanySortField = CompanySortField.NAME
    direction: SortDirection = SortDirection.ASC


def company_statement(_principal: Any, filter: CompanyFilter | None) -> Any:
    """The companies a filter selects (the list adds the caller's scope)."""
    f = filter or CompanyFilter()
    if f.search and len(f.search) > MAX_SEARCH:
        raise query_error("INVALID_ARGUMENT", f"at most {MAX_SEARCH} characters", "filter.search")
    return companies.company_select(EVERYTHING, f.owner_ids, f.industry, f.search)


@strawberry.input
class CreateCompanyInput:
    name: str
    domain: str | None = None
    industry: str | None = None
    size: int | None = None
    owner_id: str | None = None
    attributes: JSON | None = None


@strawberry.input
class UpdateCompanyInput:
    id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None, description="The version you saw; a newer one is a CONFLICT."
    )
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    size: int | None = None
    owner_id: str | None = None
    attributes: JSON | None = None


@strawberry.input
class CompanyContactInput:
    company_id: strawberry.ID
    customer_id: strawberry.ID


@strawberry.input
class UnlinkCompanyContactInput:
    customer_id: strawberry.ID


@strawberry.type
class CompanyPayload:
    company: CompanyType | None
    errors: list[UserError]


COMPANY_FIELDS = ("name", "domain", "industry", "size", "owner_id", "attributes")


@strawberry.type
class CompanyQueries:
    companies: Connection[CompanyType] = list_field(
        SalesCompany,
        company_statement,
        CompanyFilter,
        CompanyOrderBy,
        permission=DEALS_READ,
        owner="owner_id",
        description="Companies within your scope.",
    )
    company: CompanyType | None = lookup_field(
        COMPANY, description="One company within your scope."
    )


@strawberry.type
class CompanyMutations:
    @strawberry.mutation(
        description="A company (account); emits company.created.", metadata=requires(DEALS_WRITE)
    )
    async def create_company(self, info: Info, input: CreateCompanyInput) -> CompanyPayload:
        seen, actor = _sight(info, DEALS_WRITE), info.context.principal.user_id
        fields = _fields(input, COMPANY_FIELDS)
        made, errors = await perform(
            info, lambda s: companies.create_company(s, fields, seen, actor)
        )
        return CompanyPayload(
            company=await _row(info, SalesCompany, made and made.id), errors=errors
        )

    @strawberry.mutation(
        description="Change a company's details (the fields given); emits company.updated.",
        metadata=requires(DEALS_WRITE),
    )
    async def update_company(self, info: Info, input: UpdateCompanyInput) -> CompanyPayload:
        seen = _sight(info, DEALS_WRITE)
        fields = _fields(input, COMPANY_FIELDS)

        async def work(session):
            pk = input_id(input.id, "Company", "input", "id")
            return await companies.update_company(session, pk, fields, seen, input.expected_version)

        made, errors = await perform(info, work)
        return CompanyPayload(
            company=await _row(info, SalesCompany, made and made.id), errors=errors
        )

    @strawberry.mutation(
        description="Make a customer a contact of a company (its one company).",
        metadata=requires(DEALS_WRITE),
    )
    async def link_company_contact(self, info: Info, input: CompanyContactInput) -> CompanyPayload:
        seen = _sight(info, DEALS_WRITE)

        async def work(session):
            company = input_id(input.company_id, "Company", "input", "companyId")
            customer = input_id(input.customer_id, "Customer", "input", "customerId")
            return await companies.link_contact(session, company, customer, seen)

        made, errors = await perform(info, work)
        return CompanyPayload(
            company=await _row(info, SalesCompany, made and made.id), errors=errors
        )

    @strawberry.mutation(
        description="A customer is no company's contact any more.", metadata=requires(DEALS_WRITE)
    )
    async def unlink_company_contact(
        self, info: Info, input: UnlinkCompanyContactInput
    ) -> CompanyPayload:
        async def work(session):
            customer = input_id(input.customer_id, "Customer", "input", "customerId")
            await companies.unlink_contact(session, customer)
            return True

        _done, errors = await perform(info, work)
        return CompanyPayload(company=None, errors=errors)


# Tasks --------------------------------------------------------------------------------------


@strawberry.input(name="SalesTaskFilter")
class SalesTaskFilter:
    owner_ids: list[str] | None = None
    statuses: list[TaskStatus] | None = None
    overdue: bool | None = strawberry.field(
        default=None, description="Open tasks past their due time (false: the others)."
    )
    due_within_hours: int | None = strawberry.field(
        default=None, description="Open tasks due from now to this many hours ahead."
    )
    lead_id: strawberry.ID | None = None
    deal_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None


@strawberry.enum(name="SalesTaskSortField")
class SalesTaskSortField(Enum):
    DUE_AT = "due_at"
    CREATED_AT = "created_at"


@strawberry.input(name="SalesTaskOrderBy")
class SalesTaskOrderBy:
    field: SalesTaskSortField = SalesTaskSortField.DUE_AT
    direction: SortDirection = SortDirection.ASC


def task_statement(_principal: Any, filter: SalesTaskFilter | None) -> Any:
    """The tasks a filter selects (the list adds the caller's scope)."""
    f = filter or SalesTaskFilter()
    due_within = None
    if f.due_within_hours is not None:
        if not 0 < f.due_within_hours <= 24 * 366:
            raise query_error("INVALID_ARGUMENT", "1 to 8784 hours", "filter.dueWithinHours")
        due_within = timedelta(hours=f.due_within_hours)

    def about(value: strawberry.ID | None, type_name: str, argument: str) -> int | None:
        return None if value is None else id_arg(value, type_name, argument)

    return tasks.task_select(
        EVERYTHING,
        owner_ids=f.owner_ids,
        statuses=_enum_values(f.statuses),
        overdue=f.overdue,
        due_within=due_within,
        lead_id=about(f.lead_id, "Lead", "filter.leadId"),
        deal_id=about(f.deal_id, "Deal", "filter.dealId"),
        customer_id=about(f.customer_id, "Customer", "filter.customerId"),
    )


@strawberry.input
class CreateSalesTaskInput:
    title: str
    due_at: datetime
    notes: str | None = None
    owner_id: str | None = strawberry.field(default=None, description="You, when left out.")
    lead_id: strawberry.ID | None = None
    deal_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None


@strawberry.input
class UpdateSalesTaskInput:
    id: strawberry.ID
    expected_version: int | None = None
    done: bool | None = None
    due_at: datetime | None = None
    title: str | None = None
    notes: str | None = None


@strawberry.type
class SalesTaskPayload:
    task: SalesTaskType | None
    errors: list[UserError]


@strawberry.type
class TaskQueries:
    sales_tasks: Connection[SalesTaskType] = list_field(
        SalesTask,
        task_statement,
        SalesTaskFilter,
        SalesTaskOrderBy,
        permission=TASKS_READ,
        owner="owner_id",
        description="Tasks within your scope: overdue and due-soon lists through the filter.",
    )


def _task_sights(info: Info) -> dict[str, Sight]:
    return {
        "tasks": _sight(info, TASKS_WRITE),
        "leads": _sight(info, LEADS_READ),
        "deals": _sight(info, DEALS_READ),
    }


@strawberry.type
class TaskMutations:
    @strawberry.mutation(
        description="A task about a lead, a deal or a customer; task.due is emitted once when "
        "it comes due.",
        metadata=requires(TASKS_WRITE),
    )
    async def create_sales_task(self, info: Info, input: CreateSalesTaskInput) -> SalesTaskPayload:
        sights, actor = _task_sights(info), info.context.principal.user_id

        async def work(session):
            def optional(value, type_name, name):
                return input_id(value, type_name, "input", name) if value else None

            return await tasks.create_task(
                session,
                title=input.title,
                due_at=input.due_at,
                notes=input.notes,
                owner_id=input.owner_id,
                lead_id=optional(input.lead_id, "Lead", "leadId"),
                deal_id=optional(input.deal_id, "Deal", "dealId"),
                customer_id=optional(input.customer_id, "Customer", "customerId"),
                sights=sights,
                actor=actor,
            )

        task, errors = await perform(info, work)
        return SalesTaskPayload(task=await _row(info, SalesTask, task and task.id), errors=errors)

    @strawberry.mutation(
        description="Complete, reopen or reschedule a task.", metadata=requires(TASKS_WRITE)
    )
    async def update_sales_task(self, info: Info, input: UpdateSalesTaskInput) -> SalesTaskPayload:
        seen = _sight(info, TASKS_WRITE)

        async def work(session):
            pk = input_id(input.id, "SalesTask", "input", "id")
            return await tasks.update_task(
                session,
                pk,
                seen,
                done=input.done,
                due_at=input.due_at,
                title=input.title,
                notes=input.notes,
                expected_version=input.expected_version,
            )

        task, errors = await perform(info, work)
        return SalesTaskPayload(task=await _row(info, SalesTask, task and task.id), errors=errors)


__all__ = [
    "CompanyMutations",
    "CompanyQueries",
    "LeadMutations",
    "LeadQueries",
    "TaskMutations",
    "TaskQueries",
    "ValidationFailed",
]
