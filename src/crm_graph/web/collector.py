"""Python's garbage collector in a serving process: what startup built set aside, and the
young generation collected every few responses rather than several times in each."""

from __future__ import annotations

import gc

# Container allocations between young collections (Python's default: 700).
YOUNG_THRESHOLD = 20_000


def settle_collector() -> None:
    """A response builds thousands of short-lived dicts, lists and tuples (the nested bench
    page about 5,000), freed by reference counting as soon as it is sent. At the default
    threshold the collector still runs several times per response, and every older
    collection rescans what startup built (modules, the GraphQL schema, plugins, SQLAlchemy's
    metadata), which never becomes garbage. Freezing that once, and collecting the young
    generation less often, cut the nested page's server CPU by about a third (session 9 in
    docs/benchmarks.md). Only for ``crm-graph serve``'s process (see :mod:`.asgi`): a test
    process creating many apps would keep each one's garbage frozen."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
