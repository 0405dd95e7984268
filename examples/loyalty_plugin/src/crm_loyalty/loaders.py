"""Per-request loaders (from ``crm_request_context``): N customers cost one statement."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from crm_graph.plugin import AppContext
from crm_loyalty.accounts import accounts_of
from crm_loyalty.models import LoyaltyAccount


class LoyaltyLoaders:
    """Created fresh for every request; ``accounts`` maps a customer id to its account."""

    def __init__(self, app: AppContext) -> None:
        async def load(customer_ids: Sequence[int]) -> list[LoyaltyAccount | None]:
            async with app.read() as session:
                found = {a.customer_id: a for a in await accounts_of(session, customer_ids)}
            return [found.get(i) for i in customer_ids]

        self.accounts: DataLoader[int, LoyaltyAccount | None] = DataLoader(load_fn=load)

    def remember(self, account: LoyaltyAccount) -> None:
        """Replace a cached account after this request changed it."""
        self.accounts.prime(account.customer_id, account, force=True)
