"""Setting files besides the experiment: fault plans (`palaestra run --faults FILE`,
what `palaestra stress` writes), contract lists (`palaestra check --contracts FILE`)
and rubrics (`rubric_file:` of a judge scorer). Errors name the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from palaestra.assurance import ContractSpec
from palaestra.boundaries import FaultPlan
from palaestra.config._yaml import format_validation_error, load_yaml_file
from palaestra.core import ConfigError
from palaestra.eval import Rubric


def load_fault_plan(path: str | Path) -> FaultPlan:
    """A plan from a YAML file: a mapping with a `faults:` key (as `palaestra stress`
    writes, possibly with other keys), the plan itself (`seed`, `rules`), or a list of
    rules. Errors name the file and line."""
    path = Path(path)
    data, lines = load_yaml_file(path, what="fault plan file", expected="a fault plan")
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and "faults" in data:
        data, prefix = data["faults"], ("faults",)
    if not isinstance(data, dict | list):
        raise ConfigError(
            f"{path}:1: expected a fault plan (a mapping with `rules`, or a list of rules), "
            f"got {type(data).__name__}"
        )
    try:
        return FaultPlan.model_validate(data)
    except ValidationError as exc:
        shifted = {
            loc[len(prefix) :]: line for loc, line in lines.items() if loc[: len(prefix)] == prefix
        }
        if isinstance(data, list):  # the shorthand: errors are reported under `rules`
            shifted = {("rules", *loc): line for loc, line in shifted.items()}
        raise ConfigError(format_validation_error(exc, source=str(path), lines=shifted)) from None


def load_contracts_file(path: str | Path) -> list[ContractSpec]:
    """Contract entries from a YAML file: a mapping with a `contracts:` list (an
    experiment file works too) or the list itself. Errors name the file and line."""
    path = Path(path)
    data, lines = load_yaml_file(path, what="contracts file", expected="a `contracts:` list")
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and "contracts" in data:
        data, prefix = data["contracts"], ("contracts",)
    if not isinstance(data, list):
        raise ConfigError(
            f"{path}:1: expected a `contracts:` list (or a list of contract entries), "
            f"got {type(data).__name__}"
        )
    shifted: dict[Any, int] = {
        loc[len(prefix) :]: line for loc, line in lines.items() if loc[: len(prefix)] == prefix
    }
    try:
        return TypeAdapter(list[ContractSpec]).validate_python(data)
    except ValidationError as exc:
        message = format_validation_error(exc, source=str(path), lines=shifted)
        if prefix:  # name the fields as they are in the file
            message = "\n".join(
                line.replace(": ", ": contracts.", 1) if line.startswith(str(path)) else line
                for line in message.splitlines()
            )
        raise ConfigError(message) from None


def load_rubric_file(path: Path) -> Rubric:
    """A rubric YAML file, validated with errors that name the file line."""
    from pydantic import ValidationError

    path = Path(path)
    data, lines = load_yaml_file(path, what="rubric file", expected="a rubric mapping")
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source=str(path), lines=lines)) from None
