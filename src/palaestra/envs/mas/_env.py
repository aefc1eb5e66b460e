"""`ControlledEnv` (``mas.controlled``): the episode protocol over a generated task.

Agents: ``agent`` when ``agents=1``, else ``agent_1 .. agent_N``. All agents share one
environment and act at every turn (simultaneously); each sees the whole task and may call
every tool. Who works on what is left to the system playing it.

- ``reset(seed, task)`` returns every agent's turn-0 observation: the rules and the
  revealed state in ``text`` and ``messages`` (one user message), the same in ``data``
  (``task_id``, ``agent``, ``agents``, ``turn``, ``last_reveal_turn``, ``max_turns``,
  ``subproblems`` with their revealed ``steps`` and ``complete`` flags, ``new_steps``,
  ``answered`` = {sub-problem: agent}, ``tool_results``, ``rule``), and ``tools``
  (`lookup`, `answer`). Any valid id works, listed by `tasks()` or not; with ``task=None``,
  ``seed`` picks ``tasks()[seed % len]``. Nothing else depends on ``seed``.
- ``step({agent: action})``: agents may be left out (they do nothing this turn). Each
  agent's ``tool_calls`` run in agent order, then in call order:
  - ``lookup(key)``: the key's records (``records`` in the result), if the key belongs to
    a step revealed by the current turn; otherwise an error.
  - ``answer(subproblem, value)``: records the answer (the last one given counts).
  - a malformed call (unknown tool, missing/unknown/ill-typed argument, arguments that
    are not JSON) returns ``Error: ...`` and changes nothing.
  ``action.text`` is ignored (a reply without tool calls just waits). Then the turn
  advances and the steps of the new turn are revealed. The results come back in each
  caller's next observation (``tool`` messages with ``tool_call_id``, then the state).
- ``terminated`` once every sub-problem has an answer; ``truncated`` at turn
  ``max_turns = horizon + extra_turns`` otherwise. The final step still carries
  observations; ``rewards`` are the score for every agent there, 0 before.
- ``score()``: value = share of sub-problems whose answer equals the true one; success
  iff all do. Metrics: ``correct_fraction``, ``answered_fraction``, ``lookups``,
  ``tool_errors``, ``turns``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from palaestra.core import Action, Message, Observation, ToolCall, UserError
from palaestra.envs._protocol import Score, Step
from palaestra.envs._tool_results import tool_messages
from palaestra.envs.mas import _render
from palaestra.envs.mas._task import (
    MAX_BREADTH,
    MAX_DEPTH,
    MAX_HORIZON,
    Axes,
    MasTask,
    generate,
    parse_task_id,
)

_INT_RE = re.compile(r"^-?[0-9]+$")

AGENT = "agent"
"""Name of the only agent when ``agents=1``."""


def agent_names(n: int) -> list[str]:
    """``["agent"]`` for one agent, else ``["agent_1", ..., "agent_n"]``."""
    return [AGENT] if n == 1 else [f"agent_{i}" for i in range(1, n + 1)]


class ControlledParams(BaseModel):
    """Parameters of ``mas.controlled``: the task grid (each axis a value or a list), the
    number of instances per grid point, and the agents."""

    model_config = ConfigDict(extra="forbid")

    depth: list[int] = Field(
        default=[3], description=f"steps per sub-problem, 1..{MAX_DEPTH} (value or list)"
    )
    horizon: list[int] = Field(
        default=[2],
        description=f"turns over which steps are revealed, 1..{MAX_HORIZON} (value or list)",
    )
    breadth: list[int] = Field(
        default=[3], description=f"number of sub-problems, 1..{MAX_BREADTH} (value or list)"
    )
    parallel: list[int] = Field(
        default=[2],
        description="independent dependency chains, 1..breadth (value or list; grid "
        "points with parallel > breadth are skipped)",
    )
    robustness: list[float] = Field(
        default=[0.0],
        description="share of keys with a misleading unverified record, 0..1 with at most "
        "two decimals (value or list)",
    )
    instances: int = Field(
        default=5, ge=1, le=10_000, description="task instances (seeds 0..N-1) per grid point"
    )
    agents: int = Field(default=1, ge=1, le=64, description="agents sharing the environment")
    extra_turns: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="turns allowed after the last reveal before the episode is truncated",
    )

    @field_validator("depth", "horizon", "breadth", "parallel", "robustness", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("depth", "horizon", "breadth", "parallel", "robustness")
    @classmethod
    def _in_range(cls, values: list[Any], info: ValidationInfo) -> list[Any]:
        name = info.field_name
        if not values:
            raise ValueError("give at least one value")
        high = {
            "depth": MAX_DEPTH,
            "horizon": MAX_HORIZON,
            "breadth": MAX_BREADTH,
            "parallel": MAX_BREADTH,
        }
        for value in values:
            if name == "robustness":
                if not 0.0 <= value <= 1.0 or abs(round(value, 2) - value) > 1e-9:
                    raise ValueError(f"values must be 0..1 with at most two decimals, got {value}")
            elif name in high and not 1 <= value <= high[name]:
                raise ValueError(f"values must be between 1 and {high[name]}, got {value}")
        return [round(v, 2) for v in values] if name == "robustness" else values

    @model_validator(mode="after")
    def _some_grid_point(self) -> ControlledParams:
        if min(self.parallel) > max(self.breadth):
            raise ValueError(
                f"parallel must be at most breadth, but every parallel {self.parallel} "
                f"exceeds every breadth {self.breadth}: the grid is empty"
            )
        return self

    def grid(self) -> list[Axes]:
        """Every grid point and instance, axis by axis in field order (p > b skipped)."""
        return [
            Axes(d, h, b, p, r, s)
            for d in self.depth
            for h in self.horizon
            for b in self.breadth
            for p in self.parallel
            if p <= b
            for r in self.robustness
            for s in range(self.instances)
        ]


class ControlledEnv:
    """MASBench-style controlled tasks for one or several agents (see module docstring)."""

    reusable: ClassVar[bool] = True
    """Keeps the reset contract (`Environment`): the runner reuses one instance per
    worker across episodes (`palaestra.testing.check_reuse` checks it)."""

    def __init__(self, params: ControlledParams | None = None) -> None:
        self.params = params if params is not None else ControlledParams()
        """The validated parameters (what the registry's baseline is built from)."""
        self._agents = agent_names(self.params.agents)
        self._tasks = [axes.id for axes in self.params.grid()]
        self._task: MasTask | None = None
        self._turn = 0
        self._max_turns = 0
        self._answers: dict[str, tuple[int, str]] = {}
        self._lookups = 0
        self._tool_errors = 0
        self._done = True

    @property
    def agents(self) -> list[str]:
        return list(self._agents)

    def tasks(self) -> list[str]:
        return list(self._tasks)

    @property
    def task(self) -> MasTask:
        """The task of the current episode (for inspection; operators must not use it)."""
        if self._task is None:
            raise UserError("no task yet: call reset() first")
        return self._task

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        task_id = self._tasks[seed % len(self._tasks)] if task is None else task
        self._task = generate(parse_task_id(task_id))
        self._turn = 0
        self._max_turns = self._task.axes.horizon + self.params.extra_turns
        self._answers = {}
        self._lookups = self._tool_errors = 0
        self._done = False
        return {agent: self._observe(agent, []) for agent in self._agents}

    async def step(self, actions: dict[str, Action]) -> Step:
        if self._done or self._task is None:
            raise UserError("the episode is over (or not started): call reset() first")
        unknown = sorted(set(actions) - set(self._agents))
        if unknown:
            raise UserError(f"actions for unknown agents {unknown}; agents: {self._agents}")
        results: dict[str, list[dict[str, Any]]] = {agent: [] for agent in self._agents}
        lookups, answers, errors = self._lookups, len(self._answers), self._tool_errors
        for agent in self._agents:
            action = actions.get(agent)
            for call in action.tool_calls if action is not None else []:
                results[agent].append(self._run(agent, call))
        self._turn += 1
        terminated = len(self._answers) == len(self._task.subproblems)
        truncated = not terminated and self._turn >= self._max_turns
        self._done = terminated or truncated
        score = self.score()
        reward = score.value if self._done else 0.0
        info: dict[str, Any] = {
            "turn": self._turn,
            "lookups": self._lookups - lookups,
            "tool_errors": self._tool_errors - errors,
            "answered": len(self._answers),
            "new_answers": len(self._answers) - answers,
            "revealed": self._new_steps(),
        }
        if self._done:
            info["score"] = score.value
            info["axes"] = self._axes_info()
        return Step(
            observations={agent: self._observe(agent, results[agent]) for agent in self._agents},
            rewards={agent: reward for agent in self._agents},
            terminated=terminated,
            truncated=truncated,
            info=info,
        )

    def task_target(self) -> dict[str, int] | None:
        """What is right for the current task, for scorers (`palaestra.eval`): the true
        answer of each sub-problem, by name. None before `reset`."""
        if self._task is None:
            return None
        return {s.name: s.answer for s in self._task.subproblems}

    def score(self) -> Score:
        if self._task is None:
            return Score(0.0, False, {}, "not started")
        subs = self._task.subproblems
        correct = [s.name for s in subs if self._answers.get(s.name, (None,))[0] == s.answer]
        wrong = [
            f"{s.name} got {self._answers[s.name][0]}, expected {s.answer}"
            for s in subs
            if s.name in self._answers and s.name not in correct
        ]
        missing = [s.name for s in subs if s.name not in self._answers]
        value = len(correct) / len(subs)
        explanation = f"{len(correct)} of {len(subs)} sub-problems answered correctly"
        if wrong:
            explanation += "; wrong: " + ", ".join(wrong)
        if missing:
            explanation += "; unanswered: " + ", ".join(missing)
        return Score(
            value=value,
            success=len(correct) == len(subs),
            metrics={
                "correct_fraction": value,
                "answered_fraction": len(self._answers) / len(subs),
                "lookups": float(self._lookups),
                "tool_errors": float(self._tool_errors),
                "turns": float(self._turn),
            },
            explanation=explanation,
        )

    # -- tools ------------------------------------------------------------------------

    def _run(self, agent: str, call: ToolCall) -> dict[str, Any]:
        result: dict[str, Any] = {"id": call.id, "name": call.name, "error": False}
        if call.name == "lookup":
            content, records = self._lookup(call.arguments)
            if records is not None:
                result["records"] = records
                self._lookups += 1
        elif call.name == "answer":
            content = self._answer(agent, call.arguments)
        else:
            content = f"Error: unknown tool {call.name!r}; available tools: lookup, answer"
        if content.startswith("Error:"):
            result["error"] = True
            self._tool_errors += 1
        result["content"] = content
        return result

    def _lookup(self, arguments: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
        problem = _check_arguments("lookup", arguments, {"key"})
        if problem:
            return problem, None
        key = arguments["key"]
        if not isinstance(key, str):
            return f"Error: lookup: argument 'key' must be a string, got {key!r}", None
        key = key.strip().upper()
        assert self._task is not None
        revealed = {
            step.key
            for sub in self._task.subproblems
            for step in sub.steps
            if step.reveal_turn <= self._turn
        }
        if key not in revealed:
            return (
                f"Error: lookup: no records for key {key!r}; look up only keys named in "
                "the revealed steps (like K123)"
            ), None
        records = self._task.records_of(key)
        content = "\n".join(record.text for record in records)
        return content, [
            {"key": r.key, "value": r.value, "source": r.source, "verified": r.verified}
            for r in records
        ]

    def _answer(self, agent: str, arguments: dict[str, Any]) -> str:
        problem = _check_arguments("answer", arguments, {"subproblem", "value"})
        if problem:
            return problem
        assert self._task is not None
        names = [sub.name for sub in self._task.subproblems]
        name = str(arguments["subproblem"]).strip().upper()
        if name.isdigit():
            name = f"Q{name}"
        if name not in names:
            return (
                f"Error: answer: unknown sub-problem {arguments['subproblem']!r}; "
                f"sub-problems: {', '.join(names)}"
            )
        value = _whole_number(arguments["value"])
        if value is None:
            return f"Error: answer: 'value' must be a whole number, got {arguments['value']!r}"
        previous = self._answers.get(name)
        self._answers[name] = (value, agent)
        note = f" (it replaces {previous[0]}, given by {previous[1]})" if previous else ""
        return f"Recorded {value} as the answer of {name}{note}."

    # -- observations -----------------------------------------------------------------

    def _new_steps(self) -> list[list[Any]]:
        assert self._task is not None
        return [
            [sub.name, step.index]
            for sub in self._task.subproblems
            for step in sub.steps
            if step.reveal_turn == self._turn
        ]

    def _axes_info(self) -> dict[str, Any]:
        assert self._task is not None
        a = self._task.axes
        return {
            "depth": a.depth,
            "horizon": a.horizon,
            "breadth": a.breadth,
            "parallel": a.parallel,
            "robustness": a.robustness,
            "seed": a.seed,
        }

    def _observe(self, agent: str, results: list[dict[str, Any]]) -> Observation:
        task = self.task
        subproblems = _render.revealed_data(task, self._turn)
        new_steps = self._new_steps()
        answered = {name: by for name, (_, by) in self._answers.items()}
        state = _render.state_text(subproblems, self._turn, len(new_steps), answered)
        intro = _render.intro(task, agent, self._agents, self._max_turns)
        body = f"{intro}\n\n{state}"
        text = f"{_render.results_text(results)}\n\n{body}" if results else body
        messages = tool_messages(results)
        messages.append(Message(role="user", content=body))
        data = {
            "task_id": task.id,
            "agent": agent,
            "agents": list(self._agents),
            "turn": self._turn,
            "last_reveal_turn": task.axes.horizon - 1,
            "max_turns": self._max_turns,
            "subproblems": subproblems,
            "new_steps": new_steps,
            "answered": answered,
            "tool_results": results,
            "rule": _render.TRUST_RULE,
        }
        return Observation(text=text, data=data, tools=list(_render.TOOLS), messages=messages)


def _check_arguments(tool: str, arguments: dict[str, Any], expected: set[str]) -> str:
    """An error text for malformed arguments ("" if the names are right)."""
    if "__raw__" in arguments:
        return f"Error: {tool}: the arguments are not valid JSON: {arguments['__raw__']!r}"
    missing = sorted(expected - set(arguments))
    unknown = sorted(set(arguments) - expected)
    if missing:
        return f"Error: {tool}: missing argument(s): {', '.join(missing)}"
    if unknown:
        return (
            f"Error: {tool}: unknown argument(s): {', '.join(unknown)}; "
            f"valid arguments: {', '.join(sorted(expected))}"
        )
    return ""


def _whole_number(value: Any) -> int | None:
    """An int from an int, an integral float or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value.strip())
    return None
