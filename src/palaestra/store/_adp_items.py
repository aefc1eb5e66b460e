"""From an agent's items to a trajectory of one ADP version: call/result links and order.

An agent's view (`palaestra.store._adp`) is a list of ADP items in log order, each tool
action and tool result carrying the call id of the log. Before it is written:

1. **Links** (`link_calls`): repeated action ids get a `#2`, `#3`... suffix; a result is
   linked to the latest action with its id that has no result yet; a result of no action
   of the view loses its id.
2. **Order**: each result is moved to right after its call, so parallel calls read call,
   result, call, result: converters that pair by position (ADP 1.2.0 has no ids, and
   ADP's SFT converters pair by adjacency) then pair them right. A result is moved only
   across observations (messages that arrived meanwhile), never across another action
   of the agent.
3. **Unanswered calls**: a tool action with no result in the view (the episode ended,
   or a member's proposal the system did not execute and the member never heard of)
   keeps no id; if an observation follows it, a `NO_RESULT` observation is put between
   them, so that nothing else is read as its result (ADP 1.3.0 requires an id there,
   and an id must be answered). In 1.2.0, which pairs by adjacency only, so is a call
   whose result could not be put right after it. Import drops these markers.

`to_version` then builds the trajectory model of the version asked for (1.2.0: the ids
dropped; 1.5.0: `available_custom_tools` and `available_code_languages`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from palaestra.core import UserError
from palaestra.store._adp_schema import (
    ADP_VERSIONS,
    LINKED_ACTIONS,
    LINKED_OBSERVATIONS,
    Adp12CodeAction,
    Adp12Item,
    Adp12Trajectory,
    Adp13Trajectory,
    Adp15Trajectory,
    AdpTextObservation,
    AdpTrajectory,
)

NO_RESULT = (
    "No result follows here: the call was not executed, or its result was not recorded "
    "right after it."
)
"""Text of the observation written between an unanswered tool action and the observation
that follows it (see the module docstring)."""


def link_calls(items: list[Any], *, adjacency: bool = False) -> list[Any]:
    """The items with exact links, results right after their calls and unanswered calls
    marked (steps 1-3 of the module docstring). Items are changed in place.

    `adjacency` (1.2.0, no ids): a call counts as answered only by the observation right
    after it; a result that could not be moved there (another action of the agent came
    first) stays where it is as a plain observation, and the call is marked."""
    answered = _link(items)
    ordered = _results_after_calls(items, answered)
    out: list[Any] = []
    taken = {item.tool_call_id for item in ordered if item.tool_call_id is not None}
    for index, item in enumerate(ordered):
        out.append(item)
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        result = answered.get(id(item))
        if not isinstance(item, LINKED_ACTIONS) or (
            result is not None and (not adjacency or result is following)
        ):
            continue
        if not isinstance(following, LINKED_OBSERVATIONS):
            item.tool_call_id = None
            continue
        if item.tool_call_id is None:
            item.tool_call_id = _fresh("no-result", taken)
        out.append(
            AdpTextObservation(
                content=NO_RESULT, source="environment", tool_call_id=item.tool_call_id
            )
        )
    return out


def _fresh(stem: str, taken: set[str]) -> str:
    n = 1
    while f"{stem}-{n}" in taken:
        n += 1
    taken.add(f"{stem}-{n}")
    return f"{stem}-{n}"


def _link(items: list[Any]) -> dict[int, Any]:
    """Make action ids unique and link results; returns {id(action): its result}."""
    latest: dict[str, Any] = {}
    answered: dict[int, Any] = {}
    used = {item.tool_call_id for item in items if isinstance(item, LINKED_ACTIONS)}
    seen: set[str] = set()
    for item in items:
        call_id = item.tool_call_id
        if call_id is None:
            continue
        if isinstance(item, LINKED_ACTIONS):
            item_id = call_id
            if call_id in seen:
                n = 2
                while f"{call_id}#{n}" in used:
                    n += 1
                call_id = f"{call_id}#{n}"
                used.add(call_id)
            item.tool_call_id = call_id
            seen.add(call_id)
            latest[item_id] = item
        elif call_id in latest and id(latest[call_id]) not in answered:
            answered[id(latest[call_id])] = item
            item.tool_call_id = latest[call_id].tool_call_id
        else:
            item.tool_call_id = None
    return answered


def _results_after_calls(items: list[Any], answered: dict[int, Any]) -> list[Any]:
    """Each run of tool actions with the observations after it (up to the next action)
    rewritten as call, its result, call, its result..., then the other observations."""
    out: list[Any] = []
    index = 0
    while index < len(items):
        if not isinstance(items[index], LINKED_ACTIONS):
            out.append(items[index])
            index += 1
            continue
        end = index
        while end < len(items) and isinstance(items[end], LINKED_ACTIONS):
            end += 1
        stop = end
        while stop < len(items) and isinstance(items[stop], LINKED_OBSERVATIONS):
            stop += 1
        window = {id(item) for item in items[end:stop]}
        moved: set[int] = set()
        for action in items[index:end]:
            out.append(action)
            result = answered.get(id(action))
            if result is not None and id(result) in window:
                out.append(result)
                moved.add(id(result))
        out.extend(item for item in items[end:stop] if id(item) not in moved)
        index = stop
    return out


def to_version(
    items: Sequence[Any],
    version: str,
    *,
    traj_id: str,
    available: list[str] | None,
    details: dict[str, Any],
) -> AdpTrajectory:
    """The trajectory model of ADP `version` for linked items (see `link_calls`)."""
    if version == "1.2.0":
        return Adp12Trajectory(
            id=traj_id,
            content=[_without_ids(item) for item in items],
            available_apis=available,
            details=details,
        )
    if version == "1.3.0":
        return Adp13Trajectory(
            id=traj_id, content=list(items), available_apis=available, details=details
        )
    if version == "1.5.0":
        languages = sorted({i.language for i in items if isinstance(i, Adp12CodeAction)})
        return Adp15Trajectory(
            id=traj_id,
            content=list(items),
            available_custom_tools=available,
            available_code_languages=languages or None,
            details=details,
        )
    raise UserError(f"unknown ADP version {version!r}; palaestra writes {', '.join(ADP_VERSIONS)}")


def _without_ids(item: Any) -> Adp12Item:
    data = item.model_dump(mode="json")
    data.pop("tool_call_id", None)
    if isinstance(data.get("image_observation"), dict):
        data["image_observation"].pop("tool_call_id", None)
    return _ITEM12.validate_python(data)


_ITEM12: TypeAdapter[Any] = TypeAdapter(Adp12Item)
