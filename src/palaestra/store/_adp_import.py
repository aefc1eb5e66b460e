"""ADP import: trajectories back into episodes whose ADP export is the same file.

Reading and checking the files is `_adp_read`. Trajectories with the same
`details.episode_id` become one episode, one agent each (in file order; a second
trajectory of the same agent starts another episode); observations become `observation`
events (text with `data.source`, or one chat message for a tool result or a named
speaker), consecutive tool actions one `action` event (a description, reasoning or
reward ends a group), rewards `env_step` events, the score a `score` event. Calls and
results without ids (1.2.0) are paired by adjacency, as ADP's converters pair them: a
tool action and the observation right after it (unless that one is the user's). The
`NO_RESULT` markers of palaestra's export are dropped (the export writes them again).
A trajectory palaestra did not write keeps its id, details and tool lists verbatim in
`EpisodeStart.params["adp"]`; its agent's tools are the dataset's `custom_tools` it may
call. Trajectory ids may repeat (ADP does not require them unique): each such trajectory
is its own episode. See `palaestra.store._adp` for the export and docs/exports.md for
the mapping.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import TypeAdapter, ValidationError

from palaestra.core import (
    Action,
    ActionEvent,
    EnvStep,
    EpisodeEnd,
    EpisodeStart,
    Event,
    Message,
    Observation,
    ObservationEvent,
    Payload,
    ScoreEvent,
    ToolCall,
    ToolSpec,
    UserError,
    make_event,
)
from palaestra.store._adp import _LANGUAGE_TOOL, _OWN_KEY
from palaestra.store._adp_items import NO_RESULT
from palaestra.store._adp_metadata import AdpDatasetMetadata
from palaestra.store._adp_read import _problems, read_adp, read_adp_dataset
from palaestra.store._adp_schema import (
    LINKED_ACTIONS,
    LINKED_OBSERVATIONS,
    OBSERVATIONS,
    TOOL_ACTIONS,
    AdpCodeAction,
    AdpItem,
    AdpMessageAction,
    AdpTextObservation,
    AdpTrajectory,
)
from palaestra.store._rows import EpisodeRow

_ITEM: TypeAdapter[Any] = TypeAdapter(AdpItem)


def _count(value: Any, default: int) -> int:
    """A count from `details` (seed, epoch, steps): a whole number SQLite can hold."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
    return value if ok else default


def _usable_id(value: str) -> bool:
    """Whether a `details.run_id` can name the imported run (printable, not too long)."""
    return 0 < len(value) <= 200 and value.isprintable()


def _items(traj: AdpTrajectory) -> list[Any]:
    """A trajectory's items as 1.3 items: ids kept, `NO_RESULT` markers dropped, calls and
    results without ids paired by adjacency."""
    try:
        items = [_ITEM.validate_python(item.model_dump(mode="json")) for item in traj.content]
    except (ValueError, RecursionError) as exc:  # e.g. arguments nested too deeply
        raise UserError(f"trajectory {traj.id!r}: cannot be read: {exc}") from None
    kept: list[Any] = []
    marked: set[int] = set()  # calls a marker said have no result: not paired
    for index, item in enumerate(items):
        before = items[index - 1] if index else None
        if (
            isinstance(item, AdpTextObservation)
            and item.content == NO_RESULT
            and item.source == "environment"
            and isinstance(before, LINKED_ACTIONS)
            and before.tool_call_id == item.tool_call_id
        ):
            marked.add(id(before))
            continue
        kept.append(item)
    taken = {i.tool_call_id for i in kept if i.tool_call_id is not None}
    for index, item in enumerate(kept[:-1]):
        following = kept[index + 1]
        if (
            isinstance(item, LINKED_ACTIONS)
            and item.tool_call_id is None
            and id(item) not in marked
            and isinstance(following, LINKED_OBSERVATIONS)
            and following.tool_call_id is None
            and getattr(following, "source", "environment") != "user"
        ):
            n = index
            while f"adp-{n}" in taken:
                n += 1000
            item.tool_call_id = following.tool_call_id = f"adp-{n}"
            taken.add(item.tool_call_id)
    return kept


@dataclass
class ImportedEpisode:
    """An episode rebuilt from ADP trajectories: its index row and its events."""

    row: EpisodeRow
    events: list[Event]


class _Builder:
    """Events of one episode, appended with dense seqs and non-decreasing steps."""

    def __init__(self, episode_id: str) -> None:
        self.episode_id = episode_id
        self.events: list[Event] = []
        self.step = 0

    def add(self, agent: str, payload: Payload, parent: int | None = None) -> int:
        seq = len(self.events)
        self.events.append(
            make_event(self.episode_id, seq, self.step, agent, payload, parent=parent)
        )
        return seq


def _item_observation(item: Any) -> Observation:
    if not isinstance(item, AdpTextObservation):
        return Observation(
            text=getattr(item, "content", "") or "", data={"adp_item": item.model_dump(mode="json")}
        )
    data: dict[str, Any] = {}
    if item.reward is not None:
        data["adp_reward"] = item.reward
    if item.tool_call_id is None and item.name is None:
        return Observation(text=item.content, data={"source": item.source, **data})
    role = (
        "tool"
        if item.tool_call_id
        else {"user": "user", "agent": "assistant"}.get(item.source, "system")
    )
    message = Message(
        role=role, content=item.content, name=item.name, tool_call_id=item.tool_call_id
    )
    return Observation(text=item.content, data=data, messages=[message])


def _group_actions(items: list[Any]) -> Iterator[list[Any]]:
    """Consecutive tool actions that form one `Action`: a group ends at a reward, and a
    description, reasoning or a non-tool item starts a new one."""
    group: list[Any] = []
    for item in items:
        starts = (
            not group
            or not isinstance(item, LINKED_ACTIONS)
            or not isinstance(group[-1], TOOL_ACTIONS)
            or item.description is not None
            or item.reasoning_content is not None
            or group[-1].reward is not None
        )
        if starts and group:
            yield group
            group = []
        group.append(item)
    if group:
        yield group


def _tool_call(item: Any, taken: set[str], index: int) -> ToolCall:
    call_id = item.tool_call_id
    if call_id is None:
        call_id = f"adp-{index}"
        while call_id in taken:
            call_id += "'"
    taken.add(call_id)
    if isinstance(item, AdpCodeAction):
        name, arg = _LANGUAGE_TOOL.get(item.language, (f"run_{item.language}", "code"))
        # run_<language> with a `code` argument is written back as a code_action
        return ToolCall(id=call_id, name=name, arguments={arg: item.content})
    return ToolCall(id=call_id, name=item.function, arguments=item.kwargs)


def _add_trajectory(
    builder: _Builder, traj: AdpTrajectory, agent: str, tools: list[ToolSpec]
) -> None:
    items = _items(traj)
    taken = {i.tool_call_id for i in items if i.tool_call_id}
    index = 0
    for group in _group_actions(items):
        first = group[0]
        if isinstance(first, OBSERVATIONS):
            obs = _item_observation(first)
            if tools:
                obs.tools, tools = tools, []
            builder.add(agent, ObservationEvent(observation=obs))
        else:
            data: dict[str, Any] = {}
            if first.reasoning_content is not None:
                data["reasoning_content"] = first.reasoning_content
            if isinstance(first, AdpMessageAction):
                if first.description is not None:
                    data["description"] = first.description
                action = Action(text=first.content, data=data)
            else:
                calls = [_tool_call(item, taken, index + i) for i, item in enumerate(group)]
                action = Action(text=first.description, tool_calls=calls, data=data)
            builder.add(agent, ActionEvent(action=action))
            if group[-1].reward is not None:
                builder.add("env", EnvStep(rewards={agent: group[-1].reward}))
                builder.step += 1
        index += len(group)


def _own(traj: AdpTrajectory) -> bool:
    return isinstance(traj.details.get(_OWN_KEY), str)


def _tools(traj: AdpTrajectory, metadata: AdpDatasetMetadata | None) -> list[ToolSpec]:
    """The tools of a trajectory's agent: palaestra's `details.tools`, else the dataset's
    custom tools it may call (all of them when it names none)."""
    if _own(traj):
        specs = traj.details.get("tools")
        try:
            return [ToolSpec.model_validate(t) for t in specs] if isinstance(specs, list) else []
        except ValidationError as exc:
            raise UserError(f"trajectory {traj.id!r}: details.tools: {_problems(exc)}") from None
    if metadata is None:
        return []
    names = getattr(traj, "available_custom_tools", None)
    return [
        ToolSpec(
            name=tool.function.name,
            description=tool.function.description or "",
            parameters=tool.function.parameters,
        )
        for tool in metadata.custom_tools
        if names is None or tool.function.name in names
    ]


def _kept(traj: AdpTrajectory) -> dict[str, Any]:
    """What the export writes back verbatim for a trajectory (its id, details, lists)."""
    kept: dict[str, Any] = {"id": traj.id, "details": traj.details}
    for key in ("available_apis", "available_custom_tools"):
        if hasattr(traj, key):
            kept[key] = getattr(traj, key)
    return kept


def _episodes_of(trajectories: Sequence[AdpTrajectory]) -> dict[str, list[AdpTrajectory]]:
    """Trajectories grouped into episodes: palaestra's by `details.episode_id` (a second
    trajectory of one agent starts a new episode), any other one alone; ids made unique."""
    grouped: dict[str, list[AdpTrajectory]] = {}
    for traj in trajectories:
        if _own(traj):
            key = str(traj.details[_OWN_KEY])
            agent = traj.details.get("agent")
            n = 1
            while any(t.details.get("agent") == agent for t in grouped.get(key, [])):
                n += 1
                key = f"{traj.details[_OWN_KEY]}#{n}"
        else:
            key, n = traj.id, 1
            while key in grouped:
                n += 1
                key = f"{traj.id}#{n}"
        grouped.setdefault(key, []).append(traj)
    return grouped


def adp_to_episodes(
    trajectories: Sequence[AdpTrajectory], metadata: AdpDatasetMetadata | None = None
) -> list[ImportedEpisode]:
    """Episodes (rows and events) from ADP trajectories; one per `details.episode_id`
    (or per trajectory for trajectories from elsewhere), in file order. `metadata` (a
    1.5.0 dataset's) gives the tools of trajectories from elsewhere."""
    episodes = []
    for episode_id, members in _episodes_of(trajectories).items():
        own = _own(members[0])
        renamed = own and episode_id != members[0].details[_OWN_KEY]
        head = members[0].details if own else {}
        agents: list[str] = []
        foreign: dict[str, Any] = {}
        prompts: dict[str, str] = {}
        for traj in members:
            agent = str(traj.details.get("agent") or "agent") if own else "agent"
            agents.append(agent)
            if not own or renamed:
                foreign[agent] = _kept(traj)
            if own and traj.details.get("system_prompt"):
                prompts[agent] = str(traj.details["system_prompt"])
        params: dict[str, Any] = {}
        if foreign:
            params["adp"] = foreign
        if prompts:
            params["system_prompts"] = prompts
        start = EpisodeStart(
            env=str(head.get("env") or "adp"),
            task=str(head.get("task") or episode_id),
            seed=_count(head.get("seed"), 0),
            epoch=_count(head.get("epoch"), 0),
            agents=agents,
            params=params,
            operators={
                str(t.details.get("agent")): str(t.details.get("operator") or "")
                for t in members
                if own and t.details.get("operator")
            },
        )
        builder = _Builder(episode_id)
        builder.add("env", start)
        for traj, agent in zip(members, agents, strict=True):
            _add_trajectory(builder, traj, agent, _tools(traj, metadata))
        episodes.append(_finish(builder, start, head, episode_id, agents))
    return episodes


def _finish(
    builder: _Builder,
    start: EpisodeStart,
    head: dict[str, Any],
    episode_id: str,
    agents: list[str],
) -> ImportedEpisode:
    success = head.get("success")
    raw = head.get("score")
    score = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
    if score is not None:
        builder.add("env", ScoreEvent(value=score, success=bool(success)))
    outcome = (
        head.get("outcome") if head.get("outcome") in ("success", "failure", "error") else None
    )
    if outcome is None:
        outcome = "success" if success else "failure"
    reason = str(head.get("reason") or "done")
    steps = _count(head.get("steps"), builder.step)
    rewards = sum(
        sum(e.payload.rewards.values()) for e in builder.events if isinstance(e.payload, EnvStep)
    )
    builder.add(
        "env", EpisodeEnd(outcome=outcome, reason=reason, steps=steps, total_reward=rewards)
    )
    row = EpisodeRow(
        episode_id=episode_id,
        env=start.env,
        task=start.task,
        seed=start.seed,
        epoch=start.epoch,
        agents=agents,
        status="finished",
        outcome=outcome,
        reason=reason,
        score=score,
        success=None if score is None else bool(success),
        total_reward=rewards,
        steps=steps,
        n_events=len(builder.events),
    )
    return ImportedEpisode(row=row, events=builder.events)


def import_adp(store: Any, fp_or_path: str | Path | IO[str], *, run_id: str | None = None) -> str:
    """Read ADP trajectories (a JSONL file, a JSON list, or a 1.5.0 dataset directory)
    into `store` as a new run; returns its id.

    The run id is `run_id`, else the `details.run_id` that palaestra's export wrote (when
    every trajectory names the same one), else `adp-<file stem>`. An existing run id is a
    `UserError`; an invalid trajectory (named by line) imports nothing.
    """
    from palaestra.core import episode_hash
    from palaestra.store._rows import EpisodeSummary

    if isinstance(fp_or_path, str | Path):
        trajectories, metadata = read_adp_dataset(fp_or_path)
    else:
        trajectories, metadata = read_adp(fp_or_path), None
    episodes = adp_to_episodes(trajectories, metadata)
    if run_id is None:
        named = {t.details.get("run_id") for t in trajectories}
        only = named.pop() if len(named) == 1 else None
        if isinstance(only, str) and _usable_id(only):
            run_id = only
        else:
            stem = Path(str(getattr(fp_or_path, "name", fp_or_path))).stem or "stream"
            run_id = f"adp-{stem}"
    if store.get_run(run_id) is not None:
        raise UserError(
            f"run {run_id!r} already exists in store {store.path}; import it under another "
            f"id (run_id= / --run-id)"
        )
    store.create_run(
        run_id,
        experiment={"imported": "adp", "trajectories": len(trajectories)},
        seed=0,
        name=f"adp import ({len(trajectories)} trajectories)",
    )
    for episode in episodes:
        row = episode.row
        store.start_episode(run_id, row.model_copy(update={"status": "running", "run_id": run_id}))
        store.append(run_id, episode.events)
        store.finish_episode(
            run_id,
            EpisodeSummary(
                episode_id=row.episode_id,
                outcome=row.outcome or "failure",
                reason=row.reason or "done",
                score=row.score,
                success=row.success,
                total_reward=row.total_reward,
                steps=row.steps,
                n_events=len(episode.events),
                hash=episode_hash(episode.events),
            ),
        )
    store.flush()
    store.set_run_status(run_id, "finished")
    return run_id
