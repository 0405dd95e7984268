"""The DataLoader every per-request loader is: strawberry's, with awaiters that cannot cancel
each other.

A loader hands every field asking for one key the same future. graphql-core cancels a field's
sibling tasks when a non-null field fails (the null propagates, their work is moot), and a task
cancelled while awaiting a future cancels that future too: every other field awaiting the same
key, elsewhere in the response, then got a ``CancelledError`` instead of its rows, which no
error handling catches and which ended the whole request. Each awaiter now awaits the shared
future through its own shield, so cancelling one leaves the others' result intact.
"""

from __future__ import annotations

from asyncio import shield
from collections.abc import Awaitable
from typing import TypeVar

from strawberry.dataloader import DataLoader

K = TypeVar("K")
T = TypeVar("T")


class Loader(DataLoader[K, T]):
    def load(self, key: K) -> Awaitable[T]:
        return shield(super().load(key))
