"""`ToolUseEnv`: one agent serves a scripted customer against a domain's database.

Episode protocol (one agent, named `agent`):

- `reset(seed, task)` loads a fresh copy of the database of `db_seed` and returns the
  first observation: the policy, the tool list and the customer's opening message, in
  `text` and as `messages` (system, user); `tools` holds the tool specs; `data` holds
  `task_id`, `turn` (0), `source` (`"user"`) and `user_message`. `seed` only picks the
  task when `task` is None (`tasks()[seed % len]`): the episode is otherwise fixed.
- `step({"agent": action})`, one agent turn:
  - `action.tool_calls` non-empty: each call is executed in order against the database
    (any `action.text` is not shown to the customer). Results come back as `tool`
    messages (with `tool_call_id`), in `text`, and in `data["tool_results"]`. A bad call
    returns `Error: ...` text and changes nothing. `transfer_to_human_agents` ends the
    episode (`terminated`); calls after it in the same action are not run.
  - otherwise `action.text` (empty if None) is a reply to the customer, who answers by
    the rules of `ScriptedUser`; when it stops, the episode is `terminated`.
  - after `max_turns` agent turns without termination, the episode is `truncated`.
  - on the final step the observation still shows the last tool results or customer
    message; `rewards["agent"]` is the episode score there and 0 before.
- `score()`: tau-bench's reward. `db_match` is 1 if the database hash equals the hash
  after replaying the task's ground-truth calls (except terminating ones) on a fresh copy;
  `outputs_found` is the fraction of the task's required outputs found in the agent's
  replies (1 when there are none). The value is 1 when both are 1, else 0.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from palaestra.core import Action, Message, Observation, UserError
from palaestra.envs._protocol import Score, Step
from palaestra.envs.tooluse._domain import Domain, Task, db_hash, output_found
from palaestra.envs.tooluse._user import ScriptedUser

AGENT = "agent"
"""Name of the one agent of a tool-use environment."""


class ToolUseParams(BaseModel):
    """Parameters of a tool-use environment."""

    model_config = ConfigDict(extra="forbid")
    db_seed: int = Field(default=0, ge=0, description="Seed of the generated database and tasks.")
    num_tasks: int = Field(default=20, ge=1, le=1000, description="How many tasks to generate.")
    max_turns: int = Field(
        default=30, ge=1, le=1000, description="Agent turns before the episode is truncated."
    )


class ToolUseEnv:
    """A domain's database, tools, policy and tasks, served to one agent."""

    def __init__(
        self, domain: Domain, *, db_seed: int = 0, num_tasks: int = 20, max_turns: int = 30
    ) -> None:
        self.domain = domain
        try:
            self.params = ToolUseParams(db_seed=db_seed, num_tasks=num_tasks, max_turns=max_turns)
            """The validated parameters (what the registry's baseline is built from)."""
        except ValidationError as exc:
            problems = "; ".join(f"{err['loc'][0]}: {err['msg']}" for err in exc.errors())
            raise UserError(f"invalid parameters for tooluse.{domain.name}: {problems}") from None
        self.db_seed = db_seed
        self.max_turns = max_turns
        initial = domain.make_database(db_seed)
        self._db_type = type(initial)
        self._initial: dict[str, Any] = initial.model_dump(mode="json")
        self._tasks = domain.make_tasks(self._load(), db_seed, num_tasks)
        self._by_id = {task.id: task for task in self._tasks}
        self._task: Task | None = None
        self._db: BaseModel = self._load()
        self._target_hash = ""
        self._replies: list[str] = []
        self._tool_calls = 0
        self._turn = 0
        self._done = True
        self._user = ScriptedUser("")

    @property
    def agents(self) -> list[str]:
        return [AGENT]

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
        """A fresh copy of the initial database."""
        return self._db_type.model_validate(self._initial)

    def _target(self, task: Task) -> str:
        """Hash of the database after the task's ground truth, replayed on a fresh copy."""
        db = self._load()
        for call in task.actions:
            tool = self.domain.tool(call.name)
            if tool is not None and tool.terminates:
                continue
            self.domain.execute(db, call.name, dict(call.arguments))
        return db_hash(db)

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        chosen = self._tasks[seed % len(self._tasks)] if task is None else self.task(task)
        self._task = chosen
        self._db = self._load()
        self._target_hash = self._target(chosen)
        self._replies = []
        self._tool_calls = 0
        self._turn = 0
        self._done = False
        self._user = ScriptedUser(chosen.instruction)
        opening = self._user.opening()
        tools = "\n".join(
            f"- {spec.name}({', '.join(spec.parameters.get('properties', {}))}): {spec.description}"
            for spec in self.domain.specs
        )
        text = f"{self.domain.policy}\n\n# Tools\n\n{tools}\n\n# Customer\n\n{opening}"
        return {
            AGENT: Observation(
                text=text,
                data=self._data("user", user_message=opening),
                tools=self.domain.specs,
                messages=[
                    Message(role="system", content=self.domain.policy),
                    Message(role="user", content=opening),
                ],
            )
        }

    def _data(self, source: str, **extra: Any) -> dict[str, Any]:
        assert self._task is not None
        return {"task_id": self._task.id, "turn": self._turn, "source": source, **extra}

    async def step(self, actions: dict[str, Action]) -> Step:
        if self._done or self._task is None:
            raise UserError("the episode is over (or not started): call reset() first")
        if set(actions) != {AGENT}:
            raise UserError(f"expected exactly one action, for {AGENT!r}; got {sorted(actions)}")
        action = actions[AGENT]
        self._turn += 1
        if action.tool_calls:
            observation, terminated, info = self._run_tools(action)
        else:
            observation, terminated, info = self._reply(action.text or "")
        truncated = not terminated and self._turn >= self.max_turns
        self._done = terminated or truncated
        reward = self.score().value if self._done else 0.0
        return Step(
            observations={AGENT: observation},
            rewards={AGENT: reward},
            terminated=terminated,
            truncated=truncated,
            info=info,
        )

    def _run_tools(self, action: Action) -> tuple[Observation, bool, dict[str, Any]]:
        results: list[dict[str, Any]] = []
        terminated = False
        for call in action.tool_calls:
            outcome = self.domain.execute(self._db, call.name, dict(call.arguments))
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
                terminated = True
                break
        text = "\n\n".join(f"[{r['name']} ({r['id']})]\n{r['content']}" for r in results)
        observation = Observation(
            text=text,
            data=self._data("tool", tool_results=results),
            tools=self.domain.specs,
            messages=[
                Message(role="tool", content=r["content"], name=r["name"], tool_call_id=r["id"])
                for r in results
            ],
        )
        info = {
            "source": "tool",
            "tool_calls": len(results),
            "tool_errors": sum(r["error"] for r in results),
            "transferred": terminated,
        }
        return observation, terminated, info

    def _reply(self, reply: str) -> tuple[Observation, bool, dict[str, Any]]:
        self._replies.append(reply)
        turn = self._user.respond(reply, agent_has_acted=self._tool_calls > 0)
        observation = Observation(
            text=f"Customer: {turn.text}",
            data=self._data("user", user_message=turn.text),
            tools=self.domain.specs,
            messages=[Message(role="user", content=turn.text)],
        )
        return observation, turn.stop, {"source": "user", "user_stopped": turn.stop}

    def score(self) -> Score:
        if self._task is None:
            return Score(0.0, False, {"db_match": 0.0, "outputs_found": 0.0}, "not started")
        db_match = db_hash(self._db) == self._target_hash
        outputs = self._task.outputs
        found = [o for o in outputs if output_found(o, self._replies)]
        fraction = len(found) / len(outputs) if outputs else 1.0
        success = db_match and len(found) == len(outputs)
        missing = [o for o in outputs if o not in found]
        explanation = (
            f"database {'matches' if db_match else 'differs from'} the ground truth; "
            f"{len(found)}/{len(outputs)} required outputs found in the replies"
            + (f" (missing: {', '.join(missing)})" if missing else "")
        )
        return Score(
            value=1.0 if success else 0.0,
            success=success,
            metrics={"db_match": float(db_match), "outputs_found": fraction},
            explanation=explanation,
        )
