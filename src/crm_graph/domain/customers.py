"""Customer lifecycle: create, update, upsert by external id, soft delete and restore."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.scope import held_out_of_sight
from crm_graph.auth.users import add_missing_users
from crm_graph.db.jsonable import camel
from crm_graph.db.models import Customer, CustomerMerge, utcnow
from crm_graph.db.storable import problem_of, text_problem
from crm_graph.domain.addresses import normalise_addresses
from crm_graph.domain.changes import apply_changes
from crm_graph.domain.errors import Collector, FieldError, ValidationFailed, fail, not_one_of
from crm_graph.domain.matching import changes_duplicates, rematch
from crm_graph.domain.values import (
    clean_text,
    normalise_birth_date,
    normalise_country,
    normalise_email,
    normalise_language,
    normalise_phone,
    normalise_time_zone,
)
from crm_graph.events.payloads import entity_event

LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "prospect",
    "opportunity",
    "customer",
    "evangelist",
    "churned",
    "other",
)
MAX_TAGS, MAX_TAG_LENGTH = 50, 64
MAX_ATTRIBUTES, MAX_ATTRIBUTES_BYTES = 100, 16_384
COUNTRY_ATTRIBUTE = "country"  # a custom attribute stored as an ISO 3166 alpha-2 code
FIELDS = (
    "external_id",
    "name",
    "email",
    "phone",
    "company",
    "lifecycle_stage",
    "tags",
    "attributes",
    "addresses",
    "birth_date",
    "preferred_language",
    "time_zone",
)


def validate_fields(
    changes: dict[str, Any], region: str, errors: Collector, at: tuple[str, ...] = ("input",)
) -> dict[str, Any]:
    """Normalise the customer fields present in ``changes``; problems go to ``errors`` at
    ``at`` + the field's camelCased name."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        path = (*at, camel(key))
        if key == "name":
            out[key] = clean_text(value, errors, *path, max_length=300, required=True)
        elif key in ("company", "external_id"):
            out[key] = clean_text(value, errors, *path, max_length=300 if key == "company" else 200)
        elif key == "email":
            out[key] = normalise_email(value, errors, *path)
        elif key == "phone":
            out[key] = normalise_phone(value, region, errors, *path)
        elif key == "lifecycle_stage":
            stage = (value or "").strip().lower()
            if stage not in LIFECYCLE_STAGES:
                errors.add("INVALID_VALUE", not_one_of("lifecycle stage", LIFECYCLE_STAGES), *path)
            out[key] = stage
        elif key == "tags":
            out[key] = _tags(value or [], errors, path)
        elif key == "attributes":
            out[key] = _attributes(value or {}, errors, path)
        elif key == "addresses":
            out[key] = normalise_addresses(value, errors, *path)
        elif key == "birth_date":
            out[key] = normalise_birth_date(value, errors, *path)
        elif key == "preferred_language":
            out[key] = normalise_language(value, errors, *path)
        elif key == "time_zone":
            out[key] = normalise_time_zone(value, errors, *path)
        else:
            raise ValueError(f"unknown customer field {key!r}")
    return out


def _tags(values: list[str], errors: Collector, path: tuple[str, ...]) -> list[str]:
    tags: list[str] = []
    for index, raw in enumerate(values):
        tag = clean_text(raw, errors, *path, str(index), max_length=MAX_TAG_LENGTH, required=True)
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        errors.add("TOO_MANY", f"at most {MAX_TAGS} tags", *path)
    return tags


def _attributes(values: Any, errors: Collector, path: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(values, dict):
        errors.add("INVALID_VALUE", "custom attributes must be a JSON object", *path)
        return {}
    if len(values) > MAX_ATTRIBUTES:
        errors.add("TOO_MANY", f"at most {MAX_ATTRIBUTES} custom attributes", *path)
    for key, value in values.items():
        if not isinstance(value, str | int | float | bool | None):
            errors.add(
                "INVALID_VALUE", "attribute values must be strings, numbers or booleans", *path, key
            )
        elif (problem := text_problem(key) or problem_of(value)) is not None:
            errors.add(problem.code, problem.message, *path, key)
    if len(json.dumps(values, default=str)) > MAX_ATTRIBUTES_BYTES:
        errors.add("TOO_LONG", f"custom attributes exceed {MAX_ATTRIBUTES_BYTES} bytes", *path)
    if isinstance(values.get(COUNTRY_ATTRIBUTE), str):
        country = normalise_country(values[COUNTRY_ATTRIBUTE], errors, *path, COUNTRY_ATTRIBUTE)
        values = {**values, COUNTRY_ATTRIBUTE: country}
    return values


async def get_live(session: AsyncSession, customer_id: int, *path: str) -> Customer:
    """The customer, or a NOT_FOUND/DELETED user error naming ``path``."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise fail("NOT_FOUND", "no such customer", *path)
    if customer.deleted_at is not None:
        raise fail("DELETED", "the customer is deleted; restore it first", *path)
    return customer


def check_version(row: Any, expected: int | None) -> None:
    if expected is not None and row.version != expected:
        raise fail(
            "CONFLICT",
            f"the record changed: version is {row.version}, not {expected}; reload and retry",
            "input",
            "expectedVersion",
        )


EXTERNAL_ID_UNAVAILABLE = "EXTERNAL_ID_UNAVAILABLE"


def unavailable(external_id: str) -> str:
    """The message for an external id a customer out of the caller's sight holds: it cannot be
    used, and retrying will not help; whose it is stays unsaid."""
    return f"external id {external_id!r} cannot be used; choose another"


async def _ensure_external_id_free(
    session: AsyncSession, external_id: str | None, own_id: int | None
) -> None:
    if external_id is None:
        return
    existing = await session.scalar(select(Customer.id).where(Customer.external_id == external_id))
    if existing is not None and existing != own_id:
        raise fail(
            "DUPLICATE", f"external id {external_id!r} is already used", "input", "externalId"
        )
    if existing is None and await held_out_of_sight(session, Customer.external_id, [external_id]):
        raise fail(EXTERNAL_ID_UNAVAILABLE, unavailable(external_id), "input", "externalId")
    alias = select(CustomerMerge.id).where(CustomerMerge.external_id == external_id)
    if await session.scalar(alias) is not None:
        raise ValidationFailed([merged_alias(external_id)])


def merged_alias(external_id: str) -> FieldError:
    """Why an upsert cannot create or update a customer by ``external_id``: the id was left
    behind by a customer merged into another (an alias of the survivor)."""
    return FieldError(
        "MERGED",
        f"external id {external_id!r} belongs to a customer merged into another; update that one",
        ["input", "externalId"],
    )


def deleted_by_external_id() -> FieldError:
    """Why an upsert cannot update the customer its external id names: it is deleted."""
    return FieldError(
        "DELETED",
        "the customer with this external id is deleted; restore it first",
        ["input", "externalId"],
    )


async def create_customer(
    session: AsyncSession,
    fields: dict[str, Any],
    region: str,
    *,
    owner_id: str | None = None,
    at: tuple[str, ...] = ("input",),
) -> Customer:
    """A new customer from ``fields`` (the names of ``FIELDS``), owned by ``owner_id`` (by
    default the unit of work's caller); emits ``customer.created``. Problems are user errors
    at ``at`` + the field's name."""
    errors = Collector()
    values = validate_fields({"name": None, **fields}, region, errors, at)
    errors.check()
    await _ensure_external_id_free(session, values.get("external_id"), None)
    customer = Customer(**values, owner_id=owner_id)
    session.add(customer)
    await session.flush()
    await entity_event(session, "customer.created", customer)
    await rematch(session, [customer.id])
    return customer


async def update_customer(
    session: AsyncSession,
    customer_id: int,
    changes: dict[str, Any],
    region: str,
    expected_version: int | None = None,
) -> tuple[Customer, list[str]]:
    """Apply ``changes``; returns the row and the names of the fields that really changed."""
    customer = await get_live(session, customer_id, "input", "id")
    check_version(customer, expected_version)
    errors = Collector()
    values = validate_fields(changes, region, errors)
    errors.check()
    await _ensure_external_id_free(session, values.get("external_id"), customer.id)
    return customer, await _apply(session, customer, values)


async def assign_owner(
    session: AsyncSession,
    customer_id: int,
    owner_id: str | None,
    expected_version: int | None = None,
) -> Customer:
    """Give a customer another owner (``None``: unowned), the owner that ``own`` scopes see.
    An owner id names a user: one not known yet is made (named after its id)."""
    customer = await get_live(session, customer_id, "input", "id")
    check_version(customer, expected_version)
    errors = Collector()
    owner = clean_text(owner_id, errors, "input", "ownerId", max_length=200)
    errors.check()
    if owner is not None:
        await add_missing_users(session, {owner: {}})
    await _apply(session, customer, {"owner_id": owner})
    return customer


async def _apply(session: AsyncSession, customer: Customer, values: dict[str, Any]) -> list[str]:
    """Set the values that differ, stamp ``updated_at`` and emit ``customer.updated`` naming
    them (the version moves with the flush); returns the changed field names."""
    changed = apply_changes(customer, values, utcnow())
    if changed:
        await session.flush()
        await entity_event(session, "customer.updated", customer, changed)
        if changes_duplicates(changed):
            await rematch(session, [customer.id])
    return changed


async def upsert_customer(
    session: AsyncSession, fields: dict[str, Any], region: str
) -> tuple[Customer, bool, list[str]]:
    """Create or update by external id; returns (row, created, changed field names)."""
    errors = Collector()
    external_id = clean_text(
        fields.get("external_id"), errors, "input", "externalId", max_length=200, required=True
    )
    errors.check()
    existing = await session.scalar(select(Customer).where(Customer.external_id == external_id))
    if existing is None:
        return (
            await create_customer(session, {**fields, "external_id": external_id}, region),
            True,
            [],
        )
    if existing.deleted_at is not None:
        raise ValidationFailed([deleted_by_external_id()])
    customer, changed = await update_customer(
        session, existing.id, {k: v for k, v in fields.items() if k != "external_id"}, region
    )
    return customer, False, changed


async def delete_customer(
    session: AsyncSession, customer_id: int, expected_version: int | None = None
) -> Customer:
    """Soft delete: hidden from lists, restorable. GDPR erasure is a separate operation."""
    customer = await get_live(session, customer_id, "input", "id")
    check_version(customer, expected_version)
    customer.deleted_at = customer.updated_at = utcnow()
    await session.flush()
    await entity_event(session, "customer.deleted", customer)
    await rematch(session, [customer.id])
    return customer


async def restore_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise fail("NOT_FOUND", "no such customer", "input", "id")
    if customer.erased_at is not None:
        raise fail("ERASED", "the customer was erased (GDPR); it cannot be restored", "input", "id")
    if customer.deleted_at is None:
        raise fail("NOT_DELETED", "the customer is not deleted", "input", "id")
    merged = select(CustomerMerge.id).where(CustomerMerge.merged_id == customer_id)
    if await session.scalar(merged) is not None:
        raise fail(
            "MERGED", "the customer was merged into another; it cannot come back", "input", "id"
        )
    customer.deleted_at = None
    customer.updated_at = utcnow()
    await session.flush()
    await entity_event(session, "customer.restored", customer)
    await rematch(session, [customer.id])
    return customer
