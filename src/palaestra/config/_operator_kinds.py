"""Operator kinds as plugins: `OPERATORS`, one `core.Registry` of the `kind:`s an
operator config may have (besides `system`, whose kinds are `TOPOLOGIES`).

An operator kind is a name, a pydantic config model (with a `kind` field) and a build
function from a validated config and an `OperatorBuild` (the agent, the environment's
spec and parameters, the run's models) to an `Operator`. The built-in kinds
(`baseline`, `llm`, `scripted`, `human`, `python`: `_operator_builds`) are registered the same
way, so adding one is one file plus one registration:

```python
class EchoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["echo"] = "echo"
    text: str

@register_operator_kind("echo", EchoConfig)
def build_echo(config: EchoConfig, build: OperatorBuild) -> Operator:
    return Echo(config.text)
```

and `operator: {kind: echo, text: hi}` is validated by `EchoConfig` (errors at the
file's line) and built by `build_echo`; also reachable by an installed distribution's
entry point in group ``palaestra.operators`` (an `OperatorKind`, or a module that
registers on import) and by ``package.module:NAME`` naming an `OperatorKind`. Any
operator object is still reachable without a kind of its own by `kind: python`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel

from palaestra.config._kinds import ConfigKind, kind_decorator, kind_registry
from palaestra.core import Operator, Registry, UserError, qualified_name

if TYPE_CHECKING:
    from palaestra.envs import EnvSpec
    from palaestra.tools import Tool


class RunModels(Protocol):
    """The run's models as an operator kind's build sees them (the engine's
    `ModelPool`): each configured model built once per run."""

    def get(self, ref: Any, agent: str | None = None, *, override: bool = True) -> Any:
        """(model, its config) for a `models:` key, a model spec or an inline config,
        asked for as `agent`."""

    def config_for(self, ref: Any, *, override: bool = True) -> tuple[str, Any]:
        """(its key under `models:`, its config) for a model reference."""

    def mcp_tools(self, servers: Any) -> list[Tool]:
        """The tools of these MCP servers (connected once per run)."""


@dataclass(frozen=True)
class OperatorBuild:
    """What an operator kind's build function may use besides its config."""

    agent: str
    """The agent name the operator acts as (its model is asked under it)."""
    env_spec: EnvSpec
    """The environment's spec (its `baseline`, ...)."""
    params: Any
    """The environment's validated parameters."""
    models: RunModels
    """The run's models: `models.get(name_or_spec, agent)` -> (model, its config)."""


BuildOperator = Callable[[Any, OperatorBuild], Operator]


class OperatorKind(ConfigKind[BuildOperator]):
    """A registered operator kind: `name` (the `kind:` value), the pydantic `config`
    model its YAML is validated by, and `build`."""


def _check(name: str, config: Any) -> None:
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise UserError(f"operator kind {name!r}: config {config!r} is not a pydantic model")
    if "kind" not in config.model_fields:
        raise UserError(
            f"operator kind {name!r}: config {qualified_name(config)} has no `kind` field "
            f"(add `kind: Literal[{name!r}] = {name!r}`)"
        )


OPERATORS: Registry[OperatorKind] = kind_registry(
    "operator kind",
    "palaestra.operators",
    OperatorKind,
    _check,
    # the built-in kinds register themselves where they are built
    builtins="palaestra.config._operator_builds",
    how="make one with palaestra.config.OperatorKind(name, config, build), or register "
    "it with register_operator_kind",
)
"""Every operator kind by name (`kind:` of an operator config), `system` aside."""

C = TypeVar("C", bound=BaseModel)


def register_operator_kind(
    name: str,
    config: type[C],
    build: Callable[[C, OperatorBuild], Operator] | None = None,
    *,
    replace: bool = False,
) -> Any:
    """Register operator kind `name`: operator configs with ``kind: name`` are validated
    by `config` (a pydantic model with a `kind` field) and built by `build(config,
    operator_build)`. Without `build`, a decorator of the build function (returned
    unchanged). The same registration again is accepted; another claiming the name is a
    `UserError` unless `replace`."""
    if not name or not name.replace(".", "").replace("_", "").replace("-", "").isalnum():
        raise UserError(
            f"operator kind {name!r}: a kind is letters, digits, '.', '_' or '-' (e.g. "
            "'mybench.planner')"
        )
    if name == "system":
        raise UserError("operator kind 'system' is the multi-agent systems' (TOPOLOGIES)")
    _check(name, config)
    if build is not None and not callable(build):
        raise UserError(f"operator kind {name!r}: build {build!r} is not callable")
    return kind_decorator(
        OPERATORS, lambda fn: OperatorKind(name, config, fn), build, replace=replace
    )


def operator_kinds() -> list[str]:
    """Every `kind:` an operator config may have: the registered ones and `system`."""
    return sorted({*OPERATORS.names(), "system"})
