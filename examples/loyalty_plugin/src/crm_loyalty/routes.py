"""The plugin's HTTP routes, under ``/p/loyalty/``: a public voucher link and an account view.

A voucher is a signed, single-use link token worth points to one customer: whoever holds the
link redeems it once, without an account of their own (the token is the credential).
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse

from crm_graph.plugin import (
    PUBLIC,
    AppContext,
    PluginRoute,
    RouteContext,
    RouteError,
    input_id,
    to_global_id,
)
from crm_loyalty import accounts
from crm_loyalty.config import READ

VOUCHER = "loyalty.voucher"


def voucher_token(
    app: AppContext, customer_id: int, points: int, valid_for: timedelta = timedelta(days=30)
) -> str:
    """A voucher link's token: ``points`` for one customer, usable once within ``valid_for``."""
    return app.tokens.make(
        VOUCHER, customer_id, valid_for, single_use=True, data={"points": points}
    )


async def redeem(request: Request, context: RouteContext) -> JSONResponse:
    """POST /p/loyalty/redeem/{token}: add the voucher's points, once."""
    async with context.app.write() as session:
        voucher = await context.app.tokens.use(session, request.path_params["token"], VOUCHER)
        account = await accounts.redeem_voucher(
            session, int(voucher.subject), int(voucher.data["points"])
        )
        if account is None:  # raised inside the unit of work: the voucher stays unused
            raise RouteError(404, "NOT_FOUND", "the customer of this voucher no longer exists")
    customer = to_global_id("Customer", account.customer_id)
    return JSONResponse({"customerId": customer, "points": account.points})


async def account(request: Request, context: RouteContext) -> JSONResponse:
    """GET /p/loyalty/accounts/{customerId}: a balance, for callers with ``loyalty:read``."""
    customer_id = input_id(request.path_params["customerId"], "Customer", "customerId")
    if not await accounts.customer_exists(context.app, customer_id):
        raise RouteError(404, "NOT_FOUND", "no such customer")
    async with context.app.read() as session:
        found = await accounts.accounts_of(session, [customer_id])
    points = found[0].points if found else 0
    return JSONResponse({"customerId": request.path_params["customerId"], "points": points})


ROUTES = [
    PluginRoute("/redeem/{token}", redeem, permission=PUBLIC, methods=("POST",)),
    PluginRoute("/accounts/{customerId}", account, permission=READ),
]
