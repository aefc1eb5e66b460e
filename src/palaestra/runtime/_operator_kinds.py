"""Operator kinds as plugins: `OPERATORS`, one `core.Registry` of the `kind:`s an
operator config may have (besides `system`, whose kinds are `TOPOLOGIES`).

An operator kind is a name, a pydantic config model (with a `kind` field) and a build
function from a validated config and an `OperatorBuild` (the agent, the environment's
spec and parameters, the run's models) to an `Operator`. The built-in kinds
(`baseline`, `llm`, `scripted`, `human`, `python`: `_build`) are registered the same
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

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from palaestra.core import Operator, UserError
from palaestra.core._plugins import Registry, qualified_name

if TYPE_CHECKING:
    from pydantic import BaseModel

    from palaestra.envs import EnvSpec
    from palaestra.runtime._build import ModelPool


@dataclass(frozen=True)
class OperatorBuild:
    """What an operator kind's build function may use besides its config."""

    agent: str
    """The agent name the operator acts as (its model is asked under it)."""
    env_spec: EnvSpec
    """The environment's spec (its `baseline`, ...)."""
    params: Any
    """The environment's validated parameters."""
    models: ModelPool
    """The run's models: `models.get(name_or_spec, agent)` -> (model, its config)."""


BuildOperator = Callable[[Any, OperatorBuild], Operator]


@dataclass(frozen=True)
class OperatorKind:
    """A registered operator kind: `name` (the `kind:` value), the pydantic `config`
    model its YAML is validated by, and `build`."""

    name: str
    config: type[BaseModel]
    build: BuildOperator

    @property
    def factory(self) -> BuildOperator:
        """What registration errors name (`qualified_name`)."""
        return self.build


def _adapt(name: str, obj: Any, **options: Any) -> OperatorKind:
    if not isinstance(obj, OperatorKind):
        raise UserError(
            f"operator kind {name!r}: {qualified_name(obj)} is not a palaestra OperatorKind "
            "(make one with palaestra.runtime.OperatorKind(name, config, build), or "
            "register it with register_operator_kind)"
        )
    _check(name, obj.config, obj.build)
    return obj if obj.name == name else replace(obj, name=name)


def _check(name: str, config: Any, build: Any) -> None:
    from pydantic import BaseModel

    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise UserError(f"operator kind {name!r}: config {config!r} is not a pydantic model")
    if "kind" not in config.model_fields:
        raise UserError(
            f"operator kind {name!r}: config {qualified_name(config)} has no `kind` field "
            f"(add `kind: Literal[{name!r}] = {name!r}`)"
        )
    if not callable(build):
        raise UserError(f"operator kind {name!r}: build {build!r} is not callable")


def _same(old: OperatorKind, new: OperatorKind) -> bool:
    return old.config is new.config and old.build is new.build


def _builtins(name: str | None) -> None:
    # the built-in kinds register themselves where operators are built
    importlib.import_module("palaestra.runtime._build")


OPERATORS: Registry[OperatorKind] = Registry(
    "operator kind", "palaestra.operators", adapt=_adapt, same=_same, builtins=_builtins
)
"""Every operator kind by name (`kind:` of an operator config), `system` aside."""

C = TypeVar("C", bound="BaseModel")


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
    _check(name, config, build if build is not None else _check)

    def register(
        function: Callable[[C, OperatorBuild], Operator],
    ) -> Callable[[C, OperatorBuild], Operator]:
        OPERATORS.register(name, OperatorKind(name, config, function), replace=replace)
        return function

    if build is None:
        return register
    register(build)
    return None


def operator_kinds() -> list[str]:
    """Every `kind:` an operator config may have: the registered ones and `system`."""
    return sorted({*OPERATORS.names(), "system"})
