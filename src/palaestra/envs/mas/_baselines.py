"""Non-LLM baseline operators of ``mas.controlled``: they act only on their observations
(``data``), through the environment's tools, like any agent.

`ChainSolver` solves every task exactly: each turn it looks up the keys of the newly
revealed steps it needs (all in one action), keeps the verified record of each key (the
documented rule), and once every chain it needs is complete and every key known, it
computes the answers in dependency order and submits them. It needs ``horizon + 1``
steps: one lookup action per reveal turn, then the answers. With several agents, agent i
of n answers the sub-problems ``Q(j)`` with ``j mod n = i - 1`` and looks up only the keys
of those and of the sub-problems they depend on: a split with no messages, which a
system may do better.

`NaiveSolver` does the same but trusts every record: of a key's records it uses the first
one listed, which is the misleading one for about half of the attacked keys. So it scores
1 at robustness 0 and less as robustness grows. Mean score (successes) over the 100 tasks
``d3-h2-b4-p2-r{r}-s0..99`` per cell, one agent, run seed 0, measured with the loop of
``tests/envs/mas/conftest.py`` (the same loop ``test_mas_baselines.py`` uses):

===========  ===========  ===========  ===========  ===========  ===========  ===========
robustness   0            0.1          0.25         0.5          0.75         1
===========  ===========  ===========  ===========  ===========  ===========  ===========
ChainSolver  1.000 (100)  1.000 (100)  1.000 (100)  1.000 (100)  1.000 (100)  1.000 (100)
NaiveSolver  1.000 (100)  0.812 (48)   0.555 (12)   0.310 (1)    0.158 (0)    0.100 (0)
===========  ===========  ===========  ===========  ===========  ===========  ===========

(12 keys per task: r = 0.1 attacks one key, and the naive solver is misled when that
key's misleading record happens to be listed first, about half the time.)

Both implement the `Operator` protocol structurally and import nothing from the runtime
or the operators package. State is kept per (episode id, agent), so one instance may
serve several agents and episodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from palaestra.core import Action, Context, Observation, ToolCall, UserError
from palaestra.envs.mas._task import Op, Record, Trust, apply, choose


@dataclass
class _State:
    values: dict[str, int] = field(default_factory=dict)
    """Key -> the value this solver uses."""
    asked: set[str] = field(default_factory=set)
    """Keys already looked up."""
    submitted: bool = False


class ChainSolver:
    """Exact solver: verified records only, dependency order, split over agents."""

    trust: Trust = "verified"

    def __init__(self, *, agent: str | None = None) -> None:
        self._states: dict[tuple[str, str], _State] = {}

    async def act(self, observation: Observation, ctx: Context) -> Action:
        data = observation.data
        subs: list[dict[str, Any]] | None = data.get("subproblems")
        if not isinstance(subs, list):
            raise UserError(
                "the mas.controlled solver needs observation.data['subproblems'] (is it "
                "playing mas.controlled?)"
            )
        me = str(data.get("agent", ctx.agent))
        key = (ctx.episode_id, me)
        if data.get("turn") == 0 or key not in self._states:
            self._states[key] = _State()
        state = self._states[key]
        self._read_results(data.get("tool_results", []), state)
        if state.submitted:
            return Action()
        by_name = {sub["name"]: sub for sub in subs}
        mine = _share(subs, list(data.get("agents", [me])), me)
        needed = _with_ancestors(mine, by_name)
        wanted = [
            step["key"]
            for sub in subs
            if sub["name"] in needed
            for step in sub["steps"]
            if step["key"] not in state.asked
        ]
        if wanted:
            state.asked.update(wanted)
            return Action(
                tool_calls=[
                    ToolCall(id=f"lookup_{k}", name="lookup", arguments={"key": k}) for k in wanted
                ]
            )
        ready = all(by_name[name]["complete"] for name in needed) and all(
            step["key"] in state.values for name in needed for step in by_name[name]["steps"]
        )
        if not ready or not mine:
            return Action()
        answers = _compute(subs, needed, state.values)
        state.submitted = True
        return Action(
            tool_calls=[
                ToolCall(
                    id=f"answer_{name}",
                    name="answer",
                    arguments={"subproblem": name, "value": answers[name]},
                )
                for name in mine
            ]
        )

    def _read_results(self, results: list[dict[str, Any]], state: _State) -> None:
        for result in results:
            raw = result.get("records")
            if result.get("name") != "lookup" or not raw:
                continue
            records = [Record(r["key"], r["value"], r["source"], r["verified"]) for r in raw]
            chosen = choose(records, self.trust)
            if chosen is not None:
                state.values[chosen.key] = chosen.value


class NaiveSolver(ChainSolver):
    """Like `ChainSolver`, but uses the first record of each key, verified or not."""

    trust: Trust = "first"


def _share(subs: list[dict[str, Any]], agents: list[str], me: str) -> list[str]:
    """The sub-problems agent `me` answers: every n-th one, from its position."""
    index = agents.index(me) if me in agents else 0
    return [sub["name"] for i, sub in enumerate(subs) if i % len(agents) == index]


def _with_ancestors(names: list[str], by_name: dict[str, dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for name in names:
        while name is not None and name not in out:
            out.add(name)
            name = by_name[name]["depends_on"]
    return out


def _compute(
    subs: list[dict[str, Any]], needed: set[str], values: dict[str, int]
) -> dict[str, int]:
    """Answers of the needed sub-problems (listed in dependency order)."""
    answers: dict[str, int] = {}
    for sub in subs:
        if sub["name"] not in needed:
            continue
        x = sub["start"] if sub["depends_on"] is None else answers[sub["depends_on"]]
        for step in sub["steps"]:
            op: Op = step["op"]
            x = apply(op, x, values[step["key"]])
        answers[sub["name"]] = x
    return answers


def solver_baseline(params: Any, agent: str) -> ChainSolver:
    """The `EnvSpec.baseline` factory of ``mas.controlled``: one exact solver per agent."""
    return ChainSolver(agent=agent)
