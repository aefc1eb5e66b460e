"""Config-backed kinds: the one shape behind operator kinds (`OPERATORS`) and
topologies (`TOPOLOGIES`), and behind any other "name in YAML -> pydantic config ->
build function" plugin.

A kind is a name, the pydantic `config` model its YAML block is validated by, and a
`build` function from a validated config (plus what the caller hands it) to a live
object. `kind_registry` makes the `core.Registry` of such kinds: entries reachable by
name, ``package.module:NAME`` and entry point, a registration checked once (the config
model's base class or required field), the same registration again accepted, and the
built-in kinds registered by importing the module that defines them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from palaestra.core import Registry, UserError, qualified_name

B = TypeVar("B", bound=Callable[..., Any])
K = TypeVar("K", bound="ConfigKind[Any]")


@dataclass(frozen=True)
class ConfigKind(Generic[B]):
    """A registered kind: its `name` (the YAML value naming it), the pydantic `config`
    model its block is validated by, `build`, and a one-line `description`."""

    name: str
    config: type[BaseModel]
    build: B
    description: str = ""

    @property
    def factory(self) -> B:
        """What registration errors name (`qualified_name`)."""
        return self.build


def first_line(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line (a kind's default description)."""
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ")


def kind_registry(
    what: str,
    group: str,
    entry_type: type[K],
    check: Callable[[str, Any], None],
    builtins: str,
    how: str,
) -> Registry[K]:
    """The registry of one family of kinds. `what`: its noun in errors ("topology");
    `group`: its entry-point group; `entry_type`: the `ConfigKind` subclass an entry
    must be; `check(name, config)`: raises a `UserError` for a config model the family
    cannot use; `builtins`: the module whose import registers the built-in kinds;
    `how`: the sentence an error about a wrong object ends with (how to make one)."""

    def adapt(name: str, obj: Any, **options: Any) -> K:
        if not isinstance(obj, entry_type):
            raise UserError(
                f"{what} {name!r}: {qualified_name(obj)} is not a palaestra "
                f"{entry_type.__name__} ({how})"
            )
        check(name, obj.config)
        if not callable(obj.build):
            raise UserError(f"{what} {name!r}: build {obj.build!r} is not callable")
        return obj if obj.name == name else replace(obj, name=name)

    def same(old: K, new: K) -> bool:
        return old.config is new.config and old.build is new.build

    def load_builtins(name: str | None) -> None:
        importlib.import_module(builtins)

    return Registry(what, group, adapt=adapt, same=same, builtins=load_builtins)


def kind_decorator(
    registry: Registry[K],
    make: Callable[[Callable[..., Any]], K],
    build: Callable[..., Any] | None,
    *,
    replace: bool,
) -> Any:
    """Register `make(build)` in `registry`; without `build`, a decorator of the build
    function (returned unchanged)."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        entry = make(function)
        registry.register(entry.name, entry, replace=replace)
        return function

    if build is None:
        return register
    register(build)
    return None
