"""From `system` configs to `palaestra.systems` objects, and the checks that need more
than one config: references between named systems (and their cycles), pipeline schemas.

`build_system` is called by the engine once per episode and agent (`palaestra.runtime`), with
a leaf builder for the members that are not systems; it gives each leaf the agent name
its model is asked under in the log (``agent/worker``, ``agent/coordinator``,
``agent/root/planner`` ...), which replay uses to name the model as recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from palaestra.config._systems_config import (
    AGGREGATES,
    RECURSIVE_ROLES,
    CentralizedSystemConfig,
    DecentralizedSystemConfig,
    HybridSystemConfig,
    IndependentSystemConfig,
    PipelineStageConfig,
    PipelineSystemConfig,
    RecursiveSystemConfig,
    SingleSystemConfig,
    SystemBase,
    SystemRefConfig,
)
from palaestra.config._topologies import TOPOLOGIES, Members, register_topology
from palaestra.core import ConfigError, Operator

# -- references between systems ------------------------------------------------------


def iter_configs(config: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(dotted path, config) of `config` and of every member nested in it (references
    to named systems are yielded, not followed)."""
    yield path, config
    for name, member in getattr(config, "members", {}).items():
        yield from iter_configs(member, f"{path}.members.{name}")


def check_system_refs(
    systems: Mapping[str, Any], roots: list[tuple[str, Any]], kinds: tuple[str, ...]
) -> None:
    """Every `use:` names a system of `systems`, and no named system contains itself.
    Raises `ValueError` with the absolute field path (the file loader finds its line)."""
    for name in systems:
        if name in kinds or "/" in name or "@" in name or not name:
            raise ValueError(
                f"systems.{name}: a system name must not be an operator kind "
                f"({', '.join(kinds)}) nor contain '/' or '@'"
            )
    valid = ", ".join(systems) or "(none defined)"

    def uses(config: Any, path: str) -> Iterator[tuple[str, str]]:
        for where, node in iter_configs(config, path):
            if isinstance(node, SystemRefConfig):
                if node.use not in systems:
                    raise ValueError(
                        f"{where}: {node.use!r} is neither an operator kind "
                        f"({', '.join(kinds)}) nor a system defined under `systems:` ({valid})"
                    )
                yield where, node.use

    for path, config in roots:
        list(uses(config, path))
    graph = {name: list(uses(config, f"systems.{name}")) for name, config in systems.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, chain: list[str]) -> None:
        state[name] = 1
        for where, target in graph[name]:
            if state.get(target) == 1:
                cycle = [*chain[chain.index(target) :], target]
                raise ValueError(
                    f"{where}: systems use each other in a cycle ({' -> '.join(cycle)}); "
                    "a system cannot contain itself"
                )
            if target not in state:
                visit(target, [*chain, target])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def resolve(config: Any, systems: Mapping[str, Any]) -> Any:
    """The config itself, or the named system a reference (chain) leads to."""
    seen = set()
    while isinstance(config, SystemRefConfig):
        if config.use in seen or config.use not in systems:
            raise ConfigError(f"system {config.use!r} is undefined or refers to itself")
        seen.add(config.use)
        config = systems[config.use]
    return config


def is_system(config: Any) -> bool:
    return isinstance(config, (SystemRefConfig, SystemBase))


# -- building ---------------------------------------------------------------------------

LeafBuilder = Callable[[Any, str, str], Operator]
"""Builds a member that is not a system from (its operator config, its path from the top
system such as `team/coder` — unique, a cache key —, the agent name its model is asked
under, relative to the environment's agent: `team/coder`, `coordinator`, or "" for the
environment's agent itself)."""


def _below(agent: str, name: str) -> str:
    return f"{agent}/{name}" if agent else name


def build_system(
    config: Any,
    leaf: LeafBuilder,
    *,
    systems: Mapping[str, Any],
    path: str = "",
    agent: str = "",
) -> Operator:
    """The operator a system config describes, built by its registered topology
    (`TOPOLOGIES`), members built recursively: systems by this function, the others by
    `leaf`. `path` and `agent` are the system's own (see `LeafBuilder`; "" at the top)."""
    config = resolve(config, systems)
    if not isinstance(config, SystemBase):
        raise TypeError(f"not a system config: {config!r}")

    def member(name: str, as_agent: str | None) -> Operator:
        sub = config.members[name]
        where = _below(path, name)
        who = _below(agent, name) if as_agent is None else as_agent
        if is_system(sub):
            return build_system(sub, leaf, systems=systems, path=where, agent=who)
        return leaf(sub, where, who)

    return TOPOLOGIES.get(config.topology).build(config, Members(member, agent))


# -- the built-in topologies (registered like any other: see `_topologies`) ------------


@register_topology("single", SingleSystemConfig)
def _single(config: SingleSystemConfig, members: Members) -> Operator:
    from palaestra import systems as topo

    # the member acts as the system's agent itself
    return topo.Single(members(config.member or "", agent=members.agent))


@register_topology("independent", IndependentSystemConfig)
def _independent(config: IndependentSystemConfig, members: Members) -> Operator:
    from palaestra import systems as topo

    judge: Any = config.aggregate
    if judge not in AGGREGATES:
        judge = members(judge, agent=members.below("aggregator"))
    return topo.Independent(members.many(config.voters), aggregate=judge)


@register_topology("centralized", CentralizedSystemConfig)
def _centralized(config: CentralizedSystemConfig, members: Members) -> Operator:
    from palaestra import systems as topo
    from palaestra.operators import LLMOperator

    boss = members(config.orchestrator, agent=members.agent)  # acts in the system's context
    if not isinstance(boss, LLMOperator):
        raise ConfigError(
            f"orchestrator {config.orchestrator!r} built a {type(boss).__name__}; "
            "it must be an LLMOperator (it delegates by calling workers as tools)"
        )
    return topo.Centralized(
        boss, members.many(config.workers), mode=config.mode, max_delegations=config.max_delegations
    )


@register_topology("decentralized", DecentralizedSystemConfig)
def _decentralized(config: DecentralizedSystemConfig, members: Members) -> Operator:
    from palaestra import systems as topo

    return topo.Decentralized(
        members.many(config.peers), rounds=config.rounds, edges=config.edges, decide=config.decide
    )


@register_topology("hybrid", HybridSystemConfig)
def _hybrid(config: HybridSystemConfig, members: Members) -> Operator:
    from palaestra import systems as topo

    return topo.Hybrid(
        members(config.coordinator, agent=members.below("coordinator")),
        members.many(config.workers),
        peer_rounds=config.peer_rounds,
        edges=config.edges,
    )


@register_topology("recursive", RecursiveSystemConfig)
def _recursive(config: RecursiveSystemConfig, members: Members) -> Operator:
    from palaestra import systems as topo

    # a role acts at every node of the tree; its first use is `root/<role>`
    roles = {
        role: members(getattr(config, role), agent=members.below(f"root/{role}"))
        for role in RECURSIVE_ROLES
    }
    return topo.Recursive(**roles, max_depth=config.max_depth)


@register_topology("pipeline", PipelineSystemConfig)
def _pipeline(config: PipelineSystemConfig, members: Members) -> Operator:
    from palaestra import systems as topo

    return topo.Pipeline([_stage(stage, members) for stage in config.stages])


def _stage(stage: PipelineStageConfig, members: Members) -> Any:
    from palaestra.systems import Stage

    name = stage.name or stage.member
    return Stage(
        name=name,
        operator=members(stage.member),
        schema=stage.schema_model(),
        instructions=stage.instructions,
    )
