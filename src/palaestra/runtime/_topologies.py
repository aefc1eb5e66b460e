"""Topologies (multi-agent systems) as plugins: `TOPOLOGIES`, one `core.Registry`.

A topology is a name, a pydantic config model (a subclass of `SystemBase`: its
`members`, the topology's own fields, and `roles()` naming which member plays what)
and a build function turning a validated config into an `Operator`. The seven built-in
topologies (`single` ... `pipeline`, `_systems_build`) are registered the same way, so
adding one is one file plus one registration:

```python
from palaestra.runtime import Members, SystemBase, register_topology

class StarConfig(SystemBase):
    hub: str
    def roles(self):
        return [("hub", self.hub)]

@register_topology("star", StarConfig)
def build_star(config: StarConfig, members: Members) -> Operator:
    return Single(members(config.hub, agent=members.agent))
```

and `topology: star` in an experiment's `systems:` or `operator:` is validated by
`StarConfig` (errors name the file and line of the field) and built by `build_star`.
A topology is also reachable by ``package.module:NAME`` (a `Topology` object) and by an
installed distribution's entry point in group ``palaestra.topologies`` (a `Topology`
object, or a module that registers on import); see docs/extending.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from palaestra.core import Operator, UserError
from palaestra.core._plugins import Registry, qualified_name

if TYPE_CHECKING:
    from palaestra.runtime._systems_config import SystemBase

BuildMember = Callable[[str, "str | None"], Operator]
"""Builds the member `name` of a system, acting under an agent name (None: the member's
own, `<system agent>/<name>`)."""


class Members:
    """The members of one system being built, handed to a topology's build function:
    `members(name)` builds member `name` (a leaf operator, or a nested system built
    recursively) with the agent name its model is asked under in the log
    (``<agent>/<name>`` by default; `agent=` gives another: `members.agent` for a member
    acting as the system itself, `members.below("coordinator")` for a role's name)."""

    def __init__(self, build: BuildMember, agent: str):
        self._build = build
        self.agent = agent
        """The agent name of the system itself ("" for the environment's agent)."""

    def __call__(self, name: str, *, agent: str | None = None) -> Operator:
        return self._build(name, agent)

    def many(self, names: list[str] | None) -> dict[str, Operator]:
        """The members `names`, built, by name (in order)."""
        return {name: self(name) for name in names or []}

    def below(self, name: str) -> str:
        """The agent name of `name` inside this system (``<agent>/<name>``)."""
        return f"{self.agent}/{name}" if self.agent else name


C = TypeVar("C", bound="SystemBase")

BuildTopology = Callable[[Any, Members], Operator]
"""(the validated config, its members) -> the system's operator."""


@dataclass(frozen=True)
class Topology:
    """A registered topology: its `name` (the `topology:` value), the pydantic `config`
    model its YAML is validated by, and `build`."""

    name: str
    config: type[SystemBase]
    build: BuildTopology
    description: str = ""

    @property
    def factory(self) -> BuildTopology:
        """What registration errors name (`qualified_name`)."""
        return self.build


def _adapt(name: str, obj: Any, **options: Any) -> Topology:
    if not isinstance(obj, Topology):
        raise UserError(
            f"topology {name!r}: {qualified_name(obj)} is not a palaestra Topology (make "
            "one with palaestra.runtime.Topology(name, config, build), or register it with "
            "register_topology)"
        )
    _check_config(name, obj.config)
    if not callable(obj.build):
        raise UserError(f"topology {name!r}: build {obj.build!r} is not callable")
    return obj if obj.name == name else replace(obj, name=name)


def _check_config(name: str, config: Any) -> None:
    from palaestra.runtime._systems_config import SystemBase

    if not (isinstance(config, type) and issubclass(config, SystemBase)):
        raise UserError(
            f"topology {name!r}: config {config!r} is not a subclass of "
            "palaestra.runtime.SystemBase (which holds `members` and checks `roles()`)"
        )


def _same(old: Topology, new: Topology) -> bool:
    return old.config is new.config and old.build is new.build


def _builtins(name: str | None) -> None:
    # the built-in topologies register themselves where they are built
    importlib.import_module("palaestra.runtime._systems_build")


TOPOLOGIES: Registry[Topology] = Registry(
    "topology", "palaestra.topologies", adapt=_adapt, same=_same, builtins=_builtins
)
"""Every topology by name (`topology:` of a system config)."""


def register_topology(
    name: str,
    config: type[C],
    build: Callable[[C, Members], Operator] | None = None,
    *,
    description: str = "",
    replace: bool = False,
) -> Any:
    """Register topology `name`: systems with ``topology: name`` are validated by
    `config` (a `SystemBase` subclass) and built by `build(config, members)`. Without
    `build`, a decorator of the build function (which it returns unchanged). Registering
    the same config and build again is accepted (a module imported twice); another
    claiming the name is a `UserError` unless `replace`."""
    if not name or "/" in name or ":" in name or name.strip() != name:
        raise UserError(
            f"topology {name!r}: a topology name is non-empty, without spaces at its ends, "
            "'/' or ':' (e.g. 'mybench.star')"
        )
    _check_config(name, config)

    def register(function: Callable[[C, Members], Operator]) -> Callable[[C, Members], Operator]:
        entry = Topology(name, config, function, description or _first_line(config.__doc__))
        TOPOLOGIES.register(name, entry, replace=replace)
        return function

    if build is None:
        return register
    register(build)
    return None


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ")
