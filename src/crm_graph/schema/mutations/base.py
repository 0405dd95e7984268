"""Running a mutation's unit of work and turning domain failures into user errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from strawberry.types import Info

from crm_graph.auth.unit import audited
from crm_graph.domain.errors import FieldError, ValidationFailed
from crm_graph.schema.commits import note_commit
from crm_graph.schema.types.common import UserError, provided, user_errors

T = TypeVar("T")


async def perform(
    info: Info, work: Callable[[AsyncSession], Awaitable[T]]
) -> tuple[T | None, list[UserError]]:
    """Run ``work`` in one transaction. Any user error rolls everything back.

    The transaction also writes the mutation's audit row and sees only the rows the caller's
    scope allows (see :mod:`crm_graph.auth.unit`). Once it committed, whatever goes wrong while
    the payload is built is reported as committed (see :mod:`crm_graph.schema.commits`).
    """
    try:
        async with info.context.app.write() as session, audited(session, info):
            result = await work(session)
        note_commit(info)
        info.context.loaders.fields.forget()  # later fields of this request see the write
        return result, []
    except ValidationFailed as exc:
        return None, user_errors(exc)
    except StaleDataError:
        return None, user_errors(
            ValidationFailed(
                [
                    FieldError(
                        "CONFLICT",
                        "the record was changed concurrently; reload and retry",
                        ["input"],
                    )
                ]
            )
        )
    except IntegrityError:
        # A unique constraint raced with a concurrent writer after our own checks passed.
        return None, user_errors(
            ValidationFailed(
                [
                    FieldError(
                        "CONFLICT", "a concurrent change conflicts with this one; retry", ["input"]
                    )
                ]
            )
        )


def fields_of(data: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The input fields the client sent, with enums reduced to their stored values."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in provided(data, names).items()}
