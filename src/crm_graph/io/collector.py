"""Keeping Python's garbage collector from rescanning an import's live batches, again and again."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

COLLECT_EVERY = 16  # batches between collections of the young generations


@contextmanager
def collector_relaxed() -> Iterator[None]:
    """An import allocates millions of short-lived objects while batches of them stay alive,
    and the collector's automatic runs rescan every live one, again and again (and the
    modules, the schema): a sixth of an import's time. Set what exists aside and collect
    the young generations only every few batches, once the batches written have become
    garbage: the few cycles a batch leaves (sessions, tasks) go with them. Inside another
    (a small file's reader, in a thread of the writing process) it changes nothing."""
    if not gc.isenabled():
        yield
        return
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
