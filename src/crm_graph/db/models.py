"""Core tables. Plugins never alter these; they add their own tables with foreign keys here.

Every mutable row carries ``version`` (SQLAlchemy's optimistic-concurrency counter), so a
concurrent writer that read an older version fails instead of overwriting.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, Date, Index, Integer, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from crm_graph.db.registry import register_tables
from crm_graph.db.types import Json, Money, UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


# Column ``info`` marking personal data: hashed in the audit log, anonymised by GDPR erasure,
# masked for callers without ``pii:read`` (a kind names the mask: see crm_graph.auth.personal).
PII: dict[str, Any] = {"pii": True}
PII_EMAIL: dict[str, Any] = {"pii": "email"}
PII_PHONE: dict[str, Any] = {"pii": "phone"}
PII_ADDRESS: dict[str, Any] = {"pii": "address"}


def version_column() -> Column[int]:
    """A ``version`` column; the same object goes in ``version_id_col`` of the mapper."""
    return Column("version", Integer, nullable=False, default=1)


def _timestamp(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kwargs)


_customer_version = version_column()


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    __table_args__ = (Index("ix_customer_created_at", "created_at"),)
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": _customer_version}

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(
        default=None, max_length=200, unique=True, sa_column_kwargs={"info": PII}
    )
    name: str = Field(max_length=300, sa_column_kwargs={"info": PII})
    email: str | None = Field(
        default=None, max_length=320, index=True, sa_column_kwargs={"info": PII_EMAIL}
    )
    phone: str | None = Field(
        default=None, max_length=32, index=True, sa_column_kwargs={"info": PII_PHONE}
    )
    company: str | None = Field(default=None, max_length=300, sa_column_kwargs={"info": PII})
    lifecycle_stage: str = Field(default="lead", max_length=32)
    tags: list[str] = Field(default_factory=list, sa_column=Column(Json, nullable=False, info=PII))
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(Json, nullable=False, info=PII)
    )
    # Postal addresses, normalised (crm_graph.domain.addresses): a list of objects with kind,
    # lines, city, region, postal_code and country (ISO 3166-1 alpha-2).
    addresses: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(Json, nullable=False, info=PII_ADDRESS)
    )
    birth_date: date | None = Field(default=None, sa_column=Column(Date, info=PII))
    preferred_language: str | None = Field(default=None, max_length=35)  # BCP 47
    time_zone: str | None = Field(default=None, max_length=64)  # IANA
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1, sa_column=_customer_version)
    # The user id (API key or token subject) whose records these are; see ownership scopes.
    owner_id: str | None = Field(default=None, max_length=200, index=True)
    # Set by GDPR erasure: the personal data is gone for good and the row cannot be restored.
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CustomerMatchKey(SQLModel, table=True):
    """A blocking key of a live customer (a 63-bit hash: no personal data), for the duplicate
    finder (crm_graph.domain.matching)."""

    __tablename__ = "customer_match_key"
    __table_args__ = (Index("ix_customer_match_key_key", "key"),)

    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    key: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


class CustomerDuplicate(SQLModel, table=True):
    """A likely duplicate pair (``customer_id`` < ``other_id``), its score and reasons
    (codes and similarities: no values)."""

    __tablename__ = "customer_duplicate"
    __table_args__ = (
        UniqueConstraint("customer_id", "other_id"),
        Index("ix_customer_duplicate_score", "score"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    other_id: int = Field(foreign_key="customer.id", index=True)
    score: float
    reasons: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(Json, nullable=False)
    )
    found_at: datetime = _timestamp()


class DuplicateDismissal(SQLModel, table=True):
    """Two customers a data steward said are not one: never suggested again."""

    __tablename__ = "customer_duplicate_dismissal"
    __table_args__ = (UniqueConstraint("customer_id", "other_id"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    other_id: int = Field(foreign_key="customer.id", index=True)
    dismissed_by: str | None = Field(default=None, max_length=200)
    dismissed_at: datetime = _timestamp()


class DuplicateModel(SQLModel, table=True):
    """A Fellegi-Sunter model fitted by a full rerun; the newest one scores."""

    __tablename__ = "duplicate_model"

    id: int | None = Field(default=None, primary_key=True)
    model: dict[str, Any] = Field(sa_column=Column(Json, nullable=False))
    fitted_at: datetime = _timestamp()


class Interaction(SQLModel, table=True):
    __tablename__ = "interaction"
    __table_args__ = (Index("ix_interaction_customer_occurred", "customer_id", "occurred_at"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    channel: str = Field(max_length=16)
    direction: str = Field(default="inbound", max_length=16)
    subject: str | None = Field(default=None, max_length=500, sa_column_kwargs={"info": PII})
    body: str | None = Field(default=None, sa_column=Column(Text, info=PII))
    occurred_at: datetime = _timestamp()
    created_at: datetime = _timestamp()


_product_version = version_column()


class Product(SQLModel, table=True):
    __tablename__ = "product"
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": _product_version}

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=300)
    category: str | None = Field(default=None, max_length=120, index=True)
    price: Decimal = Field(sa_column=Column(Money, nullable=False))
    currency: str = Field(max_length=3)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    version: int = Field(default=1, sa_column=_product_version)


_order_version = version_column()


class Order(SQLModel, table=True):
    __tablename__ = "order"
    __table_args__ = (Index("ix_order_customer_placed", "customer_id", "placed_at"),)
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": _order_version}

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    number: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    status: str = Field(default="pending", max_length=16)
    currency: str = Field(max_length=3)
    placed_at: datetime = _timestamp()
    total: Decimal = Field(sa_column=Column(Money, nullable=False))
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    version: int = Field(default=1, sa_column=_order_version)


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="order.id", index=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    quantity: int
    unit_price: Decimal = Field(sa_column=Column(Money, nullable=False))


class CustomerMerge(SQLModel, table=True):
    """A customer merged into a survivor; its external id stays findable as an alias."""

    __tablename__ = "customer_merge"

    id: int | None = Field(default=None, primary_key=True)
    merged_id: int = Field(foreign_key="customer.id", unique=True)
    survivor_id: int = Field(foreign_key="customer.id", index=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    merged_at: datetime = _timestamp()


class IdempotencyKey(SQLModel, table=True):
    """A mutation request sent with an ``Idempotency-Key``, per caller: its body's fingerprint,
    and the response once it is known (``status`` is null while the request is in flight).

    Rows are kept 24 hours (see :mod:`crm_graph.domain.idempotency`).
    """

    __tablename__ = "idempotency_key"

    caller: str = Field(primary_key=True, max_length=200)
    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64)
    created_at: datetime = _timestamp(index=True)
    status: int | None = Field(default=None)
    content_type: str | None = Field(default=None, max_length=200)
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary))


def row_defaults(model: type[SQLModel], now: datetime) -> dict[str, Any]:
    """The values the model gives the columns a new row leaves out (its timestamps ``now``):
    rows written in bulk bypass the model and take these, so its defaults are written once.
    Lists and dicts are new for each call."""
    fixed, made = _defaults(model)
    values = dict(fixed)
    for name, make in made:
        values[name] = now if make is utcnow else make()
    return values


@cache
def _defaults(model: type[SQLModel]) -> tuple[dict[str, Any], tuple[tuple[str, Any], ...]]:
    """The model's plain defaults, and its default factories, by column (the key aside)."""
    fields = [(n, f) for n, f in model.model_fields.items() if n != "id" and not f.is_required()]
    fixed = {name: f.default for name, f in fields if f.default_factory is None}
    made = tuple((name, f.default_factory) for name, f in fields if f.default_factory is not None)
    return fixed, made


register_tables(
    Customer,
    Interaction,
    Product,
    Order,
    OrderLine,
    CustomerMerge,
    IdempotencyKey,
    CustomerMatchKey,
    CustomerDuplicate,
    DuplicateDismissal,
    DuplicateModel,
)

__all__ = [
    "Customer",
    "CustomerDuplicate",
    "CustomerMatchKey",
    "CustomerMerge",
    "DuplicateDismissal",
    "DuplicateModel",
    "IdempotencyKey",
    "Interaction",
    "Order",
    "OrderLine",
    "Product",
    "row_defaults",
    "utcnow",
    "version_column",
]
