"""ADP 1.5.0's dataset-level `metadata.json` and the checks of trajectories against it.

From 1.5.0 an ADP dataset is a directory: its trajectories, and `metadata.json` with the
specs of the dataset's custom tools in OpenAI's function format (`custom_tools`), the
languages of its code actions (`code_enabled`) and whether it browses
(`browser_enabled`). A trajectory names the custom tools its agent could call
(`available_custom_tools`, a subset); ADP's `validate_trajectory_metadata` then checks
every item against the metadata (`metadata_problems` here, the same rules). Function
names of browser actions (`BROWSER_ACTIONS`) with browser-like arguments count as
browsing, not as custom tools.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from palaestra.store._adp_languages import ADP_CODE_LANGUAGES
from palaestra.store._adp_schema import (
    Adp12ApiAction,
    Adp12CodeAction,
    Adp12WebObservation,
    Adp15Trajectory,
    _AdpModel,
)


class AdpFunctionSpec(_AdpModel):
    """One custom tool in OpenAI's function format."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """JSON schema of the arguments."""


class AdpToolSpec(_AdpModel):
    """`{"type": "function", "function": {...}}`."""

    type: Literal["function"] = "function"
    function: AdpFunctionSpec


class AdpDatasetMetadata(_AdpModel):
    """`metadata.json` of an ADP 1.5.0 dataset: the tools its trajectories may call."""

    _omit_none = ()
    custom_tools: list[AdpToolSpec] = Field(default_factory=list)
    """Every custom tool of the dataset, names unique."""
    code_enabled: list[str] = Field(default_factory=list)
    """Languages of the dataset's code actions (sorted, ADP languages)."""
    browser_enabled: bool = False
    """Whether trajectories browse (web observations, browser actions)."""

    @field_validator("code_enabled")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - ADP_CODE_LANGUAGES)
        if unknown:
            raise ValueError(f"not ADP code languages: {unknown}")
        return sorted(value)

    @model_validator(mode="after")
    def _unique(self) -> AdpDatasetMetadata:
        names = [tool.function.name for tool in self.custom_tools]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"custom_tools names repeat: {repeated}")
        return self


BROWSER_ACTIONS = frozenset(
    {
        "back",
        "click",
        "clear",
        "dblclick",
        "drag_and_drop",
        "fill",
        "focus",
        "go_back",
        "go_forward",
        "goto",
        "hover",
        "noop",
        "press",
        "scroll",
        "select_option",
        "type",
        "upload_file",
    }
)
"""Function names ADP 1.5.0 treats as browser actions (with browser-like arguments)."""

_BROWSER_ARGUMENTS = frozenset(
    {"bid", "delta_x", "delta_y", "dx", "dy", "element", "element_id", "id", "index"}
    | {"url", "xpath"}
)


def is_browser_action(function: str, kwargs: dict[str, Any], *, browsing: bool) -> bool:
    """Whether ADP 1.5.0 counts an `api_action` as a browser action (then the dataset
    must be `browser_enabled`): a browser action name, in a browsing dataset or with a
    browser-like argument (`goto` with a `url`)."""
    if function not in BROWSER_ACTIONS:
        return False
    if browsing:
        return True
    if function == "goto":
        return "url" in kwargs
    if function in ("back", "go_back", "go_forward", "noop"):
        return False
    return bool(_BROWSER_ARGUMENTS & set(kwargs))


def metadata_problems(
    metadata: AdpDatasetMetadata, trajectories: list[Adp15Trajectory]
) -> list[str]:
    """ADP 1.5.0's dataset checks of trajectories against their `metadata.json`: code
    languages enabled, web observations and browser actions only when browsing, every
    other `api_action.function` a custom tool listed in the trajectory's
    `available_custom_tools` (a subset of the custom tools)."""
    names = {tool.function.name for tool in metadata.custom_tools}
    problems = []
    for traj in trajectories:
        given = traj.available_custom_tools
        available = names if given is None else set(given)
        missing = sorted(available - names)
        if missing:
            problems.append(f"{traj.id}: available_custom_tools not in metadata: {missing}")
        for index, item in enumerate(traj.content):
            where = f"{traj.id} content[{index}]"
            if isinstance(item, Adp12CodeAction) and item.language not in metadata.code_enabled:
                problems.append(f"{where}: language {item.language!r} not in code_enabled")
            elif isinstance(item, Adp12WebObservation) and not metadata.browser_enabled:
                problems.append(f"{where}: web observation but browser_enabled is false")
            elif isinstance(item, Adp12ApiAction):
                if is_browser_action(item.function, item.kwargs, browsing=metadata.browser_enabled):
                    if not metadata.browser_enabled:
                        problems.append(f"{where}: browser action but browser_enabled is false")
                elif item.function not in names:
                    problems.append(f"{where}: {item.function!r} is not a custom tool")
                elif item.function not in available:
                    problems.append(f"{where}: {item.function!r} not in available_custom_tools")
    return problems
