"""Shared GraphQL building blocks: Node, row types, Money, UserError, Relay connections."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Generic, TypeVar

import strawberry
from babel.numbers import get_currency_precision
from graphql import GraphQLError

from crm_graph.db.paging import Page, PageArgs
from crm_graph.domain.errors import FieldError, ValidationFailed
from crm_graph.ids import GlobalIdError, pk_of, to_global_id

T = TypeVar("T")


@strawberry.interface(description="An object with an opaque, globally unique ID.")
class Node:
    id: strawberry.ID


def row_type(model: type, id_of: str | None = None) -> Callable[[type[T]], type[T]]:
    """Put under ``@strawberry.type`` on a type whose objects are the rows of ``model`` as
    they are (API keys, audit entries, jobs, webhooks, e-mails, users): a row of ``model`` is
    of this type (``is_type_of``, which lists and unions resolve by), and with ``id_of`` the
    type's first field is ``id``, the row's global ID of that type name."""

    def decorate(cls: type[T]) -> type[T]:
        def is_type_of(_cls: type, obj: Any, _info: Any) -> bool:
            return isinstance(obj, model)

        cls.is_type_of = classmethod(is_type_of)  # type: ignore[attr-defined]
        if id_of is not None:

            def id(self: Any) -> strawberry.ID:  # a row of ``model``
                return to_global_id(id_of, self.id)

            cls.id = strawberry.field(id)  # type: ignore[attr-defined]
            cls.__annotations__ = {"id": "strawberry.ID", **inspect.get_annotations(cls)}
        return cls

    return decorate


@strawberry.type(description="An amount of money in an ISO 4217 currency.")
class Money:
    amount: Decimal
    currency: str


@strawberry.type(description="A problem with the input: nothing was written.")
class UserError:
    code: str
    message: str
    field: list[str]

    @classmethod
    def from_domain(cls, error: FieldError) -> UserError:
        return cls(code=error.code, message=error.message, field=list(error.field))


def user_errors(exc: ValidationFailed) -> list[UserError]:
    return [UserError.from_domain(e) for e in exc.errors]


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="All items matching the filter (counted only when asked for).")
    async def total_count(self) -> int:
        return await self.count()

    @strawberry.field(description="The nodes of the edges, for clients that need no cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def to_connection(page: Page, count: Callable[[], Awaitable[int]]) -> Connection[Any]:
    return Connection(
        edges=[
            Edge(node=row, cursor=cursor)
            for row, cursor in zip(page.rows, page.cursors, strict=True)
        ],
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        count=count,
    )


def page_args(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> PageArgs:
    return PageArgs(first=first, after=after, last=last, before=before)


def query_error(code: str, message: str, argument: str) -> GraphQLError:
    """A query-argument problem as a GraphQL error carrying a code and the argument name."""
    return GraphQLError(message, extensions={"code": code, "field": argument})


def id_arg(value: str, expected: str, argument: str = "id") -> int:
    """The primary key behind a query argument ID; a coded GraphQL error otherwise."""
    try:
        return pk_of(value, expected)
    except GlobalIdError as exc:
        raise query_error(exc.code, str(exc), argument) from exc


def input_id(value: str, expected: str, *path: str) -> int:
    """The primary key behind an ID inside a mutation input; a user error otherwise."""
    try:
        return pk_of(value, expected)
    except GlobalIdError as exc:
        raise ValidationFailed([FieldError(exc.code, str(exc), list(path))]) from exc


def provided(data: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The input fields the client actually sent (``UNSET`` ones are left out)."""
    return {
        name: getattr(data, name) for name in names if getattr(data, name) is not strawberry.UNSET
    }


def money(amount: Decimal, currency: str) -> Money:
    """Money rounded to the currency's minor unit (storage keeps four decimals)."""
    exponent = Decimal(1).scaleb(-get_currency_precision(currency))
    return Money(amount=amount.quantize(exponent), currency=currency)
