"""A dynamic segment's filter tree: checked (every problem named by its path) and compiled to
one SQL condition on customers, the same on SQLite and PostgreSQL.

A node is ``{"and": [nodes]}``, ``{"or": [nodes]}``, ``{"not": node}`` or ``{"condition":
{"field", "operator", "value", "days", "currency"}}``. Fields are the customer's own columns,
``tags``, ``attributes.<key>``, order aggregates (``orders.count``, ``orders.totalSpent``,
``orders.lastOrderedAt``; ``days`` limits them to the last N days) and, when the analytics
plugin is installed, its stored scores (``analytics.rfmSegment``, ``analytics.churnBand``,
``analytics.churnProbability``, ``analytics.predictedValue``). Each leaf compiles to a
definite true or false (never SQL's NULL), so ``not`` means "everyone else", as in
HubSpot's and Klaviyo's segment builders: a customer without an e-mail *is* in
``not email endsWith "@example.com"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    String,
    and_,
    column,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from crm_graph.plugin import Collector, CustomerRow, OrderRow, json_array_contains

MAX_DEPTH = 12
MAX_CONDITIONS = 100
MAX_VALUES = 1000
MAX_DAYS = 36_500
# Orders that count for aggregates: paid for and not taken back (pending, cancelled and
# refunded orders are no purchase).
PURCHASED = ("paid", "fulfilled")
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# What the analytics plugin stores per customer (read only when it is installed).
SCORES = table(
    "analytics_customer_score",
    column("customer_id"),
    column("rfm_segment", String),
    column("churn_band", String),
    column("churn_probability", Float),
    column("predicted_value", Float),
)


@dataclass(frozen=True)
class FilterContext:
    """What a filter may use: the analytics scores (plugin installed), personal data (the
    caller holds ``pii:read``), the default currency and the time "the last N days" count
    back from."""

    analytics: bool
    personal_data: bool
    currency: str
    now: datetime


class json_value(FunctionElement[Any]):
    """``attributes.<key>`` as text, number or boolean text (``'true'``/``'false'``), NULL when
    missing or of another JSON type, so a comparison never fails on a value of the wrong type."""

    type = String()
    inherit_cache = True
    name = "json_value"


class json_number(json_value):
    """``json_value`` of kind ``number``, typed as a number."""

    type = Float()
    inherit_cache = True
    name = "json_number"


@compiles(json_value, "sqlite")
@compiles(json_number, "sqlite")
def _json_value_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    document, name, kind = element.clauses
    doc = compiler.process(document, **kw)
    key = f"""('$."' || {compiler.process(name, **kw)} || '"')"""  # keys match ATTRIBUTE_KEY
    kind = kind.value
    if kind == "number":
        types = "('integer', 'real')"
        return f"CASE WHEN json_type({doc}, {key}) IN {types} THEN json_extract({doc}, {key}) END"
    if kind == "boolean":
        return f"CASE WHEN json_type({doc}, {key}) IN ('true', 'false') THEN json_type({doc}, {key}) END"
    return f"CASE WHEN json_type({doc}, {key}) = 'text' THEN json_extract({doc}, {key}) END"


@compiles(json_value, "postgresql")
@compiles(json_number, "postgresql")
def _json_value_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    document, path, kind = element.clauses
    doc, key = compiler.process(document, **kw), compiler.process(path, **kw)
    jsonb = {"number": "number", "boolean": "boolean", "text": "string"}[kind.value]
    value = f"({doc} ->> CAST({key} AS TEXT))"
    if kind.value == "number":
        value = f"CAST({value} AS DOUBLE PRECISION)"
    return f"CASE WHEN jsonb_typeof({doc} -> CAST({key} AS TEXT)) = '{jsonb}' THEN {value} END"


# -- value kinds and their operators ------------------------------------------------------

TEXT_OPS = ("eq", "neq", "in", "notIn", "contains", "startsWith", "endsWith", "exists", "notExists")
CHOICE_OPS = ("eq", "neq", "in", "notIn", "exists", "notExists")
NUMBER_OPS = ("eq", "neq", "gt", "gte", "lt", "lte", "exists", "notExists")
DATE_OPS = ("before", "after", "inLastDays", "notInLastDays", "exists", "notExists")
TAG_OPS = ("contains", "notContains", "containsAny")
ATTRIBUTE_OPS = tuple(dict.fromkeys((*TEXT_OPS, *NUMBER_OPS)))
NO_VALUE = ("exists", "notExists")


@dataclass(frozen=True)
class FieldSpec:
    """A field a condition may name: its kind (which operators apply), whether it is personal
    data (needs ``pii:read``), whether it is an order aggregate (takes ``days``) and how it
    reads as SQL."""

    kind: str  # text, choice, number, date, tags, attribute
    sql: Callable[[dict[str, Any], FilterContext], ColumnElement[Any]]
    personal: bool = False
    aggregate: bool = False
    analytics: bool = False
    # Values as stored (lifecycle stages are lower case in the table, upper in GraphQL).
    stored: Callable[[str], str] = str


def _column(name: str) -> Callable[[dict[str, Any], FilterContext], ColumnElement[Any]]:
    return lambda _condition, _context: getattr(CustomerRow, name)


def _orders(condition: dict[str, Any], context: FilterContext) -> Any:
    """The customer's purchases (within ``days``), as the WHERE of a correlated subquery."""
    where = [OrderRow.customer_id == CustomerRow.id, OrderRow.status.in_(PURCHASED)]
    if condition.get("days") is not None:
        where.append(OrderRow.placed_at >= context.now - timedelta(days=condition["days"]))
    return where


def _order_count(condition: dict[str, Any], context: FilterContext) -> ColumnElement[Any]:
    return select(func.count(OrderRow.id)).where(*_orders(condition, context)).scalar_subquery()


def _total_spent(condition: dict[str, Any], context: FilterContext) -> ColumnElement[Any]:
    currency = condition.get("currency") or context.currency
    spent = func.coalesce(func.sum(OrderRow.total), 0)
    where = [*_orders(condition, context), OrderRow.currency == currency]
    return select(spent).where(*where).scalar_subquery()


def _last_ordered(condition: dict[str, Any], context: FilterContext) -> ColumnElement[Any]:
    latest = func.max(OrderRow.placed_at)
    return select(latest).where(*_orders(condition, context)).scalar_subquery()


def _score(name: str) -> Callable[[dict[str, Any], FilterContext], ColumnElement[Any]]:
    def read(_condition: dict[str, Any], _context: FilterContext) -> ColumnElement[Any]:
        found = select(SCORES.c[name]).where(SCORES.c.customer_id == CustomerRow.id)
        return found.scalar_subquery()

    return read


FIELDS: dict[str, FieldSpec] = {
    "name": FieldSpec("text", _column("name"), personal=True),
    "email": FieldSpec("text", _column("email"), personal=True),
    "phone": FieldSpec("text", _column("phone"), personal=True),
    "company": FieldSpec("text", _column("company"), personal=True),
    "externalId": FieldSpec("text", _column("external_id")),
    "ownerId": FieldSpec("text", _column("owner_id")),
    "lifecycleStage": FieldSpec("choice", _column("lifecycle_stage"), stored=str.lower),
    "createdAt": FieldSpec("date", _column("created_at")),
    "tags": FieldSpec("tags", _column("tags")),
    "orders.count": FieldSpec("number", _order_count, aggregate=True),
    "orders.totalSpent": FieldSpec("number", _total_spent, aggregate=True),
    "orders.lastOrderedAt": FieldSpec("date", _last_ordered, aggregate=True),
    "analytics.rfmSegment": FieldSpec("choice", _score("rfm_segment"), analytics=True),
    "analytics.churnBand": FieldSpec("choice", _score("churn_band"), analytics=True),
    "analytics.churnProbability": FieldSpec("number", _score("churn_probability"), analytics=True),
    "analytics.predictedValue": FieldSpec("number", _score("predicted_value"), analytics=True),
}
OPERATORS = {
    "text": TEXT_OPS,
    "choice": CHOICE_OPS,
    "number": NUMBER_OPS,
    "date": DATE_OPS,
    "tags": TAG_OPS,
    "attribute": ATTRIBUTE_OPS,
}
ATTRIBUTES = "attributes."


def field_spec(name: str) -> FieldSpec | None:
    if name.startswith(ATTRIBUTES) and ATTRIBUTE_KEY.match(name[len(ATTRIBUTES) :]):
        return FieldSpec("attribute", _column("attributes"))
    return FIELDS.get(name)


# -- checking -------------------------------------------------------------------------------


def check(tree: Any, context: FilterContext, *at: str) -> dict[str, Any]:
    """The tree, normalised (values parsed, empty keys dropped); every problem at once, each
    with its path under ``at``, raises ``ValidationFailed``."""
    errors = Collector()
    counter = [0]
    normalised = _check_node(tree, context, errors, list(at), 1, counter)
    errors.check()
    return normalised


def _check_node(
    node: Any,
    context: FilterContext,
    errors: Collector,
    at: list[str],
    depth: int,
    counter: list[int],
) -> dict[str, Any]:
    if not isinstance(node, dict):
        errors.add("INVALID_FILTER", "a filter node is an object", *at)
        return {}
    given = [key for key in ("and", "or", "not", "condition") if node.get(key) is not None]
    unknown = sorted(set(node) - {"and", "or", "not", "condition"})
    for key in unknown:
        errors.add("UNKNOWN_FIELD", f"a filter node has no key {key!r}", *at, key)
    if len(given) != 1:
        errors.add("INVALID_FILTER", "give exactly one of and, or, not and condition", *at)
        return {}
    if depth > MAX_DEPTH:
        errors.add("TOO_DEEP", f"a filter nests at most {MAX_DEPTH} levels", *at)
        return {}
    [key] = given
    value = node[key]
    if key in ("and", "or"):
        if not isinstance(value, list) or not value:
            errors.add("INVALID_FILTER", f"{key} takes a non-empty list of filters", *at, key)
            return {}
        children = [
            _check_node(child, context, errors, [*at, key, str(i)], depth + 1, counter)
            for i, child in enumerate(value)
        ]
        return {key: children}
    if key == "not":
        return {"not": _check_node(value, context, errors, [*at, "not"], depth + 1, counter)}
    counter[0] += 1
    if counter[0] == MAX_CONDITIONS + 1:
        errors.add("TOO_LARGE", f"a filter holds at most {MAX_CONDITIONS} conditions", *at)
    return {"condition": _check_condition(value, context, errors, [*at, "condition"])}


def _check_condition(
    condition: Any, context: FilterContext, errors: Collector, at: list[str]
) -> dict[str, Any]:
    if not isinstance(condition, dict):
        errors.add("INVALID_FILTER", "a condition is an object", *at)
        return {}
    for key in sorted(set(condition) - {"field", "operator", "value", "days", "currency"}):
        errors.add("UNKNOWN_FIELD", f"a condition has no key {key!r}", *at, key)
    name, operator = condition.get("field"), condition.get("operator")
    spec = field_spec(name) if isinstance(name, str) else None
    if spec is None:
        known = ", ".join([*FIELDS, "attributes.<key>"])
        errors.add("UNKNOWN_FIELD", f"unknown field {name!r}; known: {known}", *at, "field")
        return {}
    if spec.analytics and not context.analytics:
        errors.add("UNKNOWN_FIELD", f"{name} needs the analytics plugin", *at, "field")
        return {}
    operators = OPERATORS[spec.kind]
    if operator not in operators:
        message = f"unknown operator {operator!r} for {name}; use one of {', '.join(operators)}"
        errors.add("UNKNOWN_OPERATOR", message, *at, "operator")
        return {}
    if spec.personal and operator not in NO_VALUE and not context.personal_data:
        errors.add(
            "FORBIDDEN", f"filtering on {name} needs the permission 'pii:read'", *at, "field"
        )
    clean: dict[str, Any] = {"field": name, "operator": operator}
    for option in ("days", "currency"):
        if condition.get(option) is not None and not spec.aggregate:
            errors.add("INVALID_VALUE", f"{option} applies to order aggregates only", *at, option)
    days = condition.get("days")
    if days is not None and spec.aggregate:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            errors.add("INVALID_VALUE", f"days must be 1 to {MAX_DAYS}", *at, "days")
        else:
            clean["days"] = days
    currency = condition.get("currency")
    if currency is not None and spec.aggregate:
        if name != "orders.totalSpent" or not re.fullmatch(r"[A-Z]{3}", str(currency)):
            errors.add(
                "INVALID_VALUE",
                "currency is an ISO 4217 code of orders.totalSpent",
                *at,
                "currency",
            )
        else:
            clean["currency"] = currency
    value = _check_value(spec.kind, operator, condition.get("value"), errors, [*at, "value"])
    if isinstance(value, str):
        value = spec.stored(value)
    elif isinstance(value, list):
        value = [spec.stored(v) if isinstance(v, str) else v for v in value]
    if operator not in NO_VALUE:
        clean["value"] = value
    return clean


def _check_value(kind: str, operator: str, value: Any, errors: Collector, at: list[str]) -> Any:
    def wrong(message: str) -> None:
        errors.add("INVALID_VALUE", message, *at)

    if operator in NO_VALUE:
        if value is not None:
            wrong(f"{operator} takes no value")
        return None
    if value is None:
        errors.add("REQUIRED", f"{operator} needs a value", *at)
        return None
    if operator in ("in", "notIn", "containsAny"):
        if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
            wrong(f"{operator} takes a list of 1 to {MAX_VALUES} values")
            return None
        if not all(isinstance(v, str) for v in value):
            wrong(f"{operator} takes a list of strings")
        return value
    if operator in ("inLastDays", "notInLastDays"):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
            wrong(f"{operator} takes a number of days, 1 to {MAX_DAYS}")
        return value
    if operator in ("before", "after"):
        moment = _datetime(value)
        if moment is None:
            wrong(f"{operator} takes an ISO 8601 date or date-time")
            return None
        return moment.isoformat()
    if kind == "number" or (kind == "attribute" and operator in ("gt", "gte", "lt", "lte")):
        number = _number(value)
        if number is None:
            wrong(f"{operator} takes a number")
        return value
    if kind == "attribute" and operator in ("eq", "neq"):
        if not isinstance(value, str | bool | int | float):
            wrong("an attribute compares with a string, number or boolean")
        return value
    if not isinstance(value, str):
        wrong(f"{operator} takes a string")
    return value


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- compiling ------------------------------------------------------------------------------


def compile_filter(tree: dict[str, Any], context: FilterContext) -> ColumnElement[bool]:
    """The checked tree as one boolean SQL expression over ``CustomerRow``."""
    if "and" in tree:
        return and_(true(), *(compile_filter(child, context) for child in tree["and"]))
    if "or" in tree:
        return or_(false(), *(compile_filter(child, context) for child in tree["or"]))
    if "not" in tree:
        return not_(compile_filter(tree["not"], context))
    return func.coalesce(_leaf(tree["condition"], context), false(), type_=Boolean())


def _leaf(condition: dict[str, Any], context: FilterContext) -> ColumnElement[Any]:
    name, operator, value = condition["field"], condition["operator"], condition.get("value")
    spec = field_spec(name)
    assert spec is not None  # checked
    if spec.kind == "attribute":
        return _attribute_leaf(name[len(ATTRIBUTES) :], operator, value)
    sql = spec.sql(condition, context)
    if spec.kind == "tags":
        return _tags(sql, operator, value)
    if spec.kind == "date":
        return _date(sql, operator, value, context)
    if spec.kind == "number" and operator not in NO_VALUE:
        value = float(_number(value))  # type: ignore[arg-type]
    return _compare(sql, operator, value)


def _compare(sql: ColumnElement[Any], operator: str, value: Any) -> ColumnElement[Any]:
    match operator:
        case "eq":
            return sql == value
        case "neq":
            return not_(func.coalesce(sql == value, false()))
        case "in":
            return sql.in_(value)
        case "notIn":
            return not_(func.coalesce(sql.in_(value), false()))
        case "contains":
            return func.lower(sql).contains(value.lower(), autoescape=True)
        case "startsWith":
            return func.lower(sql).startswith(value.lower(), autoescape=True)
        case "endsWith":
            return func.lower(sql).endswith(value.lower(), autoescape=True)
        case "gt":
            return sql > value
        case "gte":
            return sql >= value
        case "lt":
            return sql < value
        case "lte":
            return sql <= value
        case "exists":
            return and_(sql.is_not(None), func.coalesce(sql != "", true()))
        case "notExists":
            return or_(sql.is_(None), sql == "")
    raise AssertionError(operator)


def _tags(tags: ColumnElement[Any], operator: str, value: Any) -> ColumnElement[Any]:
    def has(tag: str) -> ColumnElement[Any]:
        return json_array_contains(CustomerRow.__table__.c.tags, literal(tag, String))  # type: ignore[attr-defined]

    if operator == "contains":
        return has(value)
    if operator == "notContains":
        return not_(has(value))
    return or_(*(has(tag) for tag in value))


def _date(sql: ColumnElement[Any], operator: str, value: Any, context: FilterContext) -> Any:
    if operator in ("before", "after"):
        moment = datetime.fromisoformat(value)
        return sql < moment if operator == "before" else sql > moment
    if operator == "inLastDays":
        return sql >= context.now - timedelta(days=value)
    if operator == "notInLastDays":
        since = context.now - timedelta(days=value)
        return or_(sql.is_(None), sql < since)
    return sql.is_not(None) if operator == "exists" else sql.is_(None)


def _attribute_leaf(key: str, operator: str, value: Any) -> ColumnElement[Any]:
    customers = CustomerRow.__table__.c  # type: ignore[attr-defined]

    def read(kind: str) -> ColumnElement[Any]:
        function = json_number if kind == "number" else json_value
        return function(customers.attributes, literal(key, String), literal(kind, String))

    if operator in NO_VALUE:
        present = or_(*(read(kind).is_not(None) for kind in ("text", "number", "boolean")))
        return present if operator == "exists" else not_(present)
    if isinstance(value, bool):
        return _compare(read("boolean"), operator, "true" if value else "false")
    if operator in ("gt", "gte", "lt", "lte") or isinstance(value, int | float):
        return _compare(read("number"), operator, float(_number(value)))  # type: ignore[arg-type]
    return _compare(read("text"), operator, value)
