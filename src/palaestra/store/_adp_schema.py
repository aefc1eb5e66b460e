"""Our own pydantic mirror of the Agent Data Protocol (ADP) schema, version 1.2.0.

ADP (neulab/agent-data-protocol) is a training-data format for agent trajectories: one
`Trajectory` is a sequence of actions (`api_action`, `code_action`, `message_action`)
and observations (`text_observation`, `image_observation`, `web_observation`), each
tagged by `class_`. These models follow ADP's field names, optionality and validation
rules so that a file we write is accepted by ADP's own models, and a file we read is
checked as strictly as ADP checks it:

- unknown fields are rejected on every model;
- `schema_version` is one of ADP's supported versions;
- an observation's `tool_call_id` matches a preceding action's, at most one result per
  call, and action `tool_call_id`s are unique; a `message_action` carries none;
- every `api_action.function` is listed in `available_apis` (when that list is given);
- numeric `details` values are finite numbers.

Serialisation (`trajectory_json`) leaves out optional fields that are None, as ADP's
`exclude_if` does for `tool_call_id`; fields ADP declares required but nullable
(`code_action.description`, the `web_observation` fields) are always written.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

ADP_SCHEMA_VERSION = "1.2.0"
"""The ADP schema version we write."""

ADP_SUPPORTED_VERSIONS = ("1.2.0", "1.1.0", "1.0.0")
"""Versions we read (ADP's `SUPPORTED_SCHEMA_VERSIONS` for 1.2.0)."""

AdpSource = Literal["user", "agent", "environment"]


class _AdpModel(BaseModel):
    """Base: unknown fields rejected; optional None fields left out when written."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    _omit_none: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> Any:
        data = handler(self)
        for key in self._omit_none:
            if data.get(key, 0) is None:
                del data[key]
        if "class_" in data:  # the tag first, as ADP's files read
            data = {"class_": data.pop("class_"), **data}
        return data


class AdpAction(_AdpModel):
    """Fields every ADP action carries."""

    reasoning_content: str | None = None
    """Extended chain-of-thought of the agent (e.g. a `<think>` block), if any."""
    reward: float | None = None
    """Per-step reward that followed this action."""
    tool_call_id: str | None = None
    """Id linking a tool action to the observation that holds its result."""


class AdpApiAction(AdpAction):
    """A call of a named function (a tool) with keyword arguments."""

    _omit_none = ("reasoning_content", "reward", "tool_call_id", "description")
    class_: Literal["api_action"] = "api_action"
    function: str
    """Name of the function called."""
    kwargs: dict[str, Any]
    """Its arguments."""
    description: str | None = None
    """The agent's thought or explanation given with the call."""


class AdpCodeAction(AdpAction):
    """Code the agent runs (a Python program, a shell command)."""

    _omit_none = ("reasoning_content", "reward", "tool_call_id")
    class_: Literal["code_action"] = "code_action"
    language: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9_+#.-]+$")]
    """Programming language, lower case as in ADP's list (python, bash, ...)."""
    content: str
    """The code."""
    description: str | None
    """The agent's thought given with the code (required by ADP, may be null)."""


class AdpMessageAction(AdpAction):
    """Text the agent says (a reply to the user, a message to another agent)."""

    _omit_none = ("reasoning_content", "reward", "tool_call_id", "description")
    class_: Literal["message_action"] = "message_action"
    content: str
    """The message."""
    description: str | None = None
    """Additional context or reasoning."""


class AdpObservation(_AdpModel):
    """Fields every ADP observation carries."""

    tool_call_id: str | None = None
    """Id of the tool action whose result this is."""
    reward: float | None = None
    """Per-step reward given with this observation."""


class AdpTextObservation(AdpObservation):
    """Text the agent receives from the user, another agent, or the environment."""

    _omit_none = ("tool_call_id", "reward", "name")
    class_: Literal["text_observation"] = "text_observation"
    content: str
    """The text."""
    source: AdpSource
    """Who it comes from: the user, an agent, or the environment (tool results too)."""
    name: str | None = None
    """Name of the participant or tool it comes from."""


class AdpBoundingBox(_AdpModel):
    x: float
    y: float
    width: float
    height: float


class AdpImageAnnotation(_AdpModel):
    _omit_none = ("content_description", "clickable", "editable")
    element_type: str
    bounding_box: AdpBoundingBox
    text: str | None
    content_description: str | None = None
    clickable: bool | None = None
    editable: bool | None = None


class AdpImageObservation(AdpObservation):
    """An image (a path to it), e.g. a screenshot."""

    _omit_none = ("tool_call_id", "reward", "annotations")
    class_: Literal["image_observation"] = "image_observation"
    content: str
    """Path to the image."""
    annotations: list[AdpImageAnnotation] | None = None
    source: AdpSource


class AdpWebObservation(AdpObservation):
    """A web page: HTML, accessibility tree, URL, screenshot, viewport (each may be null)."""

    _omit_none = ("tool_call_id", "reward")
    class_: Literal["web_observation"] = "web_observation"
    html: str | None
    axtree: str | None
    url: str | None
    image_observation: AdpImageObservation | None
    viewport_size: tuple[int, int] | None


AdpItem = Annotated[
    AdpApiAction
    | AdpCodeAction
    | AdpMessageAction
    | AdpTextObservation
    | AdpImageObservation
    | AdpWebObservation,
    Field(discriminator="class_"),
]
"""One content item of a trajectory, tagged by `class_`."""

TOOL_ACTIONS = (AdpApiAction, AdpCodeAction)
OBSERVATIONS = (AdpTextObservation, AdpImageObservation, AdpWebObservation)


class AdpTrajectory(_AdpModel):
    """One agent's trajectory: the root object of an ADP file (one per JSONL line)."""

    _omit_none = ()
    schema_version: str = ADP_SCHEMA_VERSION
    """ADP schema version of this trajectory."""
    id: str
    """Unique id of the trajectory within its dataset."""
    content: list[AdpItem]
    """Actions and observations, in order."""
    available_apis: list[str] | None = None
    """Names of the functions the agent could call; covers every `api_action.function`."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Dataset-specific metadata (for palaestra: run, episode, agent, task, score...)."""

    @model_validator(mode="after")
    def _check(self) -> AdpTrajectory:
        if self.schema_version not in ADP_SUPPORTED_VERSIONS:
            raise ValueError(
                f"unsupported schema_version {self.schema_version!r}; supported: "
                f"{', '.join(ADP_SUPPORTED_VERSIONS)}"
            )
        actions: dict[str, int] = {}
        results: dict[str, int] = {}
        for index, item in enumerate(self.content):
            call_id = item.tool_call_id
            if call_id is None:
                continue
            if isinstance(item, AdpMessageAction):
                raise ValueError(
                    f"content[{index}]: a message_action is not a tool call and carries no "
                    f"tool_call_id (got {call_id!r})"
                )
            if isinstance(item, TOOL_ACTIONS):
                if call_id in actions:
                    raise ValueError(
                        f"content[{index}]: tool_call_id {call_id!r} repeats the action at "
                        f"content[{actions[call_id]}]"
                    )
                actions[call_id] = index
            else:
                if call_id not in actions:
                    raise ValueError(
                        f"content[{index}]: observation tool_call_id {call_id!r} matches no "
                        f"preceding action"
                    )
                if call_id in results:
                    raise ValueError(
                        f"content[{index}]: a second result for tool_call_id {call_id!r} "
                        f"(the first is content[{results[call_id]}])"
                    )
                results[call_id] = index
        if self.available_apis is not None:
            apis = set(self.available_apis)
            for index, item in enumerate(self.content):
                if isinstance(item, AdpApiAction) and item.function not in apis:
                    raise ValueError(
                        f"content[{index}]: api_action function {item.function!r} is not in "
                        f"available_apis ({', '.join(self.available_apis) or 'empty'})"
                    )
        for key, value in self.details.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"details[{key!r}] is not a finite number: {value!r}")
        return self


def trajectory_json(trajectory: AdpTrajectory) -> str:
    """One compact JSON line of a trajectory (optional None fields left out)."""
    return json.dumps(trajectory.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
