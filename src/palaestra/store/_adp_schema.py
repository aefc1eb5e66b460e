"""Our own pydantic mirror of the Agent Data Protocol (ADP) schema, version by version.

ADP (neulab/agent-data-protocol) is a training-data format for agent trajectories: one
`Trajectory` is a sequence of actions (`api_action`, `code_action`, `message_action`)
and observations (`text_observation`, `image_observation`, `web_observation`). ADP
validates every file with the models of one release, whatever `schema_version` the
file names, and those models forbid unknown fields: a file is valid for a release
only if that release's models accept it. What each release requires (checked against
ADP's `schema/` files; docs/exports.md has the table):

- **1.2.0** (`Adp12Trajectory`): `schema_version` in 1.2.0 / 1.1.0 / 1.0.0; `id`,
  `content`, `available_apis` (names, optional), `details`. No `tool_call_id` on any
  item: converters pair a tool action with the observation right after it.
- **1.3.0** (`Adp13Trajectory`): adds `tool_call_id` to actions and observations, and
  the link rules (`_link_problem`): ids of tool actions unique; an observation's id
  matches a preceding tool action; each action id answered exactly once; none on a
  `message_action`; a tool action directly followed by an observation carries an id;
  a linked text or image result is not `source: "user"`. Reads 1.3.0 down to 1.0.0.
- **1.5.0** (`Adp15Trajectory`): `available_apis` renamed `available_custom_tools`,
  `available_code_languages` added (ADP languages, exactly those of the code actions);
  tool specs live in a dataset-level `metadata.json` (`_adp_metadata`: OpenAI function
  specs, `code_enabled`, `browser_enabled`, and the checks of trajectories against it).
  Reads 1.5.0, 1.4.0 and 1.3.0 down to 1.0.0, the link rules unchanged.

Items carry `class_` (ADP types it as a plain string with a default, so an item without
it is accepted by their union: `_infer_class` restores it the way their union resolves
it). `code_action.language` is one of `ADP_CODE_LANGUAGES`. Serialisation
(`trajectory_json`) leaves out optional fields that are None (ADP's `exclude_if` does for
the ids and, from 1.3.0, for `reasoning_content` and `reward`; a missing optional field
reads back the same); fields ADP declares required but nullable are always written.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticSerializationError

from palaestra.core import UserError
from palaestra.store._adp_languages import ADP_CODE_LANGUAGES

ADP_VERSIONS = ("1.2.0", "1.3.0", "1.5.0")
"""The ADP releases palaestra writes, oldest first (1.4.0 exists in ADP's history but its
models could not be checked, so it is read, as ADP 1.5.0 reads it, and not written)."""

ADP_SCHEMA_VERSION = ADP_VERSIONS[-1]
"""The ADP version written by default: the newest."""

ADP_SUPPORTED: dict[str, tuple[str, ...]] = {
    "1.2.0": ("1.2.0", "1.1.0", "1.0.0"),
    "1.3.0": ("1.3.0", "1.2.0", "1.1.0", "1.0.0"),
    "1.5.0": ("1.5.0", "1.4.0", "1.3.0", "1.2.0", "1.1.0", "1.0.0"),
}
"""`schema_version` labels each release's models accept (its `SUPPORTED_SCHEMA_VERSIONS`)."""

ADP_READ_ALIASES = {"1.3.1": "1.3.0"}
"""Labels found in files that no release lists, read under the rules of the named one."""

AdpSource = Literal["user", "agent", "environment"]


class _AdpModel(BaseModel):
    """Base: unknown fields rejected; optional None fields left out when written."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    _omit_none: ClassVar[tuple[str, ...]] = (
        "reasoning_content",
        "reward",
        "tool_call_id",
        "description",
        "name",
        "annotations",
        "axtree",
        "available_apis",
        "available_custom_tools",
        "available_code_languages",
    )
    _keep_null: ClassVar[tuple[str, ...]] = ()
    """Fields ADP requires even when null: always written."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: Any) -> Any:
        data = handler(self)
        for key in self._omit_none:
            if key not in self._keep_null and key in data and data[key] is None:
                del data[key]
        if "class_" in data:  # the tag first, as ADP's files read
            data = {"class_": data.pop("class_"), **data}
        return data


# -- items of 1.2.0 (no tool_call_id) -----------------------------------------------------


class Adp12Action(_AdpModel):
    """Fields every ADP action carries."""

    reasoning_content: str | None = None
    """Extended chain-of-thought of the agent (e.g. a `<think>` block), if any."""
    reward: float | None = None
    """Per-step reward that followed this action."""


class Adp12ApiAction(Adp12Action):
    """A call of a named function (a tool) with keyword arguments."""

    class_: Literal["api_action"] = "api_action"
    function: str
    """Name of the function called."""
    kwargs: dict[str, Any]
    """Its arguments."""
    description: str | None = None
    """The agent's thought or explanation given with the call."""


class Adp12CodeAction(Adp12Action):
    """Code the agent runs (a Python program, a shell command, ...)."""

    _keep_null = ("description",)
    class_: Literal["code_action"] = "code_action"
    language: str
    """Programming language, one of ADP's list (`ADP_CODE_LANGUAGES`)."""
    content: str
    """The code."""
    description: str | None
    """The agent's thought given with the code (required by ADP, may be null)."""

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ADP_CODE_LANGUAGES:
            raise ValueError(f"{value!r} is not one of ADP's code languages")
        return value


class Adp12MessageAction(Adp12Action):
    """Text the agent says (a reply to the user, a message to another agent)."""

    class_: Literal["message_action"] = "message_action"
    content: str
    """The message."""
    description: str | None = None
    """Additional context or reasoning."""


class Adp12Observation(_AdpModel):
    """Fields every ADP observation carries."""

    reward: float | None = None
    """Per-step reward given with this observation."""


class Adp12TextObservation(Adp12Observation):
    """Text the agent receives: from the user (any other participant, another agent
    included), from the environment (tool results too), or its own earlier words."""

    class_: Literal["text_observation"] = "text_observation"
    content: str
    """The text (may be empty)."""
    source: AdpSource
    """Role of who it comes from: `user` (an input to this agent), `agent` (this agent's
    own earlier output), `environment`."""
    name: str | None = None
    """Name of the participant or tool it comes from."""


class AdpBoundingBox(BaseModel):
    """An annotation's box (a plain model in ADP: unknown keys are ignored)."""

    x: float
    y: float
    width: float
    height: float


class AdpImageAnnotation(BaseModel):
    """An element marked on an image (a plain model in ADP: unknown keys are ignored)."""

    model_config = ConfigDict(extra="ignore")
    text: str | None
    element_type: str
    bounding_box: AdpBoundingBox
    content_description: str | None = None
    clickable: bool | None = None
    editable: bool | None = None


class Adp12ImageObservation(Adp12Observation):
    """An image (a path or URL to it), e.g. a screenshot."""

    class_: Literal["image_observation"] = "image_observation"
    content: str
    """Path to the image."""
    annotations: list[AdpImageAnnotation] | None = None
    source: AdpSource


class Adp12WebObservation(Adp12Observation):
    """A web page: HTML, accessibility tree, URL, screenshot, viewport (each may be null)."""

    _keep_null = ("html", "url", "image_observation", "viewport_size")
    class_: Literal["web_observation"] = "web_observation"
    html: str | None
    axtree: str | None = None
    url: str | None
    image_observation: Adp12ImageObservation | None
    viewport_size: tuple[int, int] | None


# -- items of 1.3.0 and later (tool_call_id) ----------------------------------------------


class AdpApiAction(Adp12ApiAction):
    """`api_action` with the `tool_call_id` of 1.3.0 and later."""

    tool_call_id: str | None = None
    """Id linking this call to the observation that holds its result."""


class AdpCodeAction(Adp12CodeAction):
    """`code_action` with the `tool_call_id` of 1.3.0 and later."""

    tool_call_id: str | None = None
    """Id linking this code to the observation that holds its output."""


class AdpMessageAction(Adp12MessageAction):
    """`message_action` (1.3.0 and later declare `tool_call_id` and forbid a value)."""

    tool_call_id: str | None = None
    """Always None (a message is not a tool call)."""


class AdpTextObservation(Adp12TextObservation):
    """`text_observation` with the `tool_call_id` of 1.3.0 and later."""

    tool_call_id: str | None = None
    """Id of the tool action whose result this is."""


class AdpImageObservation(Adp12ImageObservation):
    """`image_observation` with the `tool_call_id` of 1.3.0 and later."""

    tool_call_id: str | None = None


class AdpWebObservation(Adp12WebObservation):
    """`web_observation` with the `tool_call_id` of 1.3.0 and later."""

    tool_call_id: str | None = None
    image_observation: AdpImageObservation | None


Adp12Item = Annotated[
    Adp12ApiAction
    | Adp12CodeAction
    | Adp12MessageAction
    | Adp12TextObservation
    | Adp12ImageObservation
    | Adp12WebObservation,
    Field(discriminator="class_"),
]
"""One content item of a 1.2.0 trajectory."""

AdpItem = Annotated[
    AdpApiAction
    | AdpCodeAction
    | AdpMessageAction
    | AdpTextObservation
    | AdpImageObservation
    | AdpWebObservation,
    Field(discriminator="class_"),
]
"""One content item of a 1.3.0 or later trajectory (the form palaestra builds)."""

TOOL_ACTIONS = (Adp12ApiAction, Adp12CodeAction)
"""Tool actions of any version."""
OBSERVATIONS = (Adp12TextObservation, Adp12ImageObservation, Adp12WebObservation)
"""Observations of any version."""
LINKED_ACTIONS = (AdpApiAction, AdpCodeAction)
"""Tool actions of 1.3.0 and later (with `tool_call_id`)."""
LINKED_OBSERVATIONS = (AdpTextObservation, AdpImageObservation, AdpWebObservation)
"""Observations of 1.3.0 and later (with `tool_call_id`)."""

_ITEM_FIELDS: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = (
    ("api_action", frozenset({"function", "kwargs"}), frozenset({"description"})),
    ("code_action", frozenset({"language", "content", "description"}), frozenset()),
    ("message_action", frozenset({"content"}), frozenset({"description"})),
    ("text_observation", frozenset({"content", "source"}), frozenset({"name"})),
    ("image_observation", frozenset({"content", "source"}), frozenset({"annotations"})),
    (
        "web_observation",
        frozenset({"html", "url", "image_observation", "viewport_size"}),
        frozenset({"axtree"}),
    ),
)
"""Per item class (in ADP's union order): required fields and other optional ones (the
common ones, `reasoning_content`, `reward`, `tool_call_id`, aside)."""

_COMMON = frozenset({"reasoning_content", "reward", "tool_call_id"})


def _infer_class(item: Any) -> Any:
    """An item without `class_` gets the class ADP's union gives it: the first (in union
    order) whose required fields it has and whose fields cover all of its keys."""
    if not isinstance(item, dict) or "class_" in item:
        return item
    keys = set(item) - _COMMON
    for name, required, optional in _ITEM_FIELDS:
        if required <= keys and keys <= required | optional:
            return {"class_": name, **item}
    return item


class _TrajectoryBase(_AdpModel):
    """What every version's root object shares."""

    VERSION: ClassVar[str] = ""
    schema_version: str
    """ADP schema version the trajectory names."""
    id: str
    """Trajectory id (ADP does not require ids to be unique within a file)."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Dataset-specific metadata (for palaestra: run, episode, agent, task, score...)."""

    @model_validator(mode="before")
    @classmethod
    def _classes(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("content"), list):
            data = {**data, "content": [_infer_class(item) for item in data["content"]]}
        return data

    @model_validator(mode="after")
    def _check_common(self) -> _TrajectoryBase:
        supported = ADP_SUPPORTED[self.VERSION]
        if self.schema_version not in supported:
            raise ValueError(
                f"unsupported schema_version {self.schema_version!r} for ADP {self.VERSION}; "
                f"supported: {', '.join(supported)}"
            )
        for key, value in self.details.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"details[{key!r}] is not a finite number: {value!r}")
        return self


def _link_problem(content: list[Any]) -> str | None:
    """The first violation of ADP's tool-call link rules (1.3.0 and later), or None."""
    actions: dict[str, int] = {}
    results: dict[str, int] = {}
    for index, item in enumerate(content):
        call_id = item.tool_call_id
        following = content[index + 1] if index + 1 < len(content) else None
        if isinstance(item, TOOL_ACTIONS) and isinstance(following, OBSERVATIONS):
            if call_id is None:
                return (
                    f"content[{index}]: a tool action followed by an observation (its result, "
                    f"by adjacency) carries no tool_call_id"
                )
        if call_id is None:
            continue
        if isinstance(item, Adp12MessageAction):
            return (
                f"content[{index}]: a message_action is not a tool call and carries no "
                f"tool_call_id (got {call_id!r})"
            )
        if isinstance(item, TOOL_ACTIONS):
            if call_id in actions:
                return (
                    f"content[{index}]: tool_call_id {call_id!r} repeats the action at "
                    f"content[{actions[call_id]}]"
                )
            actions[call_id] = index
            continue
        if call_id not in actions:
            return (
                f"content[{index}]: observation tool_call_id {call_id!r} matches no "
                f"preceding action"
            )
        if call_id in results:
            return (
                f"content[{index}]: a second result for tool_call_id {call_id!r} (the first "
                f"is content[{results[call_id]}])"
            )
        if isinstance(item, Adp12TextObservation | Adp12ImageObservation) and (
            item.source == "user"
        ):
            return (
                f"content[{index}]: the result of tool_call_id {call_id!r} has source 'user' "
                f"(a tool result comes from the environment)"
            )
        results[call_id] = index
    for call_id, index in actions.items():
        if call_id not in results:
            return f"content[{index}]: tool_call_id {call_id!r} has no observation answering it"
    return None


class Adp12Trajectory(_TrajectoryBase):
    """A trajectory as ADP 1.2.0 validates it: items carry no `tool_call_id`."""

    VERSION: ClassVar[str] = "1.2.0"
    schema_version: str = "1.2.0"
    content: list[Adp12Item]
    """Actions and observations, in order (a tool's result right after its call)."""
    available_apis: list[str] | None = None
    """Names of the functions the agent could call (ADP's datasets: covers every
    `api_action.function`)."""


class Adp13Trajectory(_TrajectoryBase):
    """A trajectory as ADP 1.3.0 validates it: `tool_call_id` links, checked."""

    VERSION: ClassVar[str] = "1.3.0"
    schema_version: str = "1.3.0"
    content: list[AdpItem]
    """Actions and observations, in order."""
    available_apis: list[str] | None = None
    """Names of the functions the agent could call."""

    @model_validator(mode="after")
    def _check_links(self) -> Adp13Trajectory:
        problem = _link_problem(self.content)
        if problem:
            raise ValueError(problem)
        return self


class Adp15Trajectory(_TrajectoryBase):
    """A trajectory as ADP 1.5.0 validates it: the 1.3.0 links, `available_custom_tools`
    (tool specs are in the dataset's `metadata.json`), `available_code_languages`."""

    VERSION: ClassVar[str] = "1.5.0"
    schema_version: str = "1.5.0"
    content: list[AdpItem]
    """Actions and observations, in order."""
    available_custom_tools: list[str] | None = None
    """Names of the dataset's custom tools (`metadata.json`) this agent could call;
    covers every custom `api_action.function`."""
    available_code_languages: list[str] | None = None
    """The languages of this trajectory's code actions, exactly (when given)."""

    @model_validator(mode="after")
    def _check_links(self) -> Adp15Trajectory:
        problem = _link_problem(self.content)
        if problem:
            raise ValueError(problem)
        if self.available_code_languages is not None:
            given = set(self.available_code_languages)
            unknown = sorted(given - ADP_CODE_LANGUAGES)
            if unknown:
                raise ValueError(f"available_code_languages: not ADP languages: {unknown}")
            used = {i.language for i in self.content if isinstance(i, Adp12CodeAction)}
            if used != given:
                raise ValueError(
                    f"available_code_languages {sorted(given)} must be exactly the languages "
                    f"of the code actions {sorted(used)}"
                )
        return self


AdpTrajectory = Adp12Trajectory | Adp13Trajectory | Adp15Trajectory
"""A trajectory of any version palaestra writes or reads."""

TRAJECTORY_MODELS: dict[str, type[_TrajectoryBase]] = {
    "1.2.0": Adp12Trajectory,
    "1.3.0": Adp13Trajectory,
    "1.5.0": Adp15Trajectory,
}


def trajectory_json(trajectory: _TrajectoryBase) -> str:
    """One compact JSON line of a trajectory (optional None fields left out).

    A value nested deeper than pydantic serialises (about 250 levels, e.g. tool arguments
    a model wrote) is a `UserError` naming the trajectory, not a traceback."""
    try:
        data = trajectory.model_dump(mode="json")
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    except (PydanticSerializationError, RecursionError) as exc:
        raise UserError(
            f"ADP trajectory {trajectory.id!r} cannot be written: {exc} (a value in it, "
            f"such as a tool call's arguments, is nested too deeply)"
        ) from None
