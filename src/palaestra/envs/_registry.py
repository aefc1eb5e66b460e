"""The environment registry: ids → factories with typed parameters and baselines.

An environment registers once, with a pydantic model of its parameters (validated, with
defaults, listed by `palaestra envs`) and, for built-in suites, a factory of its non-LLM
baseline operator, so every environment runs without a model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from palaestra.core import Operator, UserError
from palaestra.envs._protocol import Environment


@dataclass(frozen=True)
class EnvSpec:
    """A registered environment."""

    id: str
    """Dotted id, e.g. `graph.coloring`."""
    factory: Callable[[Any], Environment]
    """Builds an environment from a validated `params` instance."""
    params: type[BaseModel]
    """Pydantic model of the parameters (with defaults)."""
    description: str = ""
    baseline: Callable[[Any, str], Operator] | None = None
    """`baseline(params, agent)` builds the non-LLM baseline operator for one agent."""

    def make(self, **params: Any) -> Environment:
        """Validate `params` and build the environment."""
        return self.factory(self.validate(params))

    def validate(self, params: dict[str, Any]) -> BaseModel:
        """Validated parameters, or a `UserError` naming each bad field."""
        try:
            return self.params.model_validate(params)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(params)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise UserError(
                f"invalid parameters for environment {self.id!r}: {problems}. "
                f"Valid parameters: {', '.join(self.params.model_fields)}"
            ) from None

    def describe_params(self) -> list[dict[str, Any]]:
        """Name, type, default and description of every parameter."""
        out = []
        for name, info in self.params.model_fields.items():
            annotation = info.annotation
            type_name = annotation.__name__ if isinstance(annotation, type) else str(annotation)
            out.append(
                {
                    "name": name,
                    "type": type_name.replace("typing.", ""),
                    "default": None if info.is_required() else info.get_default(),
                    "required": info.is_required(),
                    "description": info.description or "",
                }
            )
        return out


_REGISTRY: dict[str, EnvSpec] = {}


def register(spec: EnvSpec, *, replace: bool = False) -> EnvSpec:
    """Add an environment to the registry (refuses to overwrite unless `replace`)."""
    if spec.id in _REGISTRY and not replace:
        raise UserError(f"environment {spec.id!r} is already registered")
    _REGISTRY[spec.id] = spec
    return spec


def registered() -> dict[str, EnvSpec]:
    """Every registered environment, by id, sorted."""
    _load_builtins()
    return dict(sorted(_REGISTRY.items()))


def get_spec(env_id: str) -> EnvSpec:
    """The spec of `env_id`, or a `UserError` listing the registered ids.

    Only the built-in family that `env_id` names is imported (`graph.coloring` imports
    `palaestra.envs.graph`): a run pays for the environments it uses, not for all of
    them (importing every family costs about a second)."""
    found = _REGISTRY.get(env_id)
    if found is not None:
        return found
    module = _BUILTIN_FAMILIES.get(env_id.split(".", 1)[0])
    if module is not None:
        importlib.import_module(module)
        found = _REGISTRY.get(env_id)
        if found is not None:
            return found
    _load_builtins()
    try:
        return _REGISTRY[env_id]
    except KeyError:
        raise UserError(
            f"unknown environment {env_id!r}; registered environments: "
            f"{', '.join(sorted(_REGISTRY))}"
        ) from None


def make(env_id: str, **params: Any) -> Environment:
    """Build a registered environment with validated parameters."""
    return get_spec(env_id).make(**params)


_BUILTIN_FAMILIES = {
    "arith": "palaestra.envs.arith",
    "code": "palaestra.envs.code",
    "graph": "palaestra.envs.graph",
    "mas": "palaestra.envs.mas",
    "remote": "palaestra.envs.remote",
    "tooluse": "palaestra.envs.tooluse",
}
"""The module that registers each built-in family (the id's part before the first dot)."""

_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for module in _BUILTIN_FAMILIES.values():
        importlib.import_module(module)  # registers its environments
