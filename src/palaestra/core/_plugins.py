"""Plugins: what an outside package adds, reachable three ways by every registry.

- by **reference**, ``package.module:Name`` (``Name`` may be dotted, ``module:Class.attr``):
  the module is imported on demand, the first time the reference is used;
- by **import**: ``palaestra run --import MODULE`` (and `import_modules`) imports a
  module whose import registers what it holds (a script next to the experiment);
- by **entry point**: an installed distribution declares, in its ``pyproject.toml``,

  ```toml
  [project.entry-points."palaestra.envs"]
  "mybench.retail" = "mybench.envs:RETAIL"
  ```

  and the registry loads the entry point named for the id it is asked for, lazily and
  once; an entry point that fails to import is a `UserError` naming its distribution.

`Registry` is the one helper every registry (environments, model providers, ...) is
built on, so the three ways, re-registration and the error for an unknown name (close
matches, how to make a plugin reachable) behave the same everywhere.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from palaestra.core._errors import UserError

if TYPE_CHECKING:  # importlib.metadata and difflib are imported when first needed
    from importlib.metadata import EntryPoint

    from pydantic import BaseModel


def is_reference(name: str) -> bool:
    """Whether `name` has the form ``package.module:Name``."""
    module, sep, attr = name.partition(":")
    return bool(sep) and _is_dotted(module) and _is_dotted(attr)


def _is_dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def import_module(name: str, *, why: str) -> ModuleType:
    """Import `name`; a missing module or one that fails to import is a `UserError`
    (`why` says who asked, e.g. ``--import``). The working directory is searched last,
    as ``python -m`` would, so a script beside the experiment can be named."""
    if not _is_dotted(name):
        raise UserError(f"{why}: {name!r} is not a module name (expected package.module)")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise UserError(
                f"{why}: no module named {exc.name!r} (install the package that provides "
                f"it, or run from the directory that holds {name.split('.')[0]}.py)"
            ) from None
        raise UserError(f"{why}: importing {name!r} failed: {_short(exc)}") from exc
    except UserError:
        raise
    except Exception as exc:  # the plugin's own code: its author must act
        raise UserError(f"{why}: importing {name!r} failed: {_short(exc)}") from exc


def import_modules(names: Iterable[str]) -> None:
    """Import each module (``--import MODULE``, repeatable) for what it registers."""
    for name in names:
        import_module(name, why=f"--import {name}")


def load_reference(reference: str, *, what: str) -> Any:
    """The object that ``package.module:Name`` names (`what`: "environment", ...)."""
    module_name, _, attr = reference.partition(":")
    if not is_reference(reference):
        raise UserError(f"{what} {reference!r}: expected package.module:Name")
    obj: Any = import_module(module_name, why=f"{what} {reference!r}")
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(
                f"{what} {reference!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    return obj


class PluginGroup:
    """The entry points of one group (``palaestra.envs``), read once and loaded lazily:
    `load(name)` imports only the entry points named `name`, each at most once."""

    def __init__(self, group: str, *, what: str):
        self.group = group
        self.what = what
        self._points: list[EntryPoint] | None = None
        self._loaded: dict[str, list[tuple[EntryPoint, Any]]] = {}

    def entry_points(self) -> list[EntryPoint]:
        """Every entry point of the group in the installed distributions (read once)."""
        if self._points is None:
            from importlib.metadata import entry_points

            self._points = sorted(entry_points(group=self.group), key=lambda ep: ep.name)
        return self._points

    def names(self) -> list[str]:
        """The names the installed distributions declare, sorted, without duplicates."""
        return sorted({ep.name for ep in self.entry_points()})

    def load(self, name: str) -> list[tuple[EntryPoint, Any]]:
        """The objects the entry points named `name` point at (empty when none is)."""
        if name not in self._loaded:
            loaded = []
            for point in self.entry_points():
                if point.name == name:
                    loaded.append((point, self._load_one(point)))
            self._loaded[name] = loaded
        return self._loaded[name]

    def load_all(self) -> list[tuple[EntryPoint, Any]]:
        """Every entry point of the group, loaded (for listings such as `palaestra envs`)."""
        return [pair for name in self.names() for pair in self.load(name)]

    def source(self, name: str) -> str:
        """Where entry point `name` comes from: ``entry point of 'dist 1.0' (value)``."""
        points = [point for point in self.entry_points() if point.name == name]
        if not points:
            return "entry point"
        return f"entry point of {distribution(points[0])} ({points[0].value})"

    def _load_one(self, point: EntryPoint) -> Any:
        try:
            return point.load()
        except Exception as exc:  # the plugin's code or packaging: its author must act
            raise UserError(
                f"{self.what} plugin {point.name!r} ({point.value}) from distribution "
                f"{distribution(point)} failed to import: {_short(exc)}; fix or reinstall "
                f"that package, or uninstall it"
            ) from exc


def distribution(point: EntryPoint) -> str:
    """``name version`` of the distribution that declares `point` (or ``unknown``)."""
    dist = point.dist
    if dist is None:
        return "'unknown'"
    return f"'{dist.metadata['Name']} {dist.version}'"


def unknown_name(
    what: str, name: str, known: Iterable[str], *, group: str, references: bool = True
) -> UserError:
    """The error for a name no registry knows: close matches, then how to make a
    plugin reachable (`references`: whether ``package.module:Name`` is one way)."""
    import difflib

    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    ways = "is named package.module:Name, or registered" if references else "is registered"
    return UserError(
        f"unknown {what} {name!r}; {hint}known: {', '.join(known) or '(none)'}. "
        f"An outside {what} {ways} by a module given with --import MODULE, or by an "
        f"installed package's entry point in group {group!r} (see docs/extending.md)"
    )


T = TypeVar("T")


@dataclass(frozen=True)
class PluginRow:
    """One entry of a registry as a listing shows it: `source` is ``built-in``,
    ``registered: module:Name``, ``reference`` or ``entry point of 'dist 1.0' (value)``;
    `error` is set (and `entry` None) for an entry point that fails to import."""

    kind: str
    name: str
    entry: Any
    source: str
    error: str | None = None

    @property
    def description(self) -> str:
        """The entry's description (or its first docstring line)."""
        if self.entry is None:
            return ""
        text = getattr(self.entry, "description", None)
        if not isinstance(text, str) or not text:
            text = getattr(self.entry, "shown", None)  # a model provider's spec form
        if not isinstance(text, str) or not text:
            text = _first_doc_line(_defining_object(self.entry))
        if not text:  # an operator kind: its config model's
            text = _first_doc_line(getattr(self.entry, "config", None))
        return " ".join(text.split())


def _defining_object(entry: Any) -> Any:
    if isinstance(entry, tuple) and len(entry) == 2 and callable(entry[1]):
        return entry[1]  # a (Params, factory) pair
    for attr in ("factory", "build", "export"):
        obj = getattr(entry, attr, None)
        if callable(obj):
            return obj
    return entry


def _first_doc_line(obj: Any) -> str:
    """The first paragraph of `obj`'s own docstring (not one it inherits)."""
    doc = (
        vars(obj).get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    ) or ""
    return doc.strip().split("\n\n")[0] if isinstance(doc, str) else ""


def defined_in(entry: Any) -> str:
    """``module:qualname`` of what defines an entry (its factory, build or export
    function; the factory of a ``(Params, factory)`` pair)."""
    return qualified_name(_defining_object(entry))


class Registry(Generic[T]):
    """Names → entries of one kind (`what`: "environment", "model provider"), reachable
    by registered name, by an entry point of `group`, and, when `references`, by
    ``package.module:Name``.

    `adapt(name, obj, **options)` turns what a reference, an entry point or a lazy
    registration names into an entry (an `EnvSpec` from a class, ...); `same(old, new)`
    says whether a second registration of a name is the first again (accepted: a module
    imported twice) rather than a different entry claiming it (refused). `builtins(name)`
    imports the built-in module that registers `name` (or all of them, given None), so
    that a process pays only for what it uses.
    """

    def __init__(
        self,
        what: str,
        group: str,
        *,
        adapt: Callable[..., T],
        same: Callable[[T, T], bool] = lambda old, new: old is new,
        builtins: Callable[[str | None], None] | None = None,
        references: bool = True,
    ):
        self.what = what
        self.entries: dict[str, T] = {}
        """Registered entries by name (resolved lazy ones and plugins included)."""
        self.lazy: dict[str, tuple[str, dict[str, Any]]] = {}
        """Names registered by a reference string, imported when first asked for."""
        self.origins: dict[str, str] = {}
        """Where the entries that came from an entry point or a reference came from."""
        self.plugins = PluginGroup(group, what=what)
        self._adapt = adapt
        self._same = same
        self._builtins = builtins
        self._references = references

    def register(self, name: str, obj: Any, *, replace: bool = False, **options: Any) -> None:
        """Register `obj` under `name`: an entry, or anything `adapt` takes, or a
        ``package.module:Name`` string (imported when `name` is first asked for)."""
        if isinstance(obj, str):
            if not is_reference(obj):
                raise UserError(f"{self.what} {name!r}: {obj!r} is not package.module:Name")
            known = self.lazy.get(name)
            if not replace:
                if known is not None and known[0] == obj:
                    return  # the same registration again
                if known is not None:
                    self._refuse(name, known[0], obj)
                if name in self.entries:
                    if qualified_name(self.entries[name]) == obj:
                        return  # what the string names is registered already
                    self._refuse(name, self.entries[name], obj)
            self.entries.pop(name, None)
            self.lazy[name] = (obj, options)
            return
        entry = self._adapt(name, obj, **options)
        existing = self.entries.get(name)
        if existing is None and name in self.lazy and not replace:
            existing = self._resolve_lazy(name)
        if existing is not None and not replace and not self._same(existing, entry):
            self._refuse(name, existing, entry)
        if replace:
            self.lazy.pop(name, None)
        self.entries[name] = entry

    def get(self, name: str) -> T:
        """The entry of `name`: registered, a reference (imported now), a built-in, or an
        installed entry point's; else a `UserError` listing close matches."""
        found = self.entries.get(name)
        if found is not None:
            return found
        if name in self.lazy:
            return self._resolve_lazy(name)
        if self._references and is_reference(name):
            self.entries.setdefault(name, self._adapt(name, load_reference(name, what=self.what)))
            self.origins.setdefault(name, "reference")
            return self.entries[name]
        if self._builtins is not None:
            self._builtins(name)
            if name in self.entries:
                return self.entries[name]
        for point, obj in self.plugins.load(name):
            self._adopt(point.name, obj)
        if name in self.entries:
            return self.entries[name]
        if name in self.lazy:
            return self._resolve_lazy(name)
        raise unknown_name(
            self.what, name, self.names(), group=self.plugins.group, references=self._references
        )

    def find(self, name: str) -> T | None:
        """`get`, or None for a name nobody knows (errors of plugins that fail still
        raise)."""
        try:
            return self.get(name)
        except UserError as exc:
            if str(exc).startswith(f"unknown {self.what} "):
                return None
            raise

    def names(self) -> list[str]:
        """Every name known without importing plugins (built-ins loaded), sorted."""
        if self._builtins is not None:
            self._builtins(None)
        return sorted(set(self.entries) | set(self.lazy) | set(self.plugins.names()))

    def all(self) -> dict[str, T]:
        """Every entry, sorted by name: built-ins, registered ones and every installed
        plugin's (each entry point loaded)."""
        if self._builtins is not None:
            self._builtins(None)
        for point, obj in self.plugins.load_all():
            self._adopt(point.name, obj)
        for name in list(self.lazy):
            if name not in self.entries:
                self._resolve_lazy(name)
        return dict(sorted(self.entries.items()))

    def survey(self) -> list[PluginRow]:
        """Every entry with where it comes from, as listings show them (`palaestra
        plugins`): like `all`, but an entry point that fails to import is a row with its
        error instead of an exception, so one broken package does not hide the rest."""
        if self._builtins is not None:
            self._builtins(None)
        broken: dict[str, PluginRow] = {}
        for name in self.plugins.names():
            try:
                for point, obj in self.plugins.load(name):
                    self._adopt(point.name, obj)
            except UserError as exc:
                broken[name] = PluginRow(self.what, name, None, self.plugins.source(name), str(exc))
        for name in list(self.lazy):
            if name not in self.entries:
                try:
                    self._resolve_lazy(name)
                except UserError as exc:
                    broken[name] = PluginRow(self.what, name, None, self.lazy[name][0], str(exc))
        rows = [
            PluginRow(self.what, name, entry, self._source(name, entry))
            for name, entry in self.entries.items()
        ]
        return sorted([*rows, *broken.values()], key=lambda row: row.name)

    def _source(self, name: str, entry: Any) -> str:
        if name in self.origins:
            return self.origins[name]
        defined = defined_in(entry)
        if defined.startswith("palaestra."):
            return "built-in"
        if name in self.lazy:
            return f"registered: {self.lazy[name][0]}"
        return f"registered: {defined}"

    def _adopt(self, name: str, obj: Any) -> None:
        """Register what entry point `name` loaded: a module registers its entries on
        import (nothing more to do); anything else is registered under `name`."""
        source = self.plugins.source(name)
        if isinstance(obj, ModuleType):
            for known, entry in self.entries.items():  # what its import registered
                if known not in self.origins and defined_in(entry).startswith(obj.__name__):
                    self.origins[known] = source
            return
        if name in self.entries:
            return
        self.register(name, obj)
        self.origins[name] = source

    def _resolve_lazy(self, name: str) -> T:
        reference, options = self.lazy[name]
        entry = self._adapt(name, load_reference(reference, what=self.what), **options)
        self.entries[name] = entry
        return entry

    def _refuse(self, name: str, old: Any, new: Any) -> None:
        raise UserError(
            f"{self.what} {name!r} is already registered to {qualified_name(old)}; "
            f"{qualified_name(new)} cannot take the name (choose another, or pass "
            f"replace=True)"
        )


def params_from_signature(
    obj: Callable[..., Any], *, exclude: Iterable[str] = ()
) -> tuple[type[BaseModel], list[str]]:
    """A pydantic model of `obj`'s parameters (their annotations and defaults; unknown
    keys refused) and their names, leaving out `exclude` and ``*args``/``**kwargs``: the
    validated parameters of a plugin given as a plain class or function."""
    import inspect
    import typing

    from pydantic import ConfigDict, create_model

    skip = set(exclude)
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return create_model("Params", __config__=ConfigDict(extra="forbid")), []
    try:
        hints = typing.get_type_hints(obj.__init__ if inspect.isclass(obj) else obj)
    except Exception:  # an annotation that cannot be resolved: take any value
        hints = {}
    import dataclasses

    from pydantic import Field

    factories = (
        {f.name: f.default_factory for f in dataclasses.fields(obj)}
        if dataclasses.is_dataclass(obj)
        else {}
    )
    """A dataclass's ``field(default_factory=...)``: its signature shows a placeholder
    (``<factory>``) as the default, which must not become the value."""
    fields: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in skip:
            continue
        annotation = hints.get(parameter.name, Any)
        default = ... if parameter.default is parameter.empty else parameter.default
        factory = factories.get(parameter.name, dataclasses.MISSING)
        if factory is not dataclasses.MISSING:
            default = Field(default_factory=factory)
        fields[parameter.name] = (annotation, default)
    model = create_model("Params", __config__=ConfigDict(extra="forbid"), **fields)
    return model, list(fields)


def qualified_name(obj: Any) -> str:
    """``module:qualname`` of a class or function (of an entry's `factory` when it has
    one); a string as it is."""
    if isinstance(obj, str):
        return obj
    obj = getattr(obj, "factory", obj)
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}:{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
