"""The stable API for plugin authors. Plugins import from here and nowhere else in crm_graph.

A plugin is a module (or object) with hook implementations marked ``@hookimpl``, published
under the ``crm_graph.plugins`` entry-point group. See ``docs/plugins.md``.

Every name lives in one group, a submodule named after it, and is re-exported here:

- :mod:`~crm_graph.plugin.markers`: ``hookimpl`` and ``hookspec``;
- :mod:`~crm_graph.plugin.contributions`: what hooks return (metadata, storage, schema,
  event types, permissions);
- :mod:`~crm_graph.plugin.app`: the running app and the per-request context;
- :mod:`~crm_graph.plugin.tables`: a plugin's own tables, the core rows (``...Row``) and column
  types (``...Column``);
- :mod:`~crm_graph.plugin.types`: GraphQL types of the core (``...Type``), IDs, user errors and
  field declarations;
- :mod:`~crm_graph.plugin.fields`: the field contract (table-backed and batch fields);
- :mod:`~crm_graph.plugin.domain`: the unit of work and typed user errors;
- :mod:`~crm_graph.plugin.events`: emitting events and the stored event handlers receive;
- :mod:`~crm_graph.plugin.data`: import and export kinds (``crm_data_kinds``) and what their
  checks, writes and exports are written with;
- :mod:`~crm_graph.plugin.routes`: HTTP routes under ``/p/<plugin name>/`` (``crm_routes``);
- :mod:`~crm_graph.plugin.tokens`: signed, expiring, optionally single-use link tokens;
- :mod:`~crm_graph.plugin.scheduler`: periodic and one-shot background jobs;
- :mod:`~crm_graph.plugin.email`: outbound e-mail, queued in the unit of work;
- :mod:`~crm_graph.plugin.people`: users and teams, for owner, assignee and team-queue fields.
"""

from __future__ import annotations

# Each group's module lists its names in its own __all__; this package re-exports them all.
from crm_graph.plugin import (
    app,
    contributions,
    data,
    domain,
    email,
    events,
    fields,
    markers,
    people,
    routes,
    scheduler,
    tables,
    tokens,
    types,
)
from crm_graph.plugin.app import *  # noqa: F403
from crm_graph.plugin.contributions import *  # noqa: F403
from crm_graph.plugin.data import *  # noqa: F403
from crm_graph.plugin.domain import *  # noqa: F403
from crm_graph.plugin.email import *  # noqa: F403
from crm_graph.plugin.events import *  # noqa: F403
from crm_graph.plugin.fields import *  # noqa: F403
from crm_graph.plugin.markers import *  # noqa: F403
from crm_graph.plugin.people import *  # noqa: F403
from crm_graph.plugin.routes import *  # noqa: F403
from crm_graph.plugin.scheduler import *  # noqa: F403
from crm_graph.plugin.tables import *  # noqa: F403
from crm_graph.plugin.tokens import *  # noqa: F403
from crm_graph.plugin.types import *  # noqa: F403

# The public surface, group by group in the order of the docs.
__all__: list[str] = []
__all__ += markers.__all__
__all__ += contributions.__all__
__all__ += app.__all__
__all__ += tables.__all__
__all__ += types.__all__
__all__ += fields.__all__
__all__ += domain.__all__
__all__ += events.__all__
__all__ += data.__all__
__all__ += routes.__all__
__all__ += tokens.__all__
__all__ += scheduler.__all__
__all__ += email.__all__
__all__ += people.__all__
