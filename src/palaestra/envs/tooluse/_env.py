"""`ToolUseEnv`: an agent serves a customer against a domain's database.

Who plays the customer is the `user` parameter:

- `"scripted"` (default): one agent, named `agent`; the environment answers its replies
  with the rules of `ScriptedUser`.
- `"agent"`: two agents, `agent` and `user`. The customer is an agent like any other
  (an LLM operator, or the registered baseline that wraps `ScriptedUser`, so that the
  scripted behaviour is the same either way). Only one of them acts at each step.

Episode protocol:

- `reset(seed, task)` loads a fresh copy of the database of `db_seed`. `seed` only picks
  the task when `task` is None (`tasks()[seed % len]`): the episode is otherwise fixed.
  - scripted: the first observation is the agent's: the policy, the tool list and the
    customer's opening message (the instruction), in `text` and as `messages` (system,
    user); `tools` holds the tool specs; `data` holds `task_id`, `turn` (0), `source`
    (`"user"`) and `user_message`.
  - agent: the first observation is the user's: `user_prompt(instruction)` and the
    greeting `GREETING`, in `text` and as `messages` (system, user); no tools; `data`
    holds `task_id`, `instruction`, `user_turn` (0), `agent_message`, `agent_has_acted`.
    The user's answer becomes the opening message of the agent's first observation.
- `step({"agent": action})`, one agent turn (`turn` counts them):
  - `action.tool_calls` non-empty: each call is executed in order against the database
    (any `action.text` is not shown to the customer). Results come back as `tool`
    messages (with `tool_call_id`), in `text`, and in `data["tool_results"]`. A bad call
    returns `Error: ...` text and changes nothing. A terminating tool
    (`transfer_to_human_agents`) ends the episode (`terminated`); calls after it in the
    same action are not run.
  - otherwise `action.text` (empty if None) is a reply to the customer. Scripted: the
    customer answers at once (the next observation is the agent's again); when it stops,
    the episode is `terminated`. Agent: the next observation is the user's, with the
    reply as a `user` message and `data["agent_message"]`.
  - after `max_turns` agent turns without termination, the episode is `truncated`.
- `step({"user": action})` (agent mode): `action.text` is the customer's message; the
  next observation is the agent's, with it as a `user` message. If it contains
  `###STOP###`, the episode is `terminated` (the agent's observation shows the message).
- `rewards["agent"]` is the episode score on the final step and 0 before; the user gets
  no reward.
- `score()`: tau-bench's reward. `db_match` is 1 if the database hash equals the hash
  after replaying the task's ground-truth calls (except terminating ones) on a fresh copy;
  `outputs_found` is the fraction of the task's required outputs found in the agent's
  replies (1 when there are none); `transfer_match` is 1 if the agent transferred to a
  human exactly when the ground truth does (a transfer changes no data, so the database
  alone cannot tell). The value is tau-bench's: 1 when `db_match` and `outputs_found`
  are 1, else 0; with `check_transfer=True` it also needs `transfer_match` (stricter than
  tau-bench, which does not score the hand-over itself).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from palaestra.core import Action, Message, Observation, UserError
from palaestra.envs._protocol import Score, Step
from palaestra.envs._tool_results import tool_counts, tool_results_observation
from palaestra.envs.tooluse._domain import Domain, Task, db_hash, output_found
from palaestra.envs.tooluse._user import GREETING, STOP, ScriptedUser, user_prompt

AGENT = "agent"
"""Name of the agent that serves the customer."""
USER = "user"
"""Name of the customer agent (with `user="agent"`)."""


class ToolUseParams(BaseModel):
    """Parameters of a tool-use environment."""

    model_config = ConfigDict(extra="forbid")
    db_seed: int = Field(default=0, ge=0, description="Seed of the generated database and tasks.")
    num_tasks: int = Field(default=20, ge=1, le=1000, description="How many tasks to generate.")
    max_turns: int = Field(
        default=30, ge=1, le=1000, description="Agent turns before the episode is truncated."
    )
    user: Literal["scripted", "agent"] = Field(
        default="scripted",
        description=(
            "Who plays the customer: 'scripted' (built in, one agent) or 'agent' (a second "
            "agent named 'user': its baseline is the scripted customer; give it an LLM "
            "operator for an LLM user simulator)."
        ),
    )
    check_transfer: bool = Field(
        default=False,
        description=(
            "Also require the agent to transfer to a human exactly when the ground truth "
            "does (off: tau-bench's reward, database x required outputs)."
        ),
    )


class ToolUseEnv:
    """A domain's database, tools, policy and tasks, served to an agent and a customer."""

    reusable: ClassVar[bool] = True
    """Keeps the reset contract (`Environment`): the runner reuses one instance per
    worker across episodes (`palaestra.testing.check_reuse` checks it)."""

    def __init__(
        self,
        domain: Domain,
        *,
        db_seed: int = 0,
        num_tasks: int = 20,
        max_turns: int = 30,
        user: str = "scripted",
        check_transfer: bool = False,
    ) -> None:
        self.domain = domain
        try:
            self.params = ToolUseParams(
                db_seed=db_seed,
                num_tasks=num_tasks,
                max_turns=max_turns,
                user=user,
                check_transfer=check_transfer,
            )
            """The validated parameters (what the registry's baseline is built from)."""
        except ValidationError as exc:
            problems = "; ".join(f"{err['loc'][0]}: {err['msg']}" for err in exc.errors())
            raise UserError(f"invalid parameters for tooluse.{domain.name}: {problems}") from None
        self.db_seed = db_seed
        self.max_turns = max_turns
        self.user_mode = self.params.user
        initial = domain.make_database(db_seed)
        self._db_type = type(initial)
        self._initial: str = initial.model_dump_json()
        """The initial database as JSON text: an immutable snapshot that every episode
        parses afresh. (A copy of a dict would share what a field typed `Any` or `dict`
        holds: nested state that one episode changes would leak into the next.)"""
        self._tasks = domain.make_tasks(self._load(), db_seed, num_tasks)
        self._by_id = {task.id: task for task in self._tasks}
        self._task: Task | None = None
        self._db: BaseModel = self._load()
        self._target_hash = ""
        self._targets: dict[str, str] = {}
        """Target hash by task id (the replay is deterministic: computed once per task)."""
        self._hash: str | None = None
        """Hash of the current database, until the next tool call."""
        self._expects_transfer = False
        self._transferred = False
        self._replies: list[str] = []
        self._tool_calls = 0
        self._turn = 0
        self._user_turns = 0
        self._next = AGENT
        self._done = True
        self._user = ScriptedUser("")

    @property
    def agents(self) -> list[str]:
        return [AGENT, USER] if self.user_mode == "agent" else [AGENT]

    def tasks(self) -> list[str]:
        return [task.id for task in self._tasks]

    def task(self, task_id: str) -> Task:
        """The task `task_id` (its instruction and ground truth), or a `UserError`."""
        try:
            return self._by_id[task_id]
        except KeyError:
            shown = ", ".join(self.tasks()[:8]) + (", ..." if len(self._tasks) > 8 else "")
            raise UserError(
                f"unknown task {task_id!r} for tooluse.{self.domain.name} "
                f"(db_seed={self.db_seed}); valid tasks: {shown}"
            ) from None

    def state(self) -> dict[str, Any]:
        """The current database as JSON data (for inspection; operators must not use it)."""
        return self._db.model_dump(mode="json")

    def _load(self) -> BaseModel:
        """A fresh copy of the initial database, sharing nothing with any other."""
        return self._db_type.model_validate_json(self._initial)

    def _terminates(self, name: str) -> bool:
        tool = self.domain.tool(name)
        return tool is not None and tool.terminates

    def _target(self, task: Task) -> str:
        """Hash of the database after the task's ground truth, replayed on a fresh copy."""
        db = self._load()
        for call in task.actions:
            if not self._terminates(call.name):
                self.domain.execute(db, call.name, copy.deepcopy(call.arguments))
        return db_hash(db)

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        chosen = self._tasks[seed % len(self._tasks)] if task is None else self.task(task)
        self._task = chosen
        self._db = self._load()
        self._hash = None
        if chosen.id not in self._targets:
            self._targets[chosen.id] = self._target(chosen)
        self._target_hash = self._targets[chosen.id]
        self._expects_transfer = any(self._terminates(c.name) for c in chosen.actions)
        self._transferred = False
        self._replies = []
        self._tool_calls = 0
        self._turn = 0
        self._user_turns = 0
        self._done = False
        if self.user_mode == "agent":
            self._next = USER
            prompt = user_prompt(chosen.instruction)
            return {
                USER: self._user_observation(
                    f"{prompt}\n\n# Conversation\n\nAgent: {GREETING}",
                    GREETING,
                    [
                        Message(role="system", content=prompt),
                        Message(role="user", content=GREETING),
                    ],
                )
            }
        self._next = AGENT
        self._user = ScriptedUser(chosen.instruction)
        return {AGENT: self._first_observation(self._user.opening())}

    def _first_observation(self, opening: str) -> Observation:
        tools = "\n".join(
            f"- {spec.name}({', '.join(spec.parameters.get('properties', {}))}): {spec.description}"
            for spec in self.domain.specs
        )
        text = f"{self.domain.policy}\n\n# Tools\n\n{tools}\n\n# Customer\n\n{opening}"
        return Observation(
            text=text,
            data=self._data("user", user_message=opening),
            tools=self.domain.specs,
            messages=[
                Message(role="system", content=self.domain.policy),
                Message(role="user", content=opening),
            ],
        )

    def _customer_observation(self, message: str) -> Observation:
        return Observation(
            text=f"Customer: {message}",
            data=self._data("user", user_message=message),
            tools=self.domain.specs,
            messages=[Message(role="user", content=message)],
        )

    def _user_observation(self, text: str, reply: str, messages: list[Message]) -> Observation:
        assert self._task is not None
        data = {
            "task_id": self._task.id,
            "instruction": self._task.instruction,
            "user_turn": self._user_turns,
            "agent_message": reply,
            "agent_has_acted": self._tool_calls > 0,
        }
        return Observation(text=text, data=data, messages=messages)

    def _data(self, source: str, **extra: Any) -> dict[str, Any]:
        assert self._task is not None
        return {"task_id": self._task.id, "turn": self._turn, "source": source, **extra}

    async def step(self, actions: dict[str, Action]) -> Step:
        if self._done or self._task is None:
            raise UserError("the episode is over (or not started): call reset() first")
        if set(actions) != {self._next}:
            raise UserError(
                f"expected exactly one action, for {self._next!r} (whose turn it is); "
                f"got {sorted(actions)}"
            )
        terminated = truncated = False
        if self._next == USER:
            observations, terminated, info = self._user_says(actions[USER].text or "")
        else:
            action = actions[AGENT]
            self._turn += 1
            if action.tool_calls:
                observations, terminated, info = self._run_tools(action)
            else:
                observations, terminated, info = self._reply(action.text or "")
            truncated = not terminated and self._turn >= self.max_turns
        self._done = terminated or truncated
        reward = self.score().value if self._done else 0.0
        return Step(
            observations=observations,
            rewards={AGENT: reward},
            terminated=terminated,
            truncated=truncated,
            info=info,
        )

    def _run_tools(self, action: Action) -> tuple[dict[str, Observation], bool, dict[str, Any]]:
        results: list[dict[str, Any]] = []
        terminated = False
        for call in action.tool_calls:
            outcome = self.domain.execute(self._db, call.name, dict(call.arguments))
            self._hash = None
            self._tool_calls += 1
            results.append(
                {
                    "id": call.id,
                    "name": call.name,
                    "content": outcome.content,
                    "error": outcome.error,
                }
            )
            if outcome.terminates:
                terminated = self._transferred = True
                break
        observation = tool_results_observation(
            results, data=self._data("tool", tool_results=results), tools=self.domain.specs
        )
        info = {**tool_counts(results), "transferred": terminated}
        return {AGENT: observation}, terminated, info

    def _reply(self, reply: str) -> tuple[dict[str, Observation], bool, dict[str, Any]]:
        self._replies.append(reply)
        if self.user_mode == "agent":
            self._next = USER
            observation = self._user_observation(
                f"Agent: {reply}", reply, [Message(role="user", content=reply)]
            )
            return {USER: observation}, False, {"source": "agent", "to": USER}
        turn = self._user.respond(reply, agent_has_acted=self._tool_calls > 0)
        return (
            {AGENT: self._customer_observation(turn.text)},
            turn.stop,
            {"source": "user", "user_stopped": turn.stop},
        )

    def _user_says(self, message: str) -> tuple[dict[str, Observation], bool, dict[str, Any]]:
        self._user_turns += 1
        self._next = AGENT
        stop = STOP in message
        first = self._user_turns == 1
        observation = (
            self._first_observation(message) if first else self._customer_observation(message)
        )
        return {AGENT: observation}, stop, {"source": "user", "user_stopped": stop}

    def task_target(self) -> list[str] | None:
        """What is right for the current task, for scorers (`palaestra.eval`): the
        outputs the agent must tell the customer. None before `reset`."""
        return None if self._task is None else list(self._task.outputs)

    def score(self) -> Score:
        if self._task is None:
            metrics = {"db_match": 0.0, "outputs_found": 0.0, "transfer_match": 0.0}
            return Score(0.0, False, metrics, "not started")
        if self._hash is None:
            self._hash = db_hash(self._db)
        db_match = self._hash == self._target_hash
        outputs = self._task.outputs
        found = [o for o in outputs if output_found(o, self._replies)]
        fraction = len(found) / len(outputs) if outputs else 1.0
        transfer_match = self._transferred == self._expects_transfer
        success = db_match and len(found) == len(outputs)
        if self.params.check_transfer:
            success = success and transfer_match
        missing = [o for o in outputs if o not in found]
        explanation = (
            f"database {'matches' if db_match else 'differs from'} the ground truth; "
            f"{len(found)}/{len(outputs)} required outputs found in the replies"
            + (f" (missing: {', '.join(missing)})" if missing else "")
        )
        if not transfer_match:
            explanation += (
                "; transferred to a human agent, which the ground truth does not"
                if self._transferred
                else "; the ground truth transfers to a human agent, the agent did not"
            )
        return Score(
            value=1.0 if success else 0.0,
            success=success,
            metrics={
                "db_match": float(db_match),
                "outputs_found": fraction,
                "transfer_match": float(transfer_match),
            },
            explanation=explanation,
        )
