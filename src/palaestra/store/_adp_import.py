"""ADP import: trajectories back into episodes whose ADP export is the same file.

Trajectories with the same `details.episode_id` become one episode, one agent each (in
file order); observations become `observation` events (text with `data.source`, or one
chat message for a tool result or a named speaker), consecutive tool actions one
`action` event (a description, reasoning or reward ends a group), rewards `env_step`
events, the score a `score` event. A trajectory palaestra did not write keeps its id,
details and available_apis verbatim in `EpisodeStart.params["adp"]`. See
`palaestra.store._adp` for the export and docs/exports.md for the mapping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

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
from palaestra.store._adp_schema import (
    OBSERVATIONS,
    TOOL_ACTIONS,
    AdpCodeAction,
    AdpMessageAction,
    AdpTextObservation,
    AdpTrajectory,
)
from palaestra.store._jsonl import _opened, _problems
from palaestra.store._rows import EpisodeRow


def read_adp(fp_or_path: str | Path | IO[str]) -> list[AdpTrajectory]:
    """Parse and validate an ADP JSONL file (or a JSON list); errors name file and line."""
    with _opened(fp_or_path, "r") as (fp, name):
        text = fp.read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = [(1, r) for r in json.loads(text)]
        except json.JSONDecodeError as exc:
            raise UserError(f"{name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    else:
        records = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"{name}:{lineno}: not valid JSON ({exc.msg}, column {exc.colno})"
                ) from None
    trajectories = []
    for lineno, record in records:
        try:
            trajectories.append(AdpTrajectory.model_validate(record))
        except ValidationError as exc:
            raise UserError(f"{name}:{lineno}: not an ADP trajectory: {_problems(exc)}") from None
    if not trajectories:
        raise UserError(f"{name}: no ADP trajectories (expected one JSON object per line)")
    return trajectories


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
            or not isinstance(item, TOOL_ACTIONS)
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
        return ToolCall(id=call_id, name=name, arguments={arg: item.content})
    return ToolCall(id=call_id, name=item.function, arguments=item.kwargs)


def _add_trajectory(builder: _Builder, traj: AdpTrajectory, agent: str) -> None:
    details = traj.details
    tools = (
        [ToolSpec.model_validate(t) for t in details.get("tools", [])]
        if details.get(_OWN_KEY)
        else []
    )
    taken = {i.tool_call_id for i in traj.content if i.tool_call_id}
    index = 0
    for group in _group_actions(traj.content):
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


def adp_to_episodes(trajectories: Sequence[AdpTrajectory]) -> list[ImportedEpisode]:
    """Episodes (rows and events) from ADP trajectories; one per `details.episode_id`
    (or per trajectory id for trajectories from elsewhere), in file order."""
    grouped: dict[str, list[AdpTrajectory]] = {}
    for traj in trajectories:
        own = isinstance(traj.details.get(_OWN_KEY), str)
        grouped.setdefault(traj.details[_OWN_KEY] if own else traj.id, []).append(traj)
    episodes = []
    for episode_id, members in grouped.items():
        head = members[0].details if isinstance(members[0].details.get(_OWN_KEY), str) else {}
        agents: list[str] = []
        foreign: dict[str, Any] = {}
        prompts: dict[str, str] = {}
        for traj in members:
            agent = str(traj.details.get("agent") or "agent") if head else "agent"
            if agent in agents:
                raise UserError(f"episode {episode_id!r}: two trajectories of agent {agent!r}")
            agents.append(agent)
            if not head:
                foreign[agent] = {
                    "id": traj.id,
                    "details": traj.details,
                    "available_apis": traj.available_apis,
                }
            elif traj.details.get("system_prompt"):
                prompts[agent] = str(traj.details["system_prompt"])
        params: dict[str, Any] = {}
        if foreign:
            params["adp"] = foreign
        if prompts:
            params["system_prompts"] = prompts
        seed, epoch = head.get("seed", 0), head.get("epoch", 0)
        start = EpisodeStart(
            env=str(head.get("env") or "adp"),
            task=str(head.get("task") or episode_id),
            seed=seed if isinstance(seed, int) else 0,
            epoch=epoch if isinstance(epoch, int) else 0,
            agents=agents,
            params=params,
            operators={
                str(t.details.get("agent")): str(t.details.get("operator") or "")
                for t in members
                if head and t.details.get("operator")
            },
        )
        builder = _Builder(episode_id)
        builder.add("env", start)
        for traj, agent in zip(members, agents, strict=True):
            _add_trajectory(builder, traj, agent)
        score, success = head.get("score"), head.get("success")
        if isinstance(score, int | float) and not isinstance(score, bool):
            builder.add("env", ScoreEvent(value=float(score), success=bool(success)))
        outcome = (
            head.get("outcome") if head.get("outcome") in ("success", "failure", "error") else None
        )
        if outcome is None:
            outcome = "success" if success else "failure"
        reason = head.get("reason") or "done"
        steps = head.get("steps") if isinstance(head.get("steps"), int) else builder.step
        rewards = sum(
            sum(e.payload.rewards.values())
            for e in builder.events
            if isinstance(e.payload, EnvStep)
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
            score=float(score)
            if isinstance(score, int | float) and not isinstance(score, bool)
            else None,
            success=None if score is None else bool(success),
            total_reward=rewards,
            steps=steps,
            n_events=len(builder.events),
        )
        episodes.append(ImportedEpisode(row=row, events=builder.events))
    return episodes


def import_adp(store: Any, fp_or_path: str | Path | IO[str], *, run_id: str | None = None) -> str:
    """Read an ADP file (JSONL, or a JSON list) into `store` as a new run; returns its id.

    The run id is `run_id`, else the `details.run_id` that palaestra's export wrote (when
    every trajectory names the same one), else `adp-<file stem>`. An existing run id is a
    `UserError`; an invalid trajectory (named by line) imports nothing.
    """
    from palaestra.core import episode_hash
    from palaestra.store._rows import EpisodeSummary

    trajectories = read_adp(fp_or_path)
    episodes = adp_to_episodes(trajectories)
    if run_id is None:
        named = {t.details.get("run_id") for t in trajectories}
        only = named.pop() if len(named) == 1 else None
        if isinstance(only, str) and only:
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
