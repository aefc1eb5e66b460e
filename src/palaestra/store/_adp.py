"""ADP export: each agent's view of an episode as one ADP 1.2.0 trajectory.

One trajectory per (episode, agent) that acted or was spoken to; `env` gets none. An
agent's view is built from the events it took part in, in log order:

- an `observation` of A: one `text_observation` per chat message it carries (role user
  -> source `user`; tool -> `environment` with `tool_call_id` and the tool's `name`;
  system -> `environment`; assistant -> `agent`), or one of its text;
- a tool call of A (in a `model_response`, an `action`, a `tool_call`): `api_action`
  (`function`, `kwargs`, `tool_call_id`); a code tool (`CODE_TOOLS`: `run_python`...)
  called with just its code becomes a `code_action` (language + content); text given
  with tool calls is the first call's `description`;
- text of A (a `model_response` or an `action`): `message_action`;
- a `tool_result` of A: `text_observation` source `environment` with `tool_call_id`;
- a `message` sent by A / to A: `message_action` / `text_observation` source `agent`,
  `name` = the sender;
- A's reward in an `env_step`: `reward` of A's last action of that step.

An LLM agent's outputs are its model's replies: the `action` and relayed `message`
events that repeat a reply of the same turn are not written twice (tool calls are
matched by id; text by "the model spoke since the last input"). Messages sent or
received while one of A's own tools runs (a delegation) belong to that tool call and are
left out of A's view. A `tool_call_id` is kept on an action only when its result is in
the view (ADP links every observation to an action). Memory, governance, fault and
contract events have no ADP item and are left out.

`details` carries the palaestra identity (`agent`, `run_id`, `episode_id`, `env`,
`task`, `seed`, `epoch`, `operator`), the outcome (`outcome`, `reason`, `steps`,
`score`, `success`), the agent's `system_prompt` and its `tools` (name, description,
JSON schema); `available_apis` lists the tools offered to the agent, then any called
without being offered. Import (`_adp_import.adp_to_episodes`) turns trajectories back into events
from which the export gives the same trajectories; trajectories of one episode (same
`details.episode_id`) become one episode. A trajectory that did not come from palaestra
keeps its id, details and available_apis verbatim (in `EpisodeStart.params["adp"]`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import TypeAdapter

from palaestra.core import (
    Action,
    ActionEvent,
    EnvStep,
    EpisodeEnd,
    EpisodeStart,
    Event,
    Message,
    ModelRequestEvent,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    ScoreEvent,
    ToolCall,
    ToolSpec,
    UserError,
)
from palaestra.store._adp_schema import (
    TOOL_ACTIONS,
    AdpApiAction,
    AdpCodeAction,
    AdpItem,
    AdpMessageAction,
    AdpTextObservation,
    AdpTrajectory,
    trajectory_json,
)
from palaestra.store._jsonl import _opened
from palaestra.store._rows import EpisodeRow

CODE_TOOLS: dict[str, tuple[str, str]] = {
    "run_python": ("python", "code"),
    "execute_python": ("python", "code"),
    "python": ("python", "code"),
    "run_bash": ("bash", "command"),
    "bash": ("bash", "command"),
}
"""Tools that run code: name -> (ADP language, the one argument holding the code). A call
of one of them with exactly that string argument is written as a `code_action`."""

_LANGUAGE_TOOL = {"python": ("run_python", "code"), "bash": ("bash", "command")}
"""On import, which tool a `code_action` of a language becomes."""

_ITEM_ADAPTER: TypeAdapter[Any] = TypeAdapter(AdpItem)

_OWN_KEY = "episode_id"
"""A details key only palaestra writes: its presence marks a trajectory as ours."""


# -- export ------------------------------------------------------------------------------


@dataclass
class _View:
    """One agent's trajectory under construction."""

    agent: str
    items: list[Any] = field(default_factory=list)
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    used: list[str] = field(default_factory=list)
    system_prompt: str | None = None
    seen_system: set[str] = field(default_factory=set)
    emitted_ids: set[str] = field(default_factory=set)
    open_calls: set[str] = field(default_factory=set)
    model_spoke: bool = False
    step_action: int | None = None
    """Index of the last action item since the last env_step (gets the step's reward)."""

    def add_action(self, item: Any) -> None:
        self.step_action = len(self.items)
        self.items.append(item)

    def add_input(self, item: Any) -> None:
        self.items.append(item)
        self.model_spoke = False

    def offer(self, tools: Iterable[ToolSpec]) -> None:
        for spec in tools:
            self.tools.setdefault(spec.name, spec)

    def call(self, call: ToolCall, description: str | None = None) -> None:
        self.emitted_ids.add(call.id)
        code = CODE_TOOLS.get(call.name)
        if code is not None and set(call.arguments) == {code[1]}:
            content = call.arguments[code[1]]
            if isinstance(content, str):
                self.add_action(
                    AdpCodeAction(
                        language=code[0],
                        content=content,
                        description=description,
                        tool_call_id=call.id,
                    )
                )
                return
        if call.name not in self.tools and call.name not in self.used:
            self.used.append(call.name)
        self.add_action(
            AdpApiAction(
                function=call.name,
                kwargs=call.arguments,
                description=description,
                tool_call_id=call.id,
            )
        )


def _message_item(message: Message) -> AdpTextObservation:
    content = message.content or ""
    if message.role == "tool":
        return AdpTextObservation(
            content=content,
            source="environment",
            name=message.name,
            tool_call_id=message.tool_call_id,
        )
    source: Any = {"user": "user", "assistant": "agent"}.get(message.role, "environment")
    return AdpTextObservation(content=content, source=source, name=message.name)


def _observation_items(view: _View, obs: Observation) -> None:
    if obs.data.get("adp_item") is not None:  # an image/web observation imported from ADP
        view.add_input(_ITEM_ADAPTER.validate_python(obs.data["adp_item"]))
        return
    reward = obs.data.get("adp_reward")
    first = len(view.items)
    if obs.messages:
        for message in obs.messages:
            if message.role == "system" and message.content:
                view.seen_system.add(message.content)
            view.add_input(_message_item(message))
    elif obs.text or obs.data:
        source = obs.data.get("source")
        view.add_input(
            AdpTextObservation(
                content=obs.text or json.dumps(obs.data, sort_keys=True, ensure_ascii=False),
                source=source if source in ("user", "agent") else "environment",
            )
        )
    if isinstance(reward, int | float) and len(view.items) > first:
        view.items[first].reward = float(reward)


def _action_items(view: _View, action: Action) -> None:
    first = len(view.items)
    calls = [c for c in action.tool_calls if c.id not in view.emitted_ids]
    if view.model_spoke:  # the model's reply of this turn was written already
        for call in calls:
            view.call(call)
        return
    description = action.text if action.tool_calls else None
    for index, call in enumerate(calls):
        view.call(call, description if index == 0 else None)
    if not action.tool_calls and (action.text is not None or action.data):
        data = {k: v for k, v in action.data.items() if k not in _ACTION_KEYS}
        content = action.text if action.text is not None else json.dumps(data, sort_keys=True)
        described = action.data.get("description")
        view.add_action(
            AdpMessageAction(
                content=content, description=described if isinstance(described, str) else None
            )
        )
    reasoning = action.data.get("reasoning_content")
    if isinstance(reasoning, str) and len(view.items) > first:
        view.items[first].reasoning_content = reasoning


_ACTION_KEYS = ("reasoning_content", "description")
"""Keys of `Action.data` that hold ADP fields of an imported action."""


def _visit(view: _View, event: Event) -> None:
    """Add what `event` means to `view.agent`'s trajectory, if anything."""
    agent, payload = view.agent, event.payload
    if isinstance(payload, ObservationEvent) and event.agent == agent:
        view.offer(payload.observation.tools)
        _observation_items(view, payload.observation)
    elif isinstance(payload, ModelRequestEvent) and event.agent == agent:
        view.offer(payload.tools)
        if view.system_prompt is None:
            prompts = [
                m.content
                for m in payload.messages
                if m.role == "system" and m.content and m.content not in view.seen_system
            ]
            view.system_prompt = "\n\n".join(prompts) if prompts else ""
    elif isinstance(payload, ModelResponseEvent) and event.agent == agent:
        message = payload.message
        if message is None:  # a failed attempt
            return
        view.model_spoke = True
        if message.tool_calls:
            for index, call in enumerate(message.tool_calls):
                view.call(call, message.content if index == 0 and message.content else None)
        elif message.content:
            view.add_action(AdpMessageAction(content=message.content))
    elif event.kind == "tool_call" and event.agent == agent:
        call = payload.call  # type: ignore[attr-defined]
        view.open_calls.add(call.id)
        if call.id not in view.emitted_ids:
            view.call(call)
    elif event.kind == "tool_result" and event.agent == agent:
        view.open_calls.discard(payload.call_id)  # type: ignore[attr-defined]
        view.add_input(
            AdpTextObservation(
                content=payload.content,  # type: ignore[attr-defined]
                source="environment",
                name=payload.name,  # type: ignore[attr-defined]
                tool_call_id=payload.call_id,  # type: ignore[attr-defined]
            )
        )
    elif isinstance(payload, ActionEvent) and event.agent == agent:
        _action_items(view, payload.action)
    elif event.kind == "message":
        sender, recipients = payload.sender, payload.recipients  # type: ignore[attr-defined]
        if view.open_calls:
            return
        if sender == agent and not view.model_spoke:
            view.add_action(AdpMessageAction(content=payload.content))  # type: ignore[attr-defined]
        elif sender != agent and agent in recipients:
            view.add_input(
                AdpTextObservation(content=payload.content, source="agent", name=sender)  # type: ignore[attr-defined]
            )
    elif isinstance(payload, EnvStep) and agent in payload.rewards:
        if view.step_action is not None:
            view.items[view.step_action].reward = payload.rewards[agent]
        view.step_action = None


def _link_calls(items: list[Any]) -> None:
    """Keep tool_call_ids that link an action to its result; make action ids unique."""
    latest: dict[str, Any] = {}
    answered: set[int] = set()
    count: dict[str, int] = {}
    for item in items:
        call_id = item.tool_call_id
        if call_id is None:
            continue
        if isinstance(item, TOOL_ACTIONS):
            count[call_id] = count.get(call_id, 0) + 1
            if count[call_id] > 1:
                item.tool_call_id = f"{call_id}#{count[call_id]}"
            latest[call_id] = item
        elif call_id in latest and id(latest[call_id]) not in answered:
            answered.add(id(latest[call_id]))
            item.tool_call_id = latest[call_id].tool_call_id
        else:
            item.tool_call_id = None
    for item in items:
        if isinstance(item, TOOL_ACTIONS) and id(item) not in answered:
            item.tool_call_id = None


def _agents(events: Sequence[Event], start: EpisodeStart | None) -> list[str]:
    names = list(start.agents) if start else []
    for event in events:
        for who in (event.agent, getattr(event.payload, "sender", None)):
            if isinstance(who, str) and who != "env" and who not in names:
                names.append(who)
    return names


def episode_to_adp(
    events: Sequence[Event], *, run_id: str = "", row: EpisodeRow | None = None
) -> list[AdpTrajectory]:
    """Each agent's view of one episode's log as an ADP trajectory (agent order)."""
    if not events:
        return []
    start = events[0].payload if isinstance(events[0].payload, EpisodeStart) else None
    score = next((e.payload for e in events if isinstance(e.payload, ScoreEvent)), None)
    end = events[-1].payload if isinstance(events[-1].payload, EpisodeEnd) else None
    episode_id = events[0].episode_id
    foreign = start.params.get("adp") if start else None
    trajectories = []
    for agent in _agents(events, start):
        view = _View(agent)
        for event in events:
            _visit(view, event)
        if not view.items:
            continue
        _link_calls(view.items)
        apis = list(view.tools) + [n for n in view.used if n not in view.tools]
        details: dict[str, Any] = {
            "agent": agent,
            "run_id": run_id or (row.run_id if row else ""),
            "episode_id": episode_id,
            "env": start.env if start else (row.env if row else ""),
            "task": start.task if start else (row.task if row else ""),
            "seed": start.seed if start else (row.seed if row else 0),
            "epoch": start.epoch if start else (row.epoch if row else 0),
            "operator": start.operators.get(agent, "") if start else "",
            "outcome": end.outcome if end else (row.outcome if row else None),
            "reason": end.reason if end else (row.reason if row else None),
            "steps": end.steps if end else (row.steps if row else 0),
            "score": score.value if score else None,
            "success": score.success if score else None,
        }
        prompts = start.params.get("system_prompts", {}) if start else {}
        prompt = view.system_prompt or (prompts.get(agent) if isinstance(prompts, dict) else None)
        if prompt:
            details["system_prompt"] = prompt
        if view.tools:
            details["tools"] = [spec.model_dump(mode="json") for spec in view.tools.values()]
        traj_id = f"{details['run_id']}:{episode_id}:{agent}"
        if isinstance(foreign, dict) and isinstance(foreign.get(agent), dict):
            kept = foreign[agent]
            traj_id, details, apis = kept["id"], kept["details"], kept.get("available_apis")
        trajectories.append(
            AdpTrajectory(
                id=traj_id, content=view.items, available_apis=apis or None, details=details
            )
        )
    return trajectories


def iter_adp(
    store: Any, run_id: str, *, agents: Sequence[str] | None = None
) -> Iterator[AdpTrajectory]:
    """Every trajectory of a run, episode by episode (one episode in memory at a time)."""
    for row in store.episodes(run_id):
        events = store.events(run_id, row.episode_id)
        for trajectory in episode_to_adp(events, run_id=run_id, row=row):
            if agents is None or trajectory.details.get("agent") in agents:
                yield trajectory


def export_adp(
    store: Any,
    run_id: str,
    fp_or_path: str | Path | IO[str],
    *,
    agents: Sequence[str] | None = None,
) -> int:
    """Write run `run_id` as ADP JSONL (one trajectory per line); returns how many."""
    if store.get_run(run_id) is None:
        raise UserError(f"no run {run_id!r} in store {store.path}")
    written = 0
    with _opened(fp_or_path, "w") as (fp, _name):
        for trajectory in iter_adp(store, run_id, agents=agents):
            fp.write(trajectory_json(trajectory) + "\n")
            written += 1
    return written
