"""ADP export: each agent's view of an episode as one ADP trajectory.

One trajectory per (episode, agent) that acted or was spoken to; `env` gets none. An
agent's view is built from the events it took part in, in log order:

- an `observation` of A: one `text_observation` per chat message it carries (role user
  -> source `user`; tool -> `environment` with `tool_call_id` and the tool's `name`;
  system -> `environment`; assistant -> `agent`), or one of its text (an empty text
  too, when it came from ADP);
- a tool call of A (in a `model_response`, an `action`, a `tool_call`): `api_action`
  (`function`, `kwargs`, `tool_call_id`); a code tool (`CODE_TOOLS`, or `run_<language>`
  for any of ADP's languages) called with just its code becomes a `code_action`; text
  given with tool calls is the first call's `description`;
- text of A (a `model_response` or an `action`): `message_action`;
- a `tool_result` of A: `text_observation` source `environment` with `tool_call_id`; a
  `tool` message answering one of A's calls that A's model was given without an event of
  its own (a system's "not executed" answer to a member's proposal): the same;
- a `message` sent by A: `message_action`; received by A: an input, `text_observation`
  source `user` with `name` = the sender (ADP's `source` is a role: `agent` would make
  it A's own words);
- A's reward in an `env_step`: `reward` of A's last action of that step.

An LLM agent's outputs are its model's replies: the `action` and relayed `message`
events that repeat a reply of the same turn are not written twice (tool calls are
matched by id; text by "the model spoke since the last input"). Messages sent or
received while one of A's own tools runs (a delegation) belong to that tool call and are
left out of A's view. Links and order (results right after their calls, unanswered calls
marked) are `_adp_items.link_calls`; the version's model is `_adp_items.to_version`.
Memory, governance, fault and contract events have no ADP item and are left out.

`details` carries the palaestra identity (`agent`, the episode's `agents`, `run_id`,
`episode_id`, `env`, `task`, `seed`, `epoch`, `operator`), the outcome (`outcome`,
`reason`, `steps`, `score`, `success`), the agent's `system_prompt` and its `tools`
(name, description, JSON schema). The tools offered to the agent, then any called
without being offered, are `available_apis` (1.2.0, 1.3.0) or `available_custom_tools`
(1.5.0). Import (`_adp_import.adp_to_episodes`) turns trajectories back into events from
which the export gives the same trajectories. A trajectory that did not come from
palaestra keeps its id, details and tool lists verbatim (in `EpisodeStart.params["adp"]`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from palaestra.core import (
    Action,
    ActionEvent,
    EnvStep,
    EpisodeEnd,
    EpisodeLog,
    EpisodeStart,
    Event,
    Message,
    ModelRequestEvent,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    ToolCall,
    ToolSpec,
    UserError,
)
from palaestra.store._adp_items import link_calls, to_version
from palaestra.store._adp_languages import ADP_CODE_LANGUAGES
from palaestra.store._adp_schema import (
    ADP_SCHEMA_VERSION,
    ADP_VERSIONS,
    AdpApiAction,
    AdpCodeAction,
    AdpItem,
    AdpMessageAction,
    AdpTextObservation,
    AdpTrajectory,
)
from palaestra.store._rows import EpisodeRow

CODE_TOOLS: dict[str, tuple[str, str]] = {
    "run_python": ("python", "code"),
    "execute_python": ("python", "code"),
    "python": ("python", "code"),
    "run_bash": ("bash", "command"),
    "bash": ("bash", "command"),
}
"""Tools that run code: name -> (ADP language, the one argument holding the code). A call
of one of them with exactly that string argument is written as a `code_action`; so is a
call of `run_<language>` with just a `code` string, for any of ADP's languages."""

_LANGUAGE_TOOL = {"python": ("run_python", "code"), "bash": ("bash", "command")}
"""On import, which tool a `code_action` of a language becomes (others: `run_<language>`
with a `code` argument)."""

_ITEM_ADAPTER: TypeAdapter[Any] = TypeAdapter(AdpItem)

_OWN_KEY = "episode_id"
"""A details key only palaestra writes: its presence marks a trajectory as ours."""

_OBSERVATION_KEYS = frozenset({"source", "adp_reward"})
"""`Observation.data` keys of an observation imported from ADP (its text is the item)."""


def code_language(call: ToolCall) -> tuple[str, str] | None:
    """(ADP language, code) when `call` runs code and is written as a `code_action`."""
    known = CODE_TOOLS.get(call.name)
    if known is None and call.name.startswith("run_"):
        language = call.name[len("run_") :]
        known = (language, "code") if language in ADP_CODE_LANGUAGES else None
    if known is None or set(call.arguments) != {known[1]}:
        return None
    content = call.arguments[known[1]]
    return (known[0], content) if isinstance(content, str) else None


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
    answered_ids: set[str] = field(default_factory=set)
    open_calls: set[str] = field(default_factory=set)
    model_spoke: bool = False
    step_action: int | None = None
    """Index of the last action item since the last env_step (gets the step's reward)."""

    def add_action(self, item: Any) -> None:
        self.step_action = len(self.items)
        self.items.append(item)

    def add_input(self, item: Any) -> None:
        if item.tool_call_id is not None:
            self.answered_ids.add(item.tool_call_id)
        self.items.append(item)
        self.model_spoke = False

    def offer(self, tools: Iterable[ToolSpec]) -> None:
        for spec in tools:
            self.tools.setdefault(spec.name, spec)

    def call(self, call: ToolCall, description: str | None = None) -> None:
        self.emitted_ids.add(call.id)
        code = code_language(call)
        if code is not None:
            self.add_action(
                AdpCodeAction(
                    language=code[0],
                    content=code[1],
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
    elif obs.data and set(obs.data) <= _OBSERVATION_KEYS and "source" in obs.data:
        source = obs.data["source"]  # an observation read from ADP: its text, even empty
        view.add_input(
            AdpTextObservation(
                content=obs.text,
                source=source if source in ("user", "agent") else "environment",
            )
        )
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


def _request(view: _View, payload: ModelRequestEvent) -> None:
    view.offer(payload.tools)
    if view.system_prompt is None:
        prompts = [
            m.content
            for m in payload.messages
            if m.role == "system" and m.content and m.content not in view.seen_system
        ]
        view.system_prompt = "\n\n".join(prompts) if prompts else ""
    for message in payload.messages:  # answers the model got without an event of their own
        call_id = message.tool_call_id
        if (
            message.role == "tool"
            and call_id in view.emitted_ids
            and call_id not in view.answered_ids
            and call_id not in view.open_calls
        ):
            view.add_input(_message_item(message))


def _visit(view: _View, event: Event) -> None:
    """Add what `event` means to `view.agent`'s trajectory, if anything."""
    agent, payload = view.agent, event.payload
    if isinstance(payload, ObservationEvent) and event.agent == agent:
        view.offer(payload.observation.tools)
        _observation_items(view, payload.observation)
    elif isinstance(payload, ModelRequestEvent) and event.agent == agent:
        _request(view, payload)
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
                AdpTextObservation(content=payload.content, source="user", name=sender)  # type: ignore[attr-defined]
            )
    elif isinstance(payload, EnvStep) and agent in payload.rewards:
        if view.step_action is not None:
            view.items[view.step_action].reward = payload.rewards[agent]
        view.step_action = None


def _agents(log: EpisodeLog, start: EpisodeStart | None) -> list[str]:
    names = list(start.agents) if start else []
    for event in log.events:
        for who in (event.agent, getattr(event.payload, "sender", None)):
            if isinstance(who, str) and who != "env" and who not in names:
                names.append(who)
    return names


def _by_agent(log: EpisodeLog, agents: list[str]) -> dict[str, list[Event]]:
    """The events each agent's view reads, in log order: its own, the messages it sent
    or received, the environment steps that reward it (one pass over the episode)."""
    relevant: dict[str, list[Event]] = {agent: [] for agent in agents}
    for event in log.events:
        payload = event.payload
        if event.kind == "message":
            who = {payload.sender, *payload.recipients}  # type: ignore[attr-defined]
        elif isinstance(payload, EnvStep):
            who = set(payload.rewards)
        else:
            who = {event.agent}
        for agent in who:
            if agent in relevant:
                relevant[agent].append(event)
    return relevant


def _kept_available(kept: dict[str, Any], version: str) -> list[str] | None:
    """The tool list a trajectory from elsewhere named, under the version's field name."""
    if version == "1.5.0":
        value = kept.get("available_custom_tools", kept.get("available_apis"))
    else:
        value = kept.get("available_apis", kept.get("available_custom_tools"))
    return list(value) if isinstance(value, list) else None


def episode_to_adp(
    events: EpisodeLog | Sequence[Event],
    *,
    run_id: str = "",
    row: EpisodeRow | None = None,
    version: str = ADP_SCHEMA_VERSION,
) -> list[AdpTrajectory]:
    """Each agent's view of one episode's log as an ADP trajectory of `version` (agent
    order)."""
    return [traj for traj, _tools in episode_views(events, run_id=run_id, row=row, version=version)]


def episode_views(
    events: EpisodeLog | Sequence[Event],
    *,
    run_id: str = "",
    row: EpisodeRow | None = None,
    version: str = ADP_SCHEMA_VERSION,
) -> list[tuple[AdpTrajectory, dict[str, ToolSpec]]]:
    """`episode_to_adp`, each trajectory with the tool specs offered to its agent."""
    if version not in ADP_VERSIONS:
        raise UserError(
            f"unknown ADP version {version!r}; palaestra writes {', '.join(ADP_VERSIONS)}"
        )
    log = EpisodeLog.of(events)
    if not log.events:
        return []
    first, last = log.events[0], log.events[-1]
    start = first.payload if isinstance(first.payload, EpisodeStart) else None
    score = log.scores[0] if log.scores else None
    end = last.payload if isinstance(last.payload, EpisodeEnd) else None
    episode_id = log.episode_id
    foreign = start.params.get("adp") if start else None
    agents = _agents(log, start)
    trajectories = []
    relevant = _by_agent(log, agents)
    for agent in agents:
        view = _View(agent)
        for event in relevant[agent]:
            _visit(view, event)
        kept = foreign.get(agent) if isinstance(foreign, dict) else None
        if not view.items and not isinstance(kept, dict):  # (one from elsewhere: always)
            continue
        items = link_calls(view.items, adjacency=version == "1.2.0")
        apis = list(view.tools) + [n for n in view.used if n not in view.tools]
        details: dict[str, Any] = {
            "agent": agent,
            "agents": agents,
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
        available: list[str] | None = apis or None
        if isinstance(kept, dict):
            traj_id, details = kept["id"], kept["details"]
            available = _kept_available(kept, version)
        trajectories.append(
            (
                to_version(items, version, traj_id=traj_id, available=available, details=details),
                view.tools,
            )
        )
    return trajectories


def iter_adp(
    store: Any,
    run_id: str,
    *,
    agents: Sequence[str] | None = None,
    version: str = ADP_SCHEMA_VERSION,
) -> Iterator[AdpTrajectory]:
    """Every trajectory of a run, episode by episode (one episode in memory at a time)."""
    for trajectory, _tools in iter_views(store, run_id, agents=agents, version=version):
        yield trajectory


def iter_views(
    store: Any,
    run_id: str,
    *,
    agents: Sequence[str] | None = None,
    version: str = ADP_SCHEMA_VERSION,
) -> Iterator[tuple[AdpTrajectory, dict[str, ToolSpec]]]:
    """`iter_adp`, each trajectory with the tool specs offered to its agent."""
    for row in store.episodes(run_id):
        events = store.events(run_id, row.episode_id)
        for trajectory, tools in episode_views(events, run_id=run_id, row=row, version=version):
            if agents is None or trajectory.details.get("agent") in agents:
                yield trajectory, tools
