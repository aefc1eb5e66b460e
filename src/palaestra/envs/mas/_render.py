"""What an agent of ``mas.controlled`` reads: the tool specs, the rules, the revealed
state of the task, and the results of its own tool calls.

Every observation carries the whole revealed state (not only what is new), so an agent
that keeps no history still has everything it needs; the structured copy of the same
content is built in `revealed_data`.
"""

from __future__ import annotations

from typing import Any

from palaestra.core import ToolSpec
from palaestra.envs.mas._task import MasTask

TRUST_RULE = (
    "A key can have several records. Records marked UNVERIFIED come from untrustworthy "
    "sources and may be wrong: ignore them. Every key has exactly one verified record, "
    "and that is its value."
)
"""The documented rule that separates true facts from distractors."""

LOOKUP = ToolSpec(
    name="lookup",
    description=(
        "Return every record stored for one key named in a revealed step (e.g. K123). "
        "Use only the record marked verified; UNVERIFIED records may be wrong."
    ),
    parameters={
        "type": "object",
        "properties": {"key": {"type": "string", "description": "the key, e.g. K123"}},
        "required": ["key"],
        "additionalProperties": False,
    },
)
ANSWER = ToolSpec(
    name="answer",
    description=(
        "Record the final whole-number answer of one sub-problem (e.g. Q2). The last "
        "answer given for a sub-problem counts; the episode ends once every sub-problem "
        "has an answer."
    ),
    parameters={
        "type": "object",
        "properties": {
            "subproblem": {"type": "string", "description": "the sub-problem, e.g. Q2"},
            "value": {"type": "integer", "description": "its answer, a whole number"},
        },
        "required": ["subproblem", "value"],
        "additionalProperties": False,
    },
)
TOOLS = [LOOKUP, ANSWER]


def intro(task: MasTask, agent: str, agents: list[str], max_turns: int) -> str:
    """The task and its rules (the same at every turn)."""
    axes = task.axes
    names = ", ".join(sub.name for sub in task.subproblems)
    if len(agents) == 1:
        who = "You work alone on this task."
    else:
        others = ", ".join(a for a in agents if a != agent)
        who = (
            f"You are {agent}, one of {len(agents)} agents acting in the same environment "
            f"(the others: {others}). Every agent sees the task and may use the tools; "
            "any agent's answer counts for everyone."
        )
    return "\n".join(
        [
            who,
            f"Compute the exact whole-number answers of {axes.breadth} sub-problems: "
            f"{names}. Each one starts from a number (given, or the answer of an earlier "
            "sub-problem) and applies its steps in order to a running number. Each step "
            "uses the value of a key, which you get with the lookup tool.",
            f"Steps are revealed over turns: the last steps arrive at turn "
            f"{axes.horizon - 1}. Only keys of revealed steps can be looked up. The "
            f"episode is cut off after turn {max_turns - 1}.",
            f"Rules: {TRUST_RULE} 'Remainder after division by v' is x mod v (from 0 to "
            "v-1). Give each answer with the answer tool. A reply without tool calls just "
            "waits for the next turn.",
        ]
    )


def revealed_data(task: MasTask, turn: int) -> list[dict[str, Any]]:
    """Per sub-problem: start, dependency and the steps revealed by `turn`."""
    out = []
    for sub in task.subproblems:
        steps = [s for s in sub.steps if s.reveal_turn <= turn]
        out.append(
            {
                "name": sub.name,
                "start": sub.start,
                "depends_on": sub.depends_on,
                "steps": [
                    {"index": s.index, "op": s.op, "key": s.key, "text": s.text} for s in steps
                ],
                "complete": len(steps) == len(sub.steps),
            }
        )
    return out


def state_text(
    subproblems: list[dict[str, Any]], turn: int, new: int, answered: dict[str, str]
) -> str:
    """The revealed sub-problems and who answered what, as text."""
    lines = [f"Turn {turn}: {new} new step(s) revealed." if new else f"Turn {turn}."]
    for sub in subproblems:
        start = (
            f"starts at {sub['start']}"
            if sub["depends_on"] is None
            else f"starts at the answer of {sub['depends_on']}"
        )
        if sub["name"] in answered:
            start += f" [answered by {answered[sub['name']]}]"
        lines.append(f"{sub['name']} {start}.")
        for step in sub["steps"]:
            lines.append(f"  {step['index']}. {step['text']}")
        lines.append(
            "  (all steps revealed)" if sub["complete"] else "  (more steps will be revealed)"
        )
    return "\n".join(lines)


def results_text(results: list[dict[str, Any]]) -> str:
    """Results of an agent's tool calls, as text."""
    return "\n".join(f"[{r['name']} ({r['id']})] {r['content']}" for r in results)
