"""A small environment for runner tests, with faults to order.

`test.counter`: one or more agents share a counter; each agent calls the env tool
`add(n)` or answers text. The episode terminates when an agent answers "DONE"; the score
is 1 iff the counter equals the target. `fail_at_step` makes `step` raise at that step,
`fail_reset` makes `reset` raise.
"""

from __future__ import annotations

from pydantic import BaseModel

from palaestra.core import Action, Context, Message, Observation, ToolSpec
from palaestra.envs import EnvSpec, Score, Step, register

ADD = ToolSpec(
    name="add",
    description="Add n to the counter.",
    parameters={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
)


class CounterParams(BaseModel):
    agents: int = 1
    target: int = 3
    fail_at_step: int | None = None
    fail_reset: bool = False
    num_tasks: int = 3


class CounterEnv:
    def __init__(self, params: CounterParams):
        self.params = params
        self.counter = 0
        self.steps = 0

    @property
    def agents(self) -> list[str]:
        return [f"a{i}" for i in range(self.params.agents)]

    def tasks(self) -> list[str]:
        return [f"t{i}" for i in range(self.params.num_tasks)]

    def _obs(self, text: str, messages: list[Message] | None = None) -> dict[str, Observation]:
        return {
            a: Observation(
                text=text, data={"counter": self.counter}, tools=[ADD], messages=messages or []
            )
            for a in self.agents
        }

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        if self.params.fail_reset:
            raise RuntimeError("reset exploded")
        self.counter, self.steps = 0, 0
        return self._obs(f"Reach {self.params.target}. Counter is 0. Task {task} seed {seed}.")

    async def step(self, actions: dict[str, Action]) -> Step:
        if self.params.fail_at_step is not None and self.steps == self.params.fail_at_step:
            raise ValueError(f"step {self.steps} exploded")
        self.steps += 1
        done = False
        results: list[Message] = []
        for action in actions.values():
            for call in action.tool_calls:
                self.counter += int(call.arguments.get("n", 0))
                results.append(
                    Message(
                        role="tool", content=f"Counter is {self.counter}.", tool_call_id=call.id
                    )
                )
            if action.text and action.text.strip() == "DONE":
                done = True
        reward = 1.0 if done and self.counter == self.params.target else 0.0
        return Step(
            observations={} if done else self._obs(f"Counter is {self.counter}.", results),
            rewards=dict.fromkeys(actions, reward),
            terminated=done,
            info={"counter": self.counter},
        )

    def score(self) -> Score:
        ok = self.counter == self.params.target
        return Score(value=float(ok), success=ok, metrics={"counter": float(self.counter)})


class CounterBaseline:
    """Adds 1 until the target, then answers DONE."""

    def __init__(self, target: int):
        self.target = target

    async def act(self, observation: Observation, ctx: Context) -> Action:
        if observation.data["counter"] >= self.target:
            return Action(text="DONE")
        return Action(tool_calls=[{"id": f"c{ctx.step}", "name": "add", "arguments": {"n": 1}}])


SPEC = EnvSpec(
    id="test.counter",
    factory=CounterEnv,
    params=CounterParams,
    description="counter test env",
    baseline=lambda params, agent: CounterBaseline(params.target),
)


def register_counter() -> None:
    register(SPEC, replace=True)
