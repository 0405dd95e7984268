"""Discovering, filtering, checking and ordering plugins. No global manager: one per app."""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from crm_graph import __version__, hookspecs
from crm_graph.contributions import PluginMetadata
from crm_graph.settings import Settings

ENTRY_POINT_GROUP = "crm_graph.plugins"


class PluginError(RuntimeError):
    """A plugin cannot be loaded or conflicts with another; startup stops with this message."""


@dataclass(frozen=True)
class LoadedPlugin:
    name: str
    module: Any
    metadata: PluginMetadata
    settings: BaseModel | None
    distribution: str | None


# The results of hook calls in progress, noted by each plugin's functions (see ``_Registered``).
_NOTED: ContextVar[list[tuple[str, Any]] | None] = ContextVar("crm_graph_noted", default=None)


class _Registered:
    """A plugin as the core registers it with pluggy: the plugin's own hook functions, with
    their pluggy options (``tryfirst``, ``trylast``, ``wrapper``...), except that each function
    that is not a wrapper also notes its result under the plugin's name.

    pluggy hands back a hook's results without saying whose each one is; the core needs that
    to name the two sides of a conflict and to keep each plugin's request state apart.
    """

    def __init__(self, manager: pluggy.PluginManager, name: str, plugin: Any) -> None:
        for attribute in dir(plugin):
            opts = manager.parse_hookimpl_opts(plugin, attribute)
            if opts is None:
                continue
            function = getattr(plugin, attribute)
            if not (opts.get("wrapper") or opts.get("hookwrapper")):
                function = _noting(name, function)
            setattr(self, attribute, function)


def _noting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps the signature (pluggy's argnames) and the hookimpl marker
    def call(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        noted = _NOTED.get()
        if noted is not None and result is not None:
            noted.append((name, result))
        return result

    return call


class PluginSet:
    """The enabled plugins of one app, sorted by name, and their hooks.

    Hooks are called through pluggy's relay (``plugins.hook.crm_schema()``), so ``tryfirst``,
    ``trylast`` and wrappers work as pluggy documents. Plugins are registered in reverse name
    order, which makes pluggy's last-registered-first call order the order of their names.
    """

    def __init__(self, manager: pluggy.PluginManager, plugins: list[LoadedPlugin]) -> None:
        self.manager = manager
        self.plugins = sorted(plugins, key=lambda p: p.name)
        self._registered = {p.name: _Registered(manager, p.name, p.module) for p in self.plugins}
        for name in reversed(self.names):
            manager.register(self._registered[name], name=name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.plugins]

    @property
    def hook(self) -> pluggy.HookRelay:
        """pluggy's relay: ``plugins.hook.<hook name>(**arguments)`` returns the results."""
        return self.manager.hook

    def get(self, name: str) -> LoadedPlugin:
        return next(p for p in self.plugins if p.name == name)

    def each(self, hook: pluggy.HookCaller, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call ``hook`` through the relay; each result with the name of the plugin it came from.

        A result a wrapper put in place of the others' is named after the hook's wrappers. For
        hooks returning a list of results (not ``firstresult`` ones).
        """
        noted: list[tuple[str, Any]] = []
        token = _NOTED.set(noted)
        try:
            results = hook(**kwargs)
        finally:
            _NOTED.reset(token)
        named = []
        for result in results:
            found = next((i for i, (_, r) in enumerate(noted) if r is result), None)
            if found is None:
                named.append((self._wrappers(hook), result))
            else:
                named.append((noted.pop(found)[0], result))
        return named

    def only(self, name: str, hook: str) -> pluggy.HookCaller:
        """``hook`` as plugin ``name`` alone implements it (its own wrappers included): for
        work each plugin does at its own pace, such as following the event log."""
        others = [self._registered[n] for n in self.names if n != name]
        return self.manager.subset_hook_caller(hook, remove_plugins=others)

    def implementers(self, hook: str) -> list[str]:
        """The plugins implementing ``hook``, by name."""
        found = {impl.plugin_name for impl in getattr(self.hook, hook).get_hookimpls()}
        return [name for name in self.names if name in found]

    def _wrappers(self, hook: pluggy.HookCaller) -> str:
        wrappers = [i.plugin_name for i in hook.get_hookimpls() if i.wrapper or i.hookwrapper]
        return "+".join(sorted(wrappers)) or "?"

    def describe(self) -> list[dict[str, Any]]:
        """What ``/plugins`` and ``crm-graph plugins list`` show."""
        return [
            {
                "name": p.name,
                "version": p.metadata.version,
                "requiresCore": p.metadata.requires_core,
                "description": p.metadata.description,
                "distribution": p.distribution,
                "hooks": sorted(
                    h.name for h in self.manager.get_hookcallers(self._registered[p.name]) or []
                ),
            }
            for p in self.plugins
        ]


def discover(settings: Settings) -> list[tuple[str, Any, str | None]]:
    """Import the entry points that settings allow; (name, module, distribution) each."""
    found = []
    for ep in sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
    ):
        if settings.plugins is not None and ep.name not in settings.plugins:
            continue
        if ep.name in settings.disabled_plugins:
            continue
        try:
            module = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {ep.name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        found.append((ep.name, module, ep.dist.name if ep.dist else None))
    if settings.plugins:
        missing = sorted(set(settings.plugins) - {name for name, _, _ in found})
        missing = [m for m in missing if m not in settings.disabled_plugins]
        if missing:
            raise PluginError(
                f"CRM_PLUGINS names plugins that are not installed: {', '.join(missing)}"
            )
    return found


def create_plugin_manager(settings: Settings, plugins: Iterable[Any] | None = None) -> PluginSet:
    """Build the plugin set for one app.

    ``plugins=None`` discovers installed plugins through the ``crm_graph.plugins`` entry
    points, honouring ``CRM_PLUGINS``/``CRM_DISABLED_PLUGINS``; an explicit iterable of plugin
    objects (modules or classes) is used as given, which is how tests pick plugins.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    if plugins is None:
        candidates = discover(settings)
    else:
        candidates = [(None, plugin, None) for plugin in plugins]

    loaded: list[LoadedPlugin] = []
    for entry_name, module, distribution in candidates:
        metadata = _metadata(entry_name, module)
        if any(p.name == metadata.name for p in loaded):
            raise PluginError(f"two plugins are named {metadata.name!r}")
        _check_core_version(metadata)
        loaded.append(
            LoadedPlugin(
                name=metadata.name,
                module=module,
                metadata=metadata,
                settings=_plugin_settings(metadata),
                distribution=distribution,
            )
        )
    plugin_set = PluginSet(manager, loaded)
    plugin_set.hook.crm_add_hookspecs(plugin_manager=manager)
    return plugin_set


def _metadata(entry_name: str | None, module: Any) -> PluginMetadata:
    label = entry_name or getattr(module, "__name__", repr(module))
    hook = getattr(module, "crm_plugin_metadata", None)
    if hook is None:
        raise PluginError(f"plugin {label!r} does not implement crm_plugin_metadata")
    metadata = hook()
    if not isinstance(metadata, PluginMetadata):
        raise PluginError(f"plugin {label!r}: crm_plugin_metadata must return PluginMetadata")
    if entry_name is not None and metadata.name != entry_name:
        raise PluginError(
            f"plugin {label!r} calls itself {metadata.name!r}: the entry point name and "
            "PluginMetadata.name must agree"
        )
    return metadata


def _check_core_version(metadata: PluginMetadata) -> None:
    try:
        spec = SpecifierSet(metadata.requires_core)
    except InvalidSpecifier as exc:
        raise PluginError(
            f"plugin {metadata.name!r} has an invalid requires_core {metadata.requires_core!r}"
        ) from exc
    if not spec.contains(Version(__version__), prereleases=True):
        raise PluginError(
            f"plugin {metadata.name!r} {metadata.version} requires crm-graph "
            f"{metadata.requires_core}, but this is crm-graph {__version__}"
        )


def _plugin_settings(metadata: PluginMetadata) -> BaseModel | None:
    """Read the plugin's settings model from ``CRM_PLUGIN_<NAME>_*`` and validate it."""
    if metadata.settings is None:
        return None
    prefix = f"CRM_PLUGIN_{metadata.name.upper().replace('-', '_')}_"
    reader = type(
        f"{metadata.settings.__name__}FromEnv",
        (metadata.settings, BaseSettings),
        {"model_config": SettingsConfigDict(env_prefix=prefix, extra="ignore")},
    )
    try:
        return metadata.settings.model_validate(reader().model_dump())
    except ValidationError as exc:
        problems = "; ".join(_setting_problem(prefix, error) for error in exc.errors())
        raise PluginError(f"plugin {metadata.name!r} settings are invalid: {problems}") from exc
    except SettingsError as exc:  # e.g. a value that should be JSON and is not
        raise PluginError(
            f"plugin {metadata.name!r} settings ({prefix}*) could not be read: {exc}: "
            f"{exc.__cause__}"
        ) from exc


def _setting_problem(prefix: str, error: Any) -> str:
    """One validation error named by its environment variable, e.g. ``CRM_PLUGIN_X_LIMIT``.

    The offending value is left out: plugin settings often hold secrets.
    """
    if not error["loc"]:  # a model-level validator: no single variable to blame
        return f"{prefix}*: {error['msg']}"
    variable, *inside = [str(part) for part in error["loc"]]
    where = f" (at {'.'.join(inside)})" if inside else ""
    return f"{prefix}{variable.upper()}{where}: {error['msg']}"
