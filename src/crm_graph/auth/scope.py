"""Ownership scopes, enforced where rows are read: every ORM SELECT of a customer-linked row.

While a GraphQL operation runs, :data:`current_principal` holds its caller. One listener on
SQLAlchemy's ``do_orm_execute`` adds ``with_loader_criteria`` to each ORM statement, so lists,
``node`` lookups, DataLoaders, nested connections, plugin queries and the lookups mutations
make (``session.get``) all see only the rows the caller's scope allows: a guessed id of someone
else's customer is simply not found. No SQL is added for scope ``all``.

Which grant decides: in a mutation's unit of work, the mutation's own permission (its scope
covers every row it touches); elsewhere the ``read`` permission of the row's family
(``customers:read`` for customers and rows hanging off them, ``orders:read`` for orders...).
New customers get the caller as owner (see :func:`_fill_defaults`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, false, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlmodel import SQLModel

from crm_graph.auth.principal import Principal
from crm_graph.db.batch_writes import ROW_DEFAULTS, among, among_parameter, bindparam_value
from crm_graph.db.models import Customer, Interaction, Order

current_principal: ContextVar[Principal | None] = ContextVar("crm_principal", default=None)

# session.info key: the permission whose scope governs a unit of work (set by perform).
SESSION_PERMISSION = "crm_permission"


def governed_by(session: Any, permission: str) -> Any:
    """Let ``permission``'s scope decide every row ``session`` sees, as a mutation's own
    permission does in its unit of work: for a read that applies a rule of that permission
    over rows the caller may not list (a segment filter counting the orders of a caller
    without ``orders:read``) and answers only what that permission shows. The session."""
    session.info[SESSION_PERMISSION] = permission
    return session


READ_PERMISSION = {
    Customer: "customers:read",
    Order: "orders:read",
    Interaction: "interactions:read",
}


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    """Run the block as ``principal`` (None: unrestricted, e.g. CLI and background work)."""
    token = current_principal.set(principal)
    try:
        yield
    finally:
        # ValueError: closed from another context (an abandoned generator): harmless.
        with suppress(ValueError):
            current_principal.reset(token)


_linked: dict[int, list[type]] = {}


def _customer_linked() -> list[type]:
    """Every mapped table with a ``customer_id`` foreign key to ``customer.id``, by name
    (recomputed only when plugins add mapped classes)."""
    mappers = SQLModel._sa_registry.mappers
    if len(mappers) not in _linked:
        found = []
        for mapper in mappers:
            column = mapper.columns.get("customer_id")
            if column is not None and any(
                fk.target_fullname == "customer.id" for fk in column.foreign_keys
            ):
                found.append(mapper.class_)
        _linked[len(mappers)] = sorted(found, key=lambda cls: cls.__name__)
    return _linked[len(mappers)]


def _owned(owners: frozenset[str] | None) -> Any:
    return false() if not owners else Customer.owner_id.in_(sorted(owners))


def _criteria(principal: Principal, permission: str | None) -> tuple[Any, ...]:
    """The loader options for this principal, memoised per governing permission."""
    linked = _customer_linked()
    key = (permission, len(linked))
    if key in principal.memo:
        return principal.memo[key]
    options = []
    for model in [Customer, *linked]:
        governing = permission or READ_PERMISSION.get(model, "customers:read")
        scope = principal.scope(governing)
        if scope == "all":
            continue
        owned = _owned(principal.owners(scope) if scope else frozenset())
        if model is Customer:
            options.append(with_loader_criteria(Customer, owned, include_aliases=True))
        else:
            visible = select(Customer.id).where(owned)
            options.append(
                with_loader_criteria(model, model.customer_id.in_(visible), include_aliases=True)
            )
    principal.memo[key] = tuple(options)
    return principal.memo[key]


def scoped(model: type) -> bool:
    """Whether ownership scopes hide rows of ``model`` (customers and customer-linked rows)."""
    return model is Customer or model in _customer_linked()


def read_predicate(principal: Principal, model: type, dialect: str) -> Any | None:
    """The scope of reading ``model`` as a SQL condition on its rows, for statements that
    bypass the ORM listener (the compiled read path); None when every row is visible.

    The same rule as the listener's criteria, with the owners as one bind parameter (named by
    the scope, valued by :func:`owner_parameters`; an array or a JSON list, not an expanding
    list, so the SQL text is the same whatever the number of owners): one statement, compiled
    once, serves every caller holding the same grants.
    """
    if not scoped(model):
        return None
    scope = principal.scope(READ_PERMISSION.get(model, "customers:read"))
    if scope == "all":
        return None
    owned = (
        false()
        if scope is None
        else among_parameter(
            dialect,
            Customer.owner_id,
            bindparam_value(dialect, ()),  # a placeholder: each request binds its owners
            name=f"crm_owners_{scope}",
        )
    )
    if model is Customer:
        return owned
    return model.customer_id.in_(select(Customer.id).where(owned))  # type: ignore[attr-defined]


def owner_parameters(principal: Principal, dialect: str) -> dict[str, Any]:
    """The values of :func:`read_predicate`'s bind parameters for this caller."""
    return {
        f"crm_owners_{scope}": bindparam_value(dialect, sorted(principal.owners(scope) or ()))
        for scope in ("own", "team")
    }


# Execution option: the statement sees every owner's rows (see :func:`every_owner`).
EVERY_OWNER = "crm_every_owner"


def every_owner(statement: Any) -> Any:
    """``statement`` run over every owner's rows, for a check that a unique column makes
    global (an external id is taken whoever owns the customer). Never for rows a caller sees."""
    return statement.execution_options(**{EVERY_OWNER: True})


def restricted(session: Any) -> bool:
    """Whether this unit of work's caller sees only some owners' rows."""
    principal = current_principal.get()
    if principal is None or principal.unrestricted:
        return False
    return bool(_criteria(principal, session.info.get(SESSION_PERMISSION)))


async def held_out_of_sight(session: Any, column: Any, values: Sequence[Any]) -> set[Any]:
    """Those of ``values`` (none of them visible to the caller) that rows the caller's scope
    hides already hold in the unique ``column``: a unique column is unique across owners, so
    such a value cannot be used, and the caller may not learn whose it is."""
    if not values or not restricted(session):
        return set()
    held = select(column).where(among(session, column, values))
    return set(await session.scalars(every_owner(held)))


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    principal = current_principal.get()
    if principal is None or principal.unrestricted:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get(EVERY_OWNER):
        return
    options = _criteria(principal, state.session.info.get(SESSION_PERMISSION))
    if options:
        state.statement = state.statement.options(*options)


@event.listens_for(Session, "before_flush")
def _fill_defaults(session: Session, _context: Any, _instances: Any) -> None:
    """New rows get the unit of work's defaults (the caller as owner of new customers), as rows
    written in bulk do (:data:`crm_graph.db.batch_writes.ROW_DEFAULTS`)."""
    defaults = session.info.get(ROW_DEFAULTS)
    if not defaults:
        return
    for row in session.new:
        for column, value in defaults.get(getattr(row, "__tablename__", None), {}).items():
            if getattr(row, column, None) is None:
                setattr(row, column, value)
