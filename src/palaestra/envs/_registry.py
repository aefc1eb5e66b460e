"""The environment registry: ids → factories with typed parameters and baselines.

An environment registers once, with a pydantic model of its parameters (validated, with
defaults, listed by `palaestra envs`) and, for built-in suites, a factory of its non-LLM
baseline operator, so every environment runs without a model.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from palaestra.core import Operator, Registry, UserError, params_from_signature, qualified_name
from palaestra.envs._protocol import Environment, is_reusable


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
    reusable: bool | None = None
    """Whether one instance may play episode after episode (the reset contract of
    `palaestra.envs.Environment`); None: as the instance's class declares
    (``reusable = True``), else not."""

    def reuses(self, env: Any) -> bool:
        """Whether the runner may reuse `env`, an instance this spec built (or its
        class: what `palaestra envs` lists)."""
        return self.reusable if self.reusable is not None else is_reusable(env)

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
                    "default": _default(info),
                    "required": info.is_required(),
                    "description": info.description or "",
                }
            )
        return out


BUILT_FROM_OTHERS = "<built from the other parameters>"
"""What `describe_params` shows as the default of a parameter whose default factory
takes the other parameters' values (there is no one default to show)."""


def _default(info: FieldInfo) -> Any:
    """The default of a parameter as `palaestra envs` shows it: the value, built by its
    default factory when it has one (a fresh list, say), as JSON data; None when it is
    required; `BUILT_FROM_OTHERS` when the factory needs the other parameters."""
    if info.is_required():
        return None
    try:
        value = info.get_default(call_default_factory=True)
    except ValueError:  # pydantic: the factory needs `validated_data`
        return BUILT_FROM_OTHERS
    return to_jsonable_python(value, fallback=repr)


def register(
    spec: EnvSpec | None = None,
    *,
    id: str | None = None,
    entry_point: str | Callable[..., Any] | None = None,
    params: type[BaseModel] | None = None,
    description: str = "",
    baseline: Callable[[Any, str], Operator] | None = None,
    reusable: bool | None = None,
    replace: bool = False,
) -> None:
    """Add an environment: `register(EnvSpec(...))`, or Gymnasium-style
    `register(id="mybench.retail", entry_point="mybench.envs:RetailEnv")` (a string is
    imported when the id is first used; the class or factory, or an `EnvSpec`, as for
    a ``module:Name`` id: see `spec_from_object`).

    Registering the same environment again (a module imported twice, a plugin loaded by
    its entry point and by ``--import``) is accepted; a different one claiming a taken
    id is a `UserError`, unless `replace`."""
    if spec is not None:
        ENVIRONMENTS.register(spec.id, spec, replace=replace)
        return
    if not id or entry_point is None:
        raise TypeError("register() takes an EnvSpec, or id= and entry_point=")
    options = {
        "params": params,
        "description": description,
        "baseline": baseline,
        "reusable": reusable,
    }
    ENVIRONMENTS.register(id, entry_point, replace=replace, **options)


def _same(old: EnvSpec, new: EnvSpec) -> bool:
    """The same environment registered again: the same objects, or the same names (a
    module imported twice, e.g. as ``__main__`` and by name, makes new objects)."""
    if old == new:
        return True
    return (
        qualified_name(old.factory) == qualified_name(new.factory)
        and qualified_name(old.params) == qualified_name(new.params)
        and (old.baseline is None) == (new.baseline is None)
        and (old.baseline is None or qualified_name(old.baseline) == qualified_name(new.baseline))
    )


def spec_from_object(
    env_id: str,
    obj: Any,
    *,
    params: type[BaseModel] | None = None,
    description: str = "",
    baseline: Callable[[Any, str], Operator] | None = None,
    reusable: bool | None = None,
) -> EnvSpec:
    """An `EnvSpec` for what a reference or entry point names:

    - an `EnvSpec`: itself (under `env_id`);
    - a class or factory whose one parameter is annotated with a pydantic model (or whose
      ``Params`` attribute is one): that model is its parameters, and it is called with
      the validated instance (the built-in convention);
    - any other class or factory: its keyword parameters (with their annotations and
      defaults) become the parameters, and it is called with them.
    """
    if isinstance(obj, EnvSpec):
        return obj if obj.id == env_id else dataclasses.replace(obj, id=env_id)
    if not callable(obj):
        raise UserError(
            f"environment {env_id!r}: {qualified_name(obj)} is a {type(obj).__name__}, not an "
            f"EnvSpec, an environment class or a factory"
        )
    doc = (inspect.getdoc(obj) or "").strip()
    description = description or (doc.splitlines()[0] if doc else "")
    model = params or _declared_params(obj)
    if model is not None:
        return EnvSpec(env_id, obj, model, description, baseline, reusable)
    model, names = params_from_signature(obj)

    def factory(validated: Any) -> Environment:
        return cast(Environment, obj(**{name: getattr(validated, name) for name in names}))

    factory.__qualname__ = getattr(obj, "__qualname__", "factory")
    factory.__module__ = getattr(obj, "__module__", __name__)
    return EnvSpec(env_id, factory, model, description, baseline, reusable)


def _declared_params(obj: Any) -> type[BaseModel] | None:
    declared = getattr(obj, "Params", None)
    if isinstance(declared, type) and issubclass(declared, BaseModel):
        return declared
    try:
        signature = inspect.signature(obj)
        hints = typing.get_type_hints(obj.__init__ if inspect.isclass(obj) else obj)
    except (TypeError, ValueError, NameError):
        return None
    parameters = list(signature.parameters.values())
    if len(parameters) == 1:
        hint = hints.get(parameters[0].name)
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            return hint
    return None


def registered() -> dict[str, EnvSpec]:
    """Every registered environment, by id, sorted: the built-ins, those registered so
    far, and every installed plugin's (entry points in group ``palaestra.envs``)."""
    return ENVIRONMENTS.all()


def get_spec(env_id: str) -> EnvSpec:
    """The spec of `env_id`: a registered id, ``package.module:Name`` (imported now),
    or an installed plugin's entry point name; else a `UserError` listing close matches.

    Only the built-in family that `env_id` names is imported (`graph.coloring` imports
    `palaestra.envs.graph`), and only the entry point named `env_id`: a run pays for the
    environments it uses, not for all of them (importing every family costs about a
    second)."""
    return ENVIRONMENTS.get(env_id)


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


def _load_builtins(env_id: str | None = None) -> None:
    """Import the family that `env_id` names, or every family (given None)."""
    global _builtins_loaded
    if env_id is not None:
        module = _BUILTIN_FAMILIES.get(env_id.split(".", 1)[0])
        if module is not None:
            importlib.import_module(module)  # registers its environments
        return
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for module in _BUILTIN_FAMILIES.values():
        importlib.import_module(module)


ENVIRONMENTS: Registry[EnvSpec] = Registry(
    "environment", "palaestra.envs", adapt=spec_from_object, same=_same, builtins=_load_builtins
)
"""The environments: built-in, registered, by reference and by entry point."""
_REGISTRY = ENVIRONMENTS.entries
