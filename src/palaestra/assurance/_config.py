"""Contracts as data: the `contracts:` entries of an experiment (or a contracts file).

```yaml
contracts:
  - use: terminates_within        # a built-in contract, by name (see BUILTINS)
    max_steps: 20                 # its parameters, inline
    on_violation: end             # record (default) | end: also end the episode
  - use: budget
    name: tool_budget             # optional: a name of its own (default: the built-in's)
    max_tool_calls: 12
  - python: my_checks:no_refunds  # a user contract: a function (or Contract) by import path
    kind: step                    # for a plain function: step (default) | trace
```

A `python:` entry names a `Contract` (e.g. a function decorated with `@step_contract`),
or a plain function: `kind: step` wraps it with `step_contract` (called with each event,
and the view if it takes two arguments), `kind: trace` with `trace_contract` (called with
the whole log at the end). Further keys of a `python:` entry are passed as keyword
arguments to the named object, which must then return a contract or a function.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from palaestra.assurance import _library as step
from palaestra.assurance import _trace_library as trace
from palaestra.assurance._contracts import (
    Contract,
    OnViolation,
    step_contract,
    trace_contract,
)
from palaestra.core import (
    ConfigError,
    Registry,
    UserError,
    import_object,
    params_from_signature,
    qualified_name,
)

BUILTINS: dict[str, tuple[type[step.Params], Callable[..., Contract]]] = {
    "tool_args_schema": (step.ToolArgsSchemaParams, step.tool_args_schema),
    "max_message_tokens": (step.MaxMessageTokensParams, step.max_message_tokens),
    "allowed_tools": (step.AllowedToolsParams, step.allowed_tools),
    "no_secrets": (step.NoSecretsParams, step.no_secrets),
    "terminates_within": (trace.TerminatesWithinParams, trace.terminates_within),
    "tool_calls_answered": (trace.ToolCallsAnsweredParams, trace.tool_calls_answered),
    "no_action_after_block": (trace.NoActionAfterBlockParams, trace.no_action_after_block),
    "cites_tool_result": (trace.CitesToolResultParams, trace.cites_tool_result),
    "no_role_drift": (trace.NoRoleDriftParams, trace.no_role_drift),
    "budget": (trace.BudgetParams, trace.budget),
}
"""Every built-in contract: YAML name → (parameter model, factory)."""

ContractKind = tuple[type[BaseModel], Callable[..., Contract]]
"""A contract `use:` can name: its parameter model and its factory, called with the
validated parameters and ``name=``, ``on_violation=``."""


def _as_kind(use: str, obj: Any) -> ContractKind:
    """A registered contract from what a registration or entry point gives: a
    ``(Params, factory)`` pair, or a factory whose keyword parameters (besides `name`
    and `on_violation`) become its parameters."""
    if isinstance(obj, tuple) and len(obj) == 2 and callable(obj[1]):
        return obj
    if not callable(obj):
        raise ConfigError(
            f"contract {use!r}: {qualified_name(obj)} is not a contract factory or a "
            "(Params, factory) pair"
        )
    model, _ = params_from_signature(obj, exclude=("name", "on_violation"))
    return model, obj


CONTRACTS: Registry[ContractKind] = Registry(
    "contract",
    "palaestra.contracts",
    adapt=_as_kind,
    same=lambda old, new: old == new or qualified_name(old[1]) == qualified_name(new[1]),
    references=False,
)
"""The contracts `use:` names: the built-ins, those registered with `register_contract`
(by a module given with ``--import``) and those of entry points in group
``palaestra.contracts``; ``python: module:function`` names any other by reference."""
for _builtin_use, _builtin_kind in BUILTINS.items():
    CONTRACTS.register(_builtin_use, _builtin_kind)


def register_contract(use: str, factory: Any, *, replace: bool = False) -> None:
    """Make `factory` (a ``(Params, factory)`` pair, or a factory with keyword
    parameters plus ``name`` and ``on_violation``) the contract ``use: USE``."""
    if use in BUILTINS:
        raise ConfigError(f"contract {use!r} is one of palaestra's own; choose another name")
    CONTRACTS.register(use, factory, replace=replace)


def _kind(use: str) -> ContractKind:
    try:
        return CONTRACTS.get(use)
    except UserError as exc:
        raise ConfigError(str(exc)) from None


def builtin(
    use: str, *, name: str | None = None, on_violation: OnViolation = "record", **params: Any
) -> Contract:  # noqa: E501
    """The built-in contract `use` with `params` (validated: a `ConfigError` names what is
    wrong and the valid choices)."""
    model, factory = _kind(use)
    try:
        checked = model.model_validate(params)
    except ValidationError as exc:
        raise ConfigError(f"contract {use!r}: {_first_problem(exc, model)}") from None
    return factory(**checked.model_dump(), name=name or use, on_violation=on_violation)


def _first_problem(exc: ValidationError, model: type[BaseModel]) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        valid = ", ".join(model.model_fields) or "none"
        return f"{field}: unknown parameter (valid: {valid})"
    message = err["msg"].removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


class ContractSpec(BaseModel):
    """One entry of a `contracts:` list: a built-in (`use`) or a user contract
    (`python`), its parameters inline."""

    model_config = ConfigDict(extra="allow")

    use: str | None = None
    """Name of a built-in contract (see `BUILTINS`)."""
    python: str | None = None
    """Import path `package.module:attr` of a user contract or function."""
    name: str | None = None
    """The contract's name in verdicts (default: the built-in's or the function's)."""
    kind: Literal["step", "trace"] = "step"
    """For a `python:` plain function: a step contract or a whole-log trace contract."""
    on_violation: OnViolation = "record"
    """`record` a verdict, or also `end` the episode (reason `contract`)."""

    @property
    def params(self) -> dict[str, Any]:
        """The parameters given inline."""
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _valid(self) -> ContractSpec:
        if (self.use is None) == (self.python is None):
            raise ValueError(
                "give either `use: NAME` (a built-in contract: "
                f"{', '.join(BUILTINS)}, or a plugin's) or `python: module:function`"
            )
        if self.use is not None:
            try:
                found = _kind(self.use)
            except ConfigError as exc:
                raise ValueError(f"use: {exc}") from None
            try:
                found[0].model_validate(self.params)
            except ValidationError as exc:
                raise ValueError(_first_problem(exc, found[0])) from None
        else:
            self.build()  # import now: a bad path fails with the file line
        return self

    def build(self) -> Contract:
        """The contract this entry describes."""
        if self.use is not None:
            return builtin(self.use, name=self.name, on_violation=self.on_violation, **self.params)
        assert self.python is not None
        target = _import(self.python)
        if self.params:
            target = target(**self.params)
        if isinstance(target, Contract):
            target = copy.copy(target)  # the module's object stays as it is
            if self.name:
                target.name = self.name
            target.on_violation = self.on_violation
            return target
        if not callable(target):
            raise ValueError(
                f"python: {self.python!r} is a {type(target).__name__}, not a contract "
                "or a function"
            )
        wrap = step_contract if self.kind == "step" else trace_contract
        made: Contract = wrap(target, name=self.name, on_violation=self.on_violation)
        return made


def _import(path: str) -> Any:
    # a ValueError, so that the entry's validator reports it with the file line
    try:
        return import_object(path)
    except ConfigError as exc:
        raise ValueError(f"python: {exc}") from None


def build_contracts(specs: Sequence[ContractSpec | Contract]) -> list[Contract]:
    """Contracts from entries (or contracts already built); a name used twice is a
    `ConfigError`."""
    out = [s.build() if isinstance(s, ContractSpec) else s for s in specs]
    names = [c.name for c in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"two contracts are named {twice[0]!r}; give one a `name:` of its own")
    return out
