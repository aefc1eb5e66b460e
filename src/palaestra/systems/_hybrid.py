"""`Hybrid`: a coordinator instructs workers, the workers discuss among themselves as
peers, and the coordinator turns their answers into the action ("Towards a Science of
Scaling Agent Systems": centralized orchestration plus peer communication).

``Hybrid(coordinator, workers, peer_rounds=P, edges=...).act(observation, ctx)``, at
each step:

1. **plan**: the coordinator is sent the task (`message` from ``agent`` to
   ``agent/coordinator``) with the line "You coordinate the workers a, b. Write the
   instruction they should follow" and acts *without* the environment's tools; its
   reply (one line, `render_action`) is the instruction;
2. **work**: every worker is sent "Instruction from the coordinator: ... Task: ..."
   (`message` from ``agent/coordinator`` to ``agent/<worker>``, ``round=1``) and
   answers in its child context, with the environment's tools, so a worker may
   propose a tool call; workers act concurrently, their events placed in worker order;
3. **peer rounds**: P rounds of discussion among the workers exactly as in
   `Decentralized` (rounds 2..P+1: each worker is shown its graph in-neighbours'
   previous answers and answers again; each answer is first recorded as a `message` to
   its out-neighbours). ``peer_rounds=0`` skips the discussion;
4. **decide**: each worker's last answer is recorded as a `message` to
   ``agent/coordinator``; the coordinator is sent "Your workers answered: - a: ... -
   b: ..." and acts *with* the environment's tools; its action is the system's action,
   also recorded as a `message` from ``agent/coordinator`` to ``agent``.

The coordinator keeps one conversation across both of its turns (it is the same
operator, acting twice as ``agent/coordinator``). `edges` are pairs of worker names,
undirected unless ``directed=True``; None is the complete graph. Bad parameters raise
`UserError` (negative `peer_rounds`, edges naming undefined workers, self-loops, a
worker named ``coordinator``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from palaestra.core import Action, Context, MessageEvent, Observation, Operator
from palaestra.systems._base import consult, describe_member, fork_member, fork_members
from palaestra.systems._decentralized import check_rounds
from palaestra.systems._relay import relay, render_action
from palaestra.systems._rounds import Graph, check_members, check_operator, discuss

COORDINATOR = "coordinator"
"""Agent name of the coordinator inside the system (``agent/coordinator``)."""


def plan_text(task: str, workers: Sequence[str]) -> str:
    """What the coordinator reads first: the task, then its role."""
    return (
        f"{task}\n\nYou coordinate the workers {', '.join(workers)}. Write the instruction "
        "they should follow; you will then see their answers and give the final action."
    )


def work_text(instruction: str, task: str) -> str:
    """What each worker reads in round 1."""
    return f"Instruction from the coordinator:\n{instruction}\n\nTask:\n{task}"


def decide_text(answers: Mapping[str, str]) -> str:
    """What the coordinator reads last: every worker's final answer."""
    shown = "\n".join(f"- {name}: {answer or '(empty)'}" for name, answer in answers.items())
    return f"Your workers answered:\n{shown}\n\nGive the final action for the task."


class Hybrid:
    """A coordinator plus peer rounds among workers; see the module docstring."""

    def __init__(
        self,
        coordinator: Operator,
        workers: Mapping[str, Operator],
        *,
        peer_rounds: int = 1,
        edges: Sequence[tuple[str, str]] | None = None,
        directed: bool = False,
    ):
        check_operator(coordinator, "hybrid: the coordinator")
        self.coordinator = coordinator
        self.workers = check_members(workers, "hybrid", reserved=(COORDINATOR,))
        self.peer_rounds = check_rounds(peer_rounds, "peer_rounds", "hybrid", minimum=0)
        self.graph = Graph(list(self.workers), edges, directed=directed, where="hybrid")
        self.edges = None if edges is None else [(a, b) for a, b in edges]
        self.directed = directed
        self._previous: dict[str, Action] = {}
        self._executed: Action | None = None

    def fork(self) -> Hybrid:
        """A fresh per-episode copy: coordinator and workers forked, no memory of steps."""
        return Hybrid(
            fork_member(self.coordinator),
            fork_members(self.workers),
            peer_rounds=self.peer_rounds,
            edges=self.edges,
            directed=self.directed,
        )

    def describe(self) -> str:
        """``hybrid(1 peer rounds, complete: coordinator=llm:m; a=llm:m, b=llm:m)``."""
        workers = ", ".join(f"{n}={describe_member(m)}" for n, m in self.workers.items())
        return (
            f"hybrid({self.peer_rounds} peer rounds, {self.graph.describe()}: "
            f"coordinator={describe_member(self.coordinator)}; {workers})"
        )

    async def act(self, observation: Observation, ctx: Context) -> Action:
        me = f"{ctx.agent}/{COORDINATOR}"
        # 1. Plan: the coordinator writes the instruction (no environment tools).
        text = plan_text(observation.text, list(self.workers))
        view = relay(observation, executed=self._executed, own=self._executed, text=text)
        plan, _ = await consult(
            ctx,
            self.coordinator,
            COORDINATOR,
            text,
            base=view.model_copy(update={"tools": []}),
            data={"phase": "plan", "workers": list(self.workers)},
        )
        instruction = render_action(plan)
        # 2-3. Work and peer rounds among the workers.
        rounds = 1 + self.peer_rounds
        actions, contexts = await discuss(
            ctx,
            self.workers,
            dict.fromkeys(self.workers, work_text(instruction, observation.text)),
            base=observation,
            graph=self.graph,
            rounds=rounds,
            sender=me,
            previous=self._previous,
            executed=self._executed,
        )
        answers = {name: render_action(action) for name, action in actions.items()}
        for name, child in contexts.items():
            child.emit(
                MessageEvent(
                    sender=child.agent, recipients=[me], content=answers[name], round=rounds
                ),
                parent=child.turn_event,
            )
        # 4. Decide: the coordinator acts on the environment.
        final, final_ctx = await consult(
            ctx,
            self.coordinator,
            COORDINATOR,
            decide_text(answers),
            base=observation.model_copy(update={"messages": []}),
            data={"phase": "decide", "answers": answers},
        )
        final_ctx.emit(
            MessageEvent(sender=me, recipients=[ctx.agent], content=render_action(final)),
            parent=final_ctx.turn_event,
        )
        self._previous, self._executed = actions, final
        return final
