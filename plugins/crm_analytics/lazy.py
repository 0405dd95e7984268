"""The model modules, loaded on first use: numpy, scipy and scikit-learn (about 110 MB and a
second) load when a model is trained, evaluated or scored, not with the plugin, which every
``crm-graph`` command and the server load."""

from __future__ import annotations

import asyncio
import importlib
import sys
from types import ModuleType


async def models_module(name: str) -> ModuleType:
    """``crm_analytics.<name>``; its first import runs in a worker thread, so a server keeps
    answering meanwhile (it takes about a second)."""
    qualified = f"crm_analytics.{name}"
    loaded = sys.modules.get(qualified)
    if loaded is not None:
        return loaded
    return await asyncio.to_thread(importlib.import_module, qualified)
