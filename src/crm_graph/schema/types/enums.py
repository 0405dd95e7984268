"""GraphQL enums and sort inputs. Enum values equal the strings stored in the database."""

from __future__ import annotations

from enum import Enum

import strawberry

from crm_graph.db.paging import Ordering


@strawberry.enum
class LifecycleStage(Enum):
    SUBSCRIBER = "subscriber"
    LEAD = "lead"
    PROSPECT = "prospect"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    EVANGELIST = "evangelist"
    CHURNED = "churned"
    OTHER = "other"


@strawberry.enum
class AddressKind(Enum):
    BILLING = "billing"
    SHIPPING = "shipping"
    OTHER = "other"


@strawberry.enum
class InteractionChannel(Enum):
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    SOCIAL = "social"
    MEETING = "meeting"
    WEB = "web"
    SMS = "sms"
    OTHER = "other"


@strawberry.enum
class InteractionDirection(Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@strawberry.enum
class OrderStatus(Enum):
    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


@strawberry.enum
class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.enum
class CustomerSortField(Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    NAME = "name"


@strawberry.enum
class OrderSortField(Enum):
    PLACED_AT = "placed_at"
    TOTAL = "total"


@strawberry.enum
class InteractionSortField(Enum):
    OCCURRED_AT = "occurred_at"


@strawberry.enum
class ProductSortField(Enum):
    NAME = "name"
    SKU = "sku"
    PRICE = "price"
    CREATED_AT = "created_at"


@strawberry.input
class CustomerOrderBy:
    field: CustomerSortField = CustomerSortField.CREATED_AT
    direction: SortDirection = SortDirection.DESC


@strawberry.input
class OrderOrderBy:
    field: OrderSortField = OrderSortField.PLACED_AT
    direction: SortDirection = SortDirection.DESC


@strawberry.input
class InteractionOrderBy:
    field: InteractionSortField = InteractionSortField.OCCURRED_AT
    direction: SortDirection = SortDirection.DESC


@strawberry.input
class ProductOrderBy:
    field: ProductSortField = ProductSortField.NAME
    direction: SortDirection = SortDirection.ASC


def ordering(model: type, order_by: object) -> Ordering:
    """The keyset ordering for a sort input (field and direction) on ``model``."""
    field = order_by.field.value  # type: ignore[attr-defined]
    direction = order_by.direction  # type: ignore[attr-defined]
    return Ordering(
        name=f"{model.__tablename__}.{field}.{direction.value}",
        columns=(getattr(model, field),),
        descending=direction is SortDirection.DESC,
    )
