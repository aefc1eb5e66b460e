"""Multi-agent systems as configuration: the `system` operator kind, one config per topology.

A `system` is an operator made of named members (each an operator config: `llm` with
its own model, prompt, tools and limits; `scripted`; `python`; `baseline`; or another
`system`, nested), combined by a topology of `palaestra.systems`. Topology fields name
members; they never define them:

```yaml
operator:
  kind: system                  # may be left out when `topology` is given
  topology: centralized         # single independent centralized decentralized hybrid
                                # recursive pipeline
  orchestrator: boss
  workers: [coder, tester]      # default: every member but the orchestrator
  members:
    boss: {kind: llm, model: big, system_prompt: "..."}
    coder: {kind: llm, model: small, max_tool_rounds: 4}
    tester: debate               # a system defined under the experiment's `systems:`
```

A member given as a string names an operator kind (`baseline`) or a system of the
experiment's `systems:` map (`{kind: system, use: NAME}` in full); named systems may use
each other, and a cycle is an error. Within one system, each member plays exactly one
role: a name used twice, a role naming no member, and a member no role uses are errors
(an unused member is almost always a misspelt reference, and a comparison run without
it would be silently wrong).

Topologies are plugins (`_topologies.TOPOLOGIES`): `topology: NAME` is looked up in the
registry and the system validated by that topology's config model (a `SystemBase`
subclass; the built-in ones are below), so an outside topology is validated, and its
errors located in the file, like a built-in one. `_systems_build` registers the built-in
topologies with their build functions and checks what needs several configs at once
(references between named systems and their cycles).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)

from palaestra.config._schemas import import_schema, inline_schema
from palaestra.config._topologies import (
    TOPOLOGIES,
    SystemBase,
    _Config,
    operator_shorthand,
)
from palaestra.core import UserError

_TOOL_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,52}$")

AGGREGATES = ("majority", "first_valid")
"""Built-in aggregators of an `independent` system (or name a member as the judge)."""


def _role_list(field: str, names: list[str] | None) -> list[tuple[str, str]]:
    return [(f"{field}.{i}", name) for i, name in enumerate(names or [])]


class SingleSystemConfig(SystemBase):
    """`single`: one member acts alone (the reference point of comparisons)."""

    topology: Literal["single"] = "single"
    member: str | None = Field(None, description="The member (default: the only one).")

    def _defaults(self) -> None:
        if self.member is None:
            if len(self.members) != 1:
                raise ValueError(
                    f"member: a single system has one member; name it among "
                    f"{', '.join(self.members)}"
                )
            self.member = next(iter(self.members))

    def roles(self) -> list[tuple[str, str]]:
        return [("member", self.member or "")]


class IndependentSystemConfig(SystemBase):
    """`independent`: voters answer the same observation in parallel; an aggregator
    (majority vote, first valid answer, or a judge member) picks the action."""

    topology: Literal["independent"] = "independent"
    voters: list[str] | None = Field(
        None, description="Members that answer (default: every member but the judge)."
    )
    aggregate: str = Field(
        "majority", description="`majority`, `first_valid`, or the name of a judge member."
    )

    def _defaults(self) -> None:
        for name in AGGREGATES:
            if name in self.members:
                raise ValueError(f"members.{name}: {name!r} is reserved (an aggregate)")
        if self.aggregate not in AGGREGATES and self.aggregate not in self.members:
            raise ValueError(
                f"aggregate: {self.aggregate!r} is neither {' nor '.join(AGGREGATES)} nor a "
                f"member (defined members: {', '.join(self.members)})"
            )
        if self.voters is None:
            self.voters = self._others(self.aggregate)
        self._reserve(self.voters, "aggregator")

    def roles(self) -> list[tuple[str, str]]:
        judge = [] if self.aggregate in AGGREGATES else [("aggregate", self.aggregate)]
        return _role_list("voters", self.voters) + judge


class CentralizedSystemConfig(SystemBase):
    """`centralized`: an orchestrator (an LLM) delegates sub-tasks to workers exposed to
    it as tools; `holistic` emits the whole delegation plan in one turn."""

    topology: Literal["centralized"] = "centralized"
    orchestrator: str = Field(description="The delegating member (an `llm` member).")
    workers: list[str] | None = Field(
        None, description="Members it may delegate to (default: every other member)."
    )
    mode: Literal["iterative", "holistic"] = "iterative"
    max_delegations: int = Field(8, ge=1, description="Delegations per turn, at most.")

    def _defaults(self) -> None:
        if self.workers is None:
            self.workers = self._others(self.orchestrator)
        for name in self.workers:
            if not _TOOL_SAFE.match(name):
                raise ValueError(
                    f"members.{name}: a worker's name becomes the tool name "
                    f"delegate_to_{name}: use 1-52 letters, digits, '_' or '-'"
                )
        boss = self.members.get(self.orchestrator)
        kind = getattr(boss, "kind", None)
        if boss is not None and kind not in ("llm", "python"):
            raise ValueError(
                f"orchestrator: {self.orchestrator!r} is a {kind!r} member; the "
                "orchestrator delegates by calling its workers as tools, so it must be an "
                "`llm` member (or a `python` factory returning an LLMOperator)"
            )

    def roles(self) -> list[tuple[str, str]]:
        return [("orchestrator", self.orchestrator), *_role_list("workers", self.workers)]


def _check_edges(edges: list[tuple[str, str]] | None, nodes: list[str], who: str) -> None:
    seen: set[tuple[str, str]] = set()
    for index, (a, b) in enumerate(edges or []):
        for end in (a, b):
            if end not in nodes:
                raise ValueError(
                    f"edges.{index}: {end!r} is not one of the {who} ({', '.join(nodes)})"
                )
        if a == b:
            raise ValueError(f"edges.{index}: an edge joins two different {who}, got {a!r} twice")
        if (a, b) in seen:
            raise ValueError(f"edges.{index}: edge [{a}, {b}] is listed twice")
        seen.add((a, b))


class DecentralizedSystemConfig(SystemBase):
    """`decentralized`: peers on a communication graph exchange messages for `rounds`
    rounds (debate, consensus), then the action is decided."""

    topology: Literal["decentralized"] = "decentralized"
    peers: list[str] | None = Field(None, description="The peers (default: every member).")
    rounds: int = Field(2, ge=1, description="Message rounds before deciding.")
    edges: list[tuple[str, str]] | None = Field(
        None, description="Pairs of peers that talk (default: all pairs)."
    )
    decide: Literal["majority", "first"] = "majority"

    def _defaults(self) -> None:
        if self.peers is None:
            self.peers = list(self.members)
        self._reserve(self.peers, "aggregator")
        _check_edges(self.edges, self.peers, "peers")

    def roles(self) -> list[tuple[str, str]]:
        return _role_list("peers", self.peers)


class HybridSystemConfig(SystemBase):
    """`hybrid`: a coordinator plus peer rounds among its workers."""

    topology: Literal["hybrid"] = "hybrid"
    coordinator: str = Field(description="The coordinating member.")
    workers: list[str] | None = Field(
        None, description="The workers (default: every member but the coordinator)."
    )
    peer_rounds: int = Field(1, ge=0, description="Rounds of messages among the workers.")
    edges: list[tuple[str, str]] | None = Field(
        None, description="Pairs of workers that talk (default: all pairs)."
    )

    def _defaults(self) -> None:
        if self.workers is None:
            self.workers = self._others(self.coordinator)
        self._reserve(self.workers, "coordinator")
        _check_edges(self.edges, self.workers, "workers")

    def roles(self) -> list[tuple[str, str]]:
        return [("coordinator", self.coordinator), *_role_list("workers", self.workers)]


class RecursiveSystemConfig(SystemBase):
    """`recursive` (ROMA): an atomizer decides atomic vs. decompose, a planner returns
    sub-tasks with dependencies, executors run them, an aggregator merges the results;
    `max_depth` bounds the recursion."""

    topology: Literal["recursive"] = "recursive"
    atomizer: str
    planner: str
    executor: str
    aggregator: str
    max_depth: int = Field(2, ge=0, description="Decomposition levels, at most.")

    def roles(self) -> list[tuple[str, str]]:
        return [(role, getattr(self, role)) for role in RECURSIVE_ROLES]


RECURSIVE_ROLES = ("atomizer", "planner", "executor", "aggregator")


class PipelineStageConfig(_Config):
    """One SOP stage: a member, the schema its output must satisfy (validated before the
    next stage runs), its instructions. The schema is a pydantic model by import path
    (`package.module:Model`), or inline fields `{name: type}` with the types of
    `SCHEMA_TYPES` (all required), e.g. `{subproblem: str, value: int}`."""

    name: str | None = Field(None, description="Stage name (default: the member's name).")
    member: str
    schema_: str | dict[str, str] | None = Field(
        None,
        alias="schema",
        description="`package.module:Model`, or inline fields {name: type}.",
    )
    instructions: str = ""

    @field_validator("schema_")
    @classmethod
    def _schema_resolves(
        cls, value: str | dict[str, str] | None, info: ValidationInfo
    ) -> str | dict[str, str] | None:

        if isinstance(value, str):
            import_schema(value, (info.context or {}).get("base_dir"))
        elif value is not None:
            inline_schema("check", value)
        return value

    def schema_model(self) -> type[BaseModel] | None:
        """The pydantic model of this stage's output (None without a schema)."""

        if self.schema_ is None:
            return None
        if isinstance(self.schema_, str):
            return import_schema(self.schema_)
        return inline_schema(self.name or self.member, self.schema_)


class PipelineSystemConfig(SystemBase):
    """`pipeline` (MetaGPT SOP): stages run in order, each handing a validated output on."""

    topology: Literal["pipeline"] = "pipeline"
    stages: list[PipelineStageConfig] = Field(min_length=1)

    def _defaults(self) -> None:
        names: dict[str, int] = {}
        for index, stage in enumerate(self.stages):
            stage.name = stage.name or stage.member
            if stage.name in names:
                raise ValueError(
                    f"stages.{index}.name: stage {stage.name!r} is already stage "
                    f"{names[stage.name]}; stage names must differ"
                )
            names[stage.name] = index

    def roles(self) -> list[tuple[str, str]]:
        return [(f"stages.{i}.member", stage.member) for i, stage in enumerate(self.stages)]


class SystemRefConfig(_Config):
    """A system defined under the experiment's `systems:` map, by name."""

    kind: Literal["system"] = "system"
    use: str


_OPERATOR_CONFIG: list[Any] = []
"""`OperatorConfig` (set by `rebuild`): a topology's config defined after _experiment was
imported is completed with it when first used."""


def validate_system(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    """A system config: a `use:` reference, or validated by the config model of the
    topology it names (looked up in `TOPOLOGIES`, so a plugin's topology is validated by
    its own model; pydantic keeps the field locations of its errors)."""
    if isinstance(value, (SystemBase, SystemRefConfig)):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"expected a system mapping (topology, members, ...), got {value!r}")
    topology = value.get("topology")
    if topology is None:
        if "use" in value:
            return SystemRefConfig.model_validate(value, context=info.context)
        value = operator_shorthand({"kind": "system", **value})  # raises: names the fix
    if not isinstance(topology, str):
        raise ValueError(f"topology: expected a topology name, got {topology!r}")
    try:
        config = TOPOLOGIES.get(topology).config
    except UserError as exc:
        raise ValueError(f"topology: {exc}") from None
    if not config.__pydantic_complete__ and _OPERATOR_CONFIG:
        config.model_rebuild(_types_namespace={"OperatorConfig": _OPERATOR_CONFIG[0]})
    return config.model_validate(value, context=info.context)


SystemConfig = Annotated[Any, WrapValidator(validate_system)]
"""A `system` operator config: a `SystemBase` subclass (the config model of the
registered topology its `topology:` names), or a `SystemRefConfig` (`use: NAME`)."""


def rebuild(operator_config: Any) -> None:
    """Resolve the `members` field type once `OperatorConfig` exists (_experiment); the
    built-in topologies' configs are completed here, others when first validated."""
    _OPERATOR_CONFIG[:] = [operator_config]
    classes: list[type[SystemBase]] = [SystemBase, *SystemBase.__subclasses__()]
    for cls in classes:
        cls.model_rebuild(_types_namespace={"OperatorConfig": operator_config})
