"""Topologies (multi-agent systems) as plugins: `TOPOLOGIES`, one registry of
config-backed kinds (`_kinds`), and `SystemBase`, what every topology's config holds.

A topology is a name, a pydantic config model (a subclass of `SystemBase`: its
`members`, the topology's own fields, and `roles()` naming which member plays what)
and a build function turning a validated config into an `Operator`. The seven built-in
topologies (`single` ... `pipeline`, `_systems_build`) are registered the same way, so
adding one is one file plus one registration:

```python
from palaestra.config import Members, SystemBase, register_topology

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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from palaestra.config._kinds import ConfigKind, first_line, kind_decorator, kind_registry
from palaestra.config._operator_kinds import operator_kinds
from palaestra.core import Operator, Registry, UserError

if TYPE_CHECKING:  # defined in _experiment, which imports this module; see `rebuild`
    from palaestra.config._experiment import OperatorConfig

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


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def operator_shorthand(value: Any) -> Any:
    """Expand the short forms of an operator config: a kind (`baseline`), a system name
    (`{kind: system, use: NAME}`), a system without `kind`; reject a `system` that names
    neither a topology nor a system (errors start with the field path they concern)."""
    if isinstance(value, str):
        return {"kind": value} if value in operator_kinds() else {"kind": "system", "use": value}
    if not isinstance(value, dict):
        return value
    if "kind" not in value:
        if "topology" in value or "use" in value:
            return {"kind": "system", **value}
        raise ValueError(f"an operator needs a `kind`; valid kinds: {', '.join(operator_kinds())}")
    if value["kind"] == "system":
        topology = value.get("topology")
        if topology is None and "use" not in value:
            raise ValueError(
                f"a system needs a `topology` ({', '.join(TOPOLOGIES.names())}) or `use: "
                "NAME` of a system defined under `systems:`"
            )
        if topology is not None:
            if not isinstance(topology, str):
                raise ValueError(f"topology: expected a topology name, got {topology!r}")
            try:
                TOPOLOGIES.get(topology)
            except UserError as exc:  # unknown (close matches), or a plugin that fails
                raise ValueError(f"topology: {exc}") from None
        if topology is not None and "use" in value:
            raise ValueError("use: a system either defines a `topology` or `use`s a named one")
    return value


class SystemBase(_Config):
    """What every topology's config holds: the members (operator configs, nested
    systems) and the check that each member plays exactly one role. A topology's config
    subclasses it, adds its own fields (which name members) and says in `roles()` which
    field names which member; `_defaults()` fills role lists left out."""

    kind: Literal["system"] = "system"
    topology: str = Field(description="The registered topology (see TOPOLOGIES).")
    members: dict[str, OperatorConfig] = Field(
        min_length=1, description="The members by name: operator configs or systems."
    )

    @field_validator("members", mode="before")
    @classmethod
    def _members_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for name, member in value.items():
            if not isinstance(name, str) or not name or "/" in name:
                raise ValueError(
                    f"{name}: member names become agent names (`agent/{name}`): they must "
                    "be non-empty and contain no '/'"
                )
            try:
                out[name] = operator_shorthand(member)
            except ValueError as exc:
                raise ValueError(prefix_path(name, str(exc))) from None
        return out

    def roles(self) -> list[tuple[str, str]]:
        """(field path, member name) of every role, in the order the system uses them."""
        raise NotImplementedError

    def _defaults(self) -> None:
        """Fill role lists left out (e.g. workers = every other member)."""

    @model_validator(mode="after")
    def _check_roles(self) -> SystemBase:
        self._defaults()
        defined = ", ".join(self.members)
        seen: dict[str, str] = {}
        for path, name in self.roles():
            if name not in self.members:
                raise ValueError(f"{path}: {name!r} is not a member; defined members: {defined}")
            if name in seen:
                raise ValueError(
                    f"{path}: member {name!r} is already used as {seen[name]}; a member plays "
                    "one role (it is one agent with one conversation): define another member"
                )
            seen[name] = path
        for name in self.members:
            if name not in seen:
                raise ValueError(
                    f"members.{name}: defined but used by no role of this "
                    f"{self.topology_name()} system (an unused member is an error: it is "
                    "usually a misspelt reference)"
                )
        return self

    def topology_name(self) -> str:
        return self.topology

    def _others(self, *taken: str | None) -> list[str]:
        return [name for name in self.members if name not in taken]

    def _reserve(self, names: list[str] | None, reserved: str) -> None:
        """The topology names an internal agent `reserved`: no member in `names` may."""
        if reserved in (names or []):
            raise ValueError(
                f"members.{reserved}: {reserved!r} is the name of the {self.topology_name()} "
                "system's own internal agent; rename this member"
            )


def prefix_path(prefix: str, message: str) -> str:
    """`prefix.path: msg` when `message` starts with a field path, else `prefix: msg`."""
    head, sep, rest = message.partition(": ")
    if sep and head and " " not in head:
        return f"{prefix}.{head}: {rest}"
    return f"{prefix}: {message}"


BuildTopology = Callable[[Any, Members], Operator]
"""(the validated config, its members) -> the system's operator."""


class Topology(ConfigKind[BuildTopology]):
    """A registered topology: its `name` (the `topology:` value), the pydantic `config`
    model (a `SystemBase` subclass) its YAML is validated by, and `build`."""


def _check_config(name: str, config: Any) -> None:
    if not (isinstance(config, type) and issubclass(config, SystemBase)):
        raise UserError(
            f"topology {name!r}: config {config!r} is not a subclass of "
            "palaestra.config.SystemBase (which holds `members` and checks `roles()`)"
        )


TOPOLOGIES: Registry[Topology] = kind_registry(
    "topology",
    "palaestra.topologies",
    Topology,
    _check_config,
    # the built-in topologies register themselves where they are built
    builtins="palaestra.config._systems_build",
    how="make one with palaestra.config.Topology(name, config, build), or register it "
    "with register_topology",
)
"""Every topology by name (`topology:` of a system config)."""

C = TypeVar("C", bound=SystemBase)


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
    described = description or first_line(config.__doc__)
    return kind_decorator(
        TOPOLOGIES, lambda fn: Topology(name, config, fn, described), build, replace=replace
    )
