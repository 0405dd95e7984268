"""The model modules, loaded on first use: numpy, scipy and scikit-learn (about 110 MB and a
second) load when a model is trained, evaluated or scored, not with the plugin, which every
``crm-graph`` command and the server load.

Each module is imported once, by one worker thread, and every caller awaits that one import.
A module appears in ``sys.modules`` as soon as its import *starts*, so a caller that took it
from there while another thread was still importing it got a half-initialised module.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType

# Process-wide, like the imports themselves; concurrent futures (not asyncio ones) so that
# apps on different event loops share them.
_importer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-analytics-import")
_imports: dict[str, Future[ModuleType]] = {}
_lock = threading.RLock()  # the done callback may run at once, in the thread holding it


def _forget_failure(qualified: str, future: Future[ModuleType]) -> None:
    """A failed import is retried by the next caller instead of failing for good."""
    if future.exception() is not None:
        with _lock:
            if _imports.get(qualified) is future:
                del _imports[qualified]


async def models_module(name: str) -> ModuleType:
    """``crm_analytics.<name>``, fully imported; its first import runs in a worker thread, so a
    server keeps answering meanwhile (it takes about a second)."""
    qualified = f"crm_analytics.{name}"
    with _lock:
        future = _imports.get(qualified)
        if future is None:
            future = _importer.submit(importlib.import_module, qualified)
            _imports[qualified] = future
            future.add_done_callback(lambda done: _forget_failure(qualified, done))
    if future.done() and future.exception() is None:
        return future.result()
    return await asyncio.wrap_future(future)
