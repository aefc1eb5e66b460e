"""The shared machinery of AgentsNet-style graph problems: agents on the nodes of a graph
exchange messages with their neighbours in synchronous rounds, then each answers alone.

One episode of a `MessagePassingEnv`:

1. ``reset(seed, task)`` builds the graph the task id names (``"ws-8-3"``: family ``ws``,
   8 nodes, graph seed 3) and gives every agent its first observation (round 1, empty
   inbox).
2. ``rounds`` message steps: every agent acts at once; its action holds one message per
   neighbour (``Action.data["messages"] = {neighbour: text}``, or ``Action.text`` with lines
   ``NAME: message``, see `parse_text_messages`). The next observation delivers to each
   agent what its neighbours sent it in that round.
3. One answer step: every agent gives its answer (``Action.data["answer"]`` or a line
   ``ANSWER: <answer>`` in ``Action.text``). Agents whose answer is missing or invalid are
   asked once more (one more step, for them only); then the answer counts as invalid.
   The step after the last answer has ``terminated=True``.

A problem (colouring, leader election, matching, vertex cover, consensus) is a subclass
that says what the task is, how to read an answer and how to score the answers; the
rounds, the message routing, the prompts and the re-asking are all here. Per step the
work is O(edges + text length).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from palaestra.core import Action, Observation, UserError
from palaestra.envs._protocol import Score, Step
from palaestra.envs.graph._graphs import (
    FAMILIES,
    MAX_NODES,
    MIN_NODES,
    Family,
    GraphInstance,
    agent_names,
    make_graph,
)

Phase = Literal["message", "answer", "reanswer", "done"]
"""What the agents are asked for: messages, their answer, their answer again; or over."""

BROADCAST_WORDS = frozenset({"all", "everyone"})
"""Line prefixes (``ALL: ...``) that address every neighbour at once."""

SMALL_GRAPH_NODES = 16
"""Up to this many nodes, the default number of rounds is `SMALL_GRAPH_ROUNDS`."""
SMALL_GRAPH_ROUNDS = 4
MAX_MESSAGE_CHARS = 2000
"""Longer messages are cut to this many characters, so prompts stay bounded."""

_TASK_RE = re.compile(r"^([a-z]+)-(\d+)-(\d+)$")
_ADDRESS_RE = re.compile(r"^[\s*_>`#-]*([A-Za-z][A-Za-z0-9]*)[*_`]*\s*:[*_`]*(.*)$")
_ANSWER_RE = re.compile(r"^[\s*_>`#-]*answer[*_`]*\s*[:=](.*)$", re.IGNORECASE | re.MULTILINE)


class GraphParams(BaseModel):
    """Parameters every graph problem shares."""

    model_config = ConfigDict(extra="forbid")

    family: Family = Field(default="ws", description="graph family: ws, ba or delaunay")
    n: int = Field(default=8, ge=MIN_NODES, le=MAX_NODES, description="number of agents (nodes)")
    rounds: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description=(
            "message rounds before the answer; default: 2*diameter+1 above "
            f"{SMALL_GRAPH_NODES} nodes (as AgentsNet), else {SMALL_GRAPH_ROUNDS}"
        ),
    )
    num_tasks: int = Field(
        default=10, ge=1, le=100_000, description="how many task ids tasks() lists"
    )


def task_id(family: str, n: int, seed: int) -> str:
    """The task id of a graph instance, e.g. ``ws-8-3``."""
    return f"{family}-{n}-{seed}"


def parse_task_id(task: str) -> tuple[str, int, int]:
    """``"ws-8-3"`` -> ``("ws", 8, 3)``; a `UserError` saying the format otherwise."""
    match = _TASK_RE.match(task)
    if match is None or match.group(1) not in FAMILIES:
        raise UserError(
            f"invalid graph task id {task!r}: expected FAMILY-NODES-SEED with FAMILY one of "
            f"{', '.join(FAMILIES)}, e.g. 'ws-8-0'"
        )
    family, n, seed = match.group(1), int(match.group(2)), int(match.group(3))
    if not MIN_NODES <= n <= MAX_NODES:
        raise UserError(
            f"invalid graph task id {task!r}: expected {MIN_NODES} to {MAX_NODES} nodes, got {n}"
        )
    return family, n, seed


@lru_cache(maxsize=64)
def _graph(family: str, n: int, seed: int) -> GraphInstance:
    return make_graph(family, n, seed)


def default_rounds(graph: GraphInstance) -> int:
    """AgentsNet's rule: 2 * diameter + 1 rounds above 16 nodes, else 4."""
    if graph.n > SMALL_GRAPH_NODES:
        return 2 * graph.diameter + 1
    return SMALL_GRAPH_ROUNDS


def parse_text_messages(text: str, neighbors: tuple[str, ...]) -> dict[str, str]:
    """Split an LLM's reply into one message per neighbour.

    A line ``NAME: message`` (NAME a neighbour, any case, markdown bold allowed) starts a
    message to NAME; ``ALL: message`` or ``EVERYONE: message`` starts one to every
    neighbour; the lines after it, up to the next such line, continue it. Lines before
    the first addressed line are ignored (thinking aloud). A text with no addressed line
    at all is one message to every neighbour. Several messages to the same neighbour
    are joined by newlines; empty ones are dropped.
    """
    lookup = {nb.lower(): nb for nb in neighbors}
    parts: dict[str, list[str]] = {}
    targets: list[str] | None = None
    for line in text.splitlines():
        match = _ADDRESS_RE.match(line)
        key = match.group(1).lower() if match else ""
        if match and (key in lookup or key in BROADCAST_WORDS):
            targets = list(neighbors) if key in BROADCAST_WORDS else [lookup[key]]
            for target in targets:
                parts.setdefault(target, []).append(match.group(2).strip())
        elif targets is not None:
            for target in targets:
                parts[target].append(line)
    if targets is None:
        body = text.strip()
        return {nb: body for nb in neighbors} if body else {}
    joined = {target: "\n".join(lines).strip() for target, lines in parts.items()}
    return {target: body for target, body in joined.items() if body}


def extract_answer(action: Action) -> Any:
    """The raw answer of an action: ``data["answer"]``, else the text after the last
    ``ANSWER:`` line of ``text`` (markdown stripped), else None."""
    if "answer" in action.data:
        return action.data["answer"]
    found = _ANSWER_RE.findall(action.text or "")
    if not found:
        return None
    return found[-1].strip().strip("*_`\"'").strip()


class MessagePassingEnv(ABC):
    """Base of the graph problems; subclasses implement the four problem hooks below."""

    reusable: ClassVar[bool] = True
    """Keeps the reset contract (`Environment`): the runner reuses one instance per
    worker across episodes (`palaestra.testing.check_reuse` checks it)."""

    problem: ClassVar[str] = ""
    """Short name of the problem for prompts, e.g. ``graph colouring``."""

    def __init__(self, params: GraphParams):
        self.params = params
        self._graph: GraphInstance | None = None
        self._task = ""
        self._seed = 0
        self._rounds = 0
        self._round = 0  # message rounds completed
        self._phase: Phase = "done"
        self._inbox: dict[str, dict[str, str]] = {}
        self._answers: dict[str, Any] = {}
        self._errors: dict[str, str] = {}
        self._acting: list[str] = []

    # -- problem hooks ------------------------------------------------------------------

    def on_reset(self, graph: GraphInstance) -> None:  # noqa: B027  (optional hook)
        """Compute per-episode constants (e.g. the number of colours); optional. `task`
        and `seed` are already set when it runs."""

    def default_rounds_for(self, graph: GraphInstance) -> int:
        """Message rounds when the ``rounds`` parameter is not set: AgentsNet's size rule
        (`default_rounds`); problems that need the whole graph (leader election,
        consensus) override it with 2 * diameter + 1."""
        return default_rounds(graph)

    @abstractmethod
    def describe_task(self, agent: str) -> str:
        """The task, for `agent`, in a few sentences a small LLM can follow."""

    @abstractmethod
    def answer_format(self, agent: str) -> tuple[str, str]:
        """(what to answer, a placeholder for it), e.g. ("your colour, a whole number from
        1 to 4", "your colour"); the prompt shows ``ANSWER: <placeholder>``. No concrete
        example: small models copy it."""

    @abstractmethod
    def parse_answer(self, agent: str, raw: Any) -> tuple[Any, str]:
        """Read a raw answer: (value, "") if valid, (None, why not) otherwise."""

    @abstractmethod
    def evaluate(self, answers: Mapping[str, Any]) -> Score:
        """Score the valid answers (an agent absent from `answers` answered invalidly)."""

    def extra_data(self, agent: str) -> dict[str, Any]:
        """Problem-specific entries of `Observation.data` (e.g. the colour list)."""
        return {}

    # -- the Environment protocol -------------------------------------------------------

    @property
    def agents(self) -> list[str]:
        """Agent names (the first n of the name list): the same for every task of one n."""
        return list(self._graph.names if self._graph else agent_names(self.params.n))

    @property
    def graph(self) -> GraphInstance:
        """The graph of the current episode."""
        if self._graph is None:
            raise RuntimeError("call reset() before reading the graph")
        return self._graph

    @property
    def rounds(self) -> int:
        """Message rounds of the current episode."""
        return self._rounds

    @property
    def task(self) -> str:
        """Task id of the current episode (``""`` before the first reset)."""
        return self._task

    @property
    def seed(self) -> int:
        """Seed the current episode was reset with."""
        return self._seed

    def tasks(self) -> list[str]:
        """``num_tasks`` graphs of this family and size: ``{family}-{n}-{0..num_tasks-1}``."""
        p = self.params
        return [task_id(p.family, p.n, i) for i in range(p.num_tasks)]

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        """Build the task's graph and ask every agent for its round-1 messages.

        The graph depends on the task id only; `seed` changes nothing in it (a problem may
        draw per-episode data from it, as consensus draws the agents' private bits; the
        agents' own randomness is their operators').
        """
        task = task if task is not None else self.tasks()[0]
        family, n, graph_seed = parse_task_id(task)
        self._task = task
        self._seed = seed
        self._graph = _graph(family, n, graph_seed)
        self._rounds = self.params.rounds or self.default_rounds_for(self._graph)
        self._round = 0
        self._phase = "message"
        self._inbox = {name: {} for name in self._graph.names}
        self._answers = {}
        self._errors = {}
        self.on_reset(self._graph)
        self._acting = list(self._graph.names)
        return {agent: self._observe(agent) for agent in self._acting}

    async def step(self, actions: dict[str, Action]) -> Step:
        """Deliver one round of messages, or read the answers; see the module docstring."""
        if self._graph is None or self._phase == "done":
            raise RuntimeError("step() called before reset() or after the episode ended")
        unexpected = sorted(set(actions) - set(self._acting))
        if unexpected:
            raise ValueError(
                f"actions for agents that were not asked to act: {unexpected}; "
                f"expected a subset of {self._acting}"
            )
        phase = self._phase
        info: dict[str, Any] = {"phase": phase, "round": self._round, "rounds": self._rounds}
        if phase == "message":
            info.update(self._deliver(actions))
            self._round += 1
            info["round"] = self._round
            if self._round >= self._rounds:
                self._phase = "answer"
        else:
            invalid = self._collect_answers(actions)
            info["answers_invalid"] = invalid
            self._phase = "reanswer" if phase == "answer" and invalid else "done"
            self._acting = invalid if self._phase == "reanswer" else []
        score = self.score()
        info["metrics"] = dict(score.metrics)
        terminated = self._phase == "done"
        if terminated:
            info["score"] = score.value
            rewards = {agent: score.value for agent in self._graph.names}
        else:
            rewards = {agent: 0.0 for agent in actions}
        observations = {agent: self._observe(agent) for agent in self._acting}
        return Step(observations=observations, rewards=rewards, terminated=terminated, info=info)

    def score(self) -> Score:
        """The problem's score of the answers given so far (none yet: value 0)."""
        score = self.evaluate(self._answers)
        score.metrics["rounds"] = float(self._rounds)
        return score

    # -- internals ----------------------------------------------------------------------

    def _deliver(self, actions: Mapping[str, Action]) -> dict[str, int]:
        graph = self.graph
        inbox: dict[str, dict[str, str]] = {name: {} for name in graph.names}
        delivered = dropped = 0
        for sender in self._acting:
            action = actions.get(sender)
            if action is None:
                continue
            neighbors = graph.neighbors[sender]
            raw = action.data.get("messages")
            if raw is not None:
                if not isinstance(raw, dict):
                    dropped += 1
                    continue
                allowed = set(neighbors)
                outgoing = {}
                for target, text in raw.items():
                    if target in allowed:
                        outgoing[target] = str(text)
                    else:
                        dropped += 1
            else:
                outgoing = parse_text_messages(action.text or "", neighbors)
            for target, text in outgoing.items():
                inbox[target][sender] = text[:MAX_MESSAGE_CHARS]
                delivered += 1
        self._inbox = inbox
        return {"messages_delivered": delivered, "messages_dropped": dropped}

    def _collect_answers(self, actions: Mapping[str, Action]) -> list[str]:
        invalid = []
        for agent in self._acting:
            action = actions.get(agent)
            raw = extract_answer(action) if action is not None else None
            if raw is None:
                value, error = None, "no line of the form 'ANSWER: <answer>' was found"
            else:
                value, error = self.parse_answer(agent, raw)
            if value is None:
                self._answers.pop(agent, None)
                self._errors[agent] = error
                invalid.append(agent)
            else:
                self._answers[agent] = value
                self._errors.pop(agent, None)
        return invalid

    def _observe(self, agent: str) -> Observation:
        graph = self.graph
        neighbors = graph.neighbors[agent]
        inbox = self._inbox[agent]
        phase = self._phase
        data: dict[str, Any] = {
            "agent": agent,
            "num_agents": graph.n,
            "neighbors": list(neighbors),
            "phase": phase,
            "round": self._round + 1 if phase == "message" else self._rounds,
            "rounds": self._rounds,
            "inbox": dict(inbox),
            "inbox_round": self._round,
            **self.extra_data(agent),
        }
        if phase == "reanswer":
            data["error"] = self._errors.get(agent, "")
        return Observation(text=self._text(agent, neighbors, inbox, phase), data=data)

    def _text(
        self, agent: str, neighbors: tuple[str, ...], inbox: dict[str, str], phase: Phase
    ) -> str:
        r, total = self._round, self._rounds
        lines = [
            f"You are {agent}, one of {self.graph.n} agents connected in a network. You can "
            f"exchange messages only with your {len(neighbors)} neighbours: "
            f"{', '.join(neighbors)}. Nobody sees the whole network.",
            f"Task ({self.problem}): {self.describe_task(agent)}",
            "",
        ]
        if phase == "message":
            lines.append(f"This is message round {r + 1} of {total}.")
        else:
            lines.append(f"All {total} message rounds are over.")
        if r == 0:
            lines.append("No messages yet: this is the first round.")
        else:
            lines.append(f"Messages you received in round {r}:")
            for nb in neighbors:
                body = inbox.get(nb)
                body = "(no message)" if body is None else body.replace("\n", "\n    ")
                lines.append(f"- {nb}: {body}")
        lines.append("")
        if phase == "message":
            last = r + 1 == total
            lines += [
                "Write your messages for this round. Your neighbours read them "
                + ("when they give their final answers." if last else "in the next round.")
                + f" After round {total}, everyone answers alone.",
                "Reply format: one line per neighbour, the neighbour's name, a colon, then "
                "the message, for example:",
                *(f"{nb}: <your message to {nb}>" for nb in neighbors[:2]),
                'A line "ALL: <message>" goes to every neighbour. A reply without any such '
                "line is sent, as a whole, to all your neighbours.",
            ]
            return "\n".join(lines)
        what, placeholder = self.answer_format(agent)
        if phase == "reanswer":
            lines.append(
                f"Your previous reply had no valid answer: {self._errors.get(agent, '')}. "
                "This is your last chance: an invalid answer counts as wrong."
            )
        lines += [
            f"Give your final answer now: {what}.",
            "Reply with one line in exactly this form (you may think before it):",
            f"ANSWER: <{placeholder}>",
        ]
        return "\n".join(lines)
