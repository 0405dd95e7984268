"""Markers: ``@hookimpl`` marks a plugin's hook implementations, ``@hookspec`` the hooks a
plugin declares for other plugins (``crm_add_hookspecs``).

pluggy's options work as documented: ``@hookimpl(tryfirst=True)``, ``trylast=True`` and
``wrapper=True`` change a hook's order or wrap its result, because the core calls every hook
through pluggy's relay.
"""

from __future__ import annotations

import pluggy

from crm_graph.hookspecs import PROJECT, hookspec

hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["hookimpl", "hookspec"]
