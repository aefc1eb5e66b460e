"""The root-cause taxonomy of failed episodes: three levels, each with named categories.

The levels follow AgentFail's split of failures in agentic workflows (agent, workflow,
platform) and the categories borrow MAST's names ("Why do multi-agent LLM systems
fail?") where one fits:

- **agent**: the decision of one agent was wrong: a bad tool call, a malformed answer,
  a forbidden action, a broken specification, a loop, a wrong final result, a crash of
  the agent's own code;
- **workflow** (orchestration): the parts were each plausible but their composition
  lost the task: a member's wrong sub-result passed on unverified, a step or token
  budget that ran out;
- **platform**: something the agent does not control failed: the model service, a
  tool or its server, a memory, the message channel between agents, the environment.
  Injected faults (`fault` events) are platform failures of the boundary they hit.

Every category has a precise evidence rule over the event log, given in `TAXONOMY` and
in docs/diagnosis.md (a test keeps the two in step). `palaestra.assurance.diagnose`
applies the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["agent", "workflow", "platform", "unknown"]
"""Where the root cause lies; `unknown` only for `unexplained` (no evidence at all)."""

LEVELS: tuple[Level, ...] = ("agent", "workflow", "platform", "unknown")
"""Levels in report order."""


@dataclass(frozen=True)
class Category:
    """One root-cause category: its level, what it means, and how the log shows it."""

    name: str
    """Identifier used in diagnoses and counts, e.g. `tool_misuse`."""
    level: Level
    definition: str
    """What went wrong, in one sentence."""
    evidence: str
    """The rule over the event log that detects it."""
    example: str
    """A concrete case."""


TAXONOMY: tuple[Category, ...] = (
    # -- agent ------------------------------------------------------------------------
    Category(
        "contract_violation",
        "agent",
        "An agent broke a stated property of the run (MAST: disobey task or role specification).",
        "A `contract_verdict` with passed=false; the decisive event is its "
        "`first_violation` (the verdict itself when it names none).",
        "contract no_secret_leak fails at seq 14, a message that quotes an API key.",
    ),
    Category(
        "tool_misuse",
        "agent",
        "The agent called a tool wrongly (unknown tool, invalid arguments, an id that "
        "does not exist) and never made the call good.",
        "A tool result with an error (`tool_result.is_error`, or an entry of an "
        "observation's `data.tool_results` with `error` true) not classified as a "
        "platform failure, with no later successful call of the same tool by the same "
        "agent (any tool after an unknown-tool error); decisive when the agent acted "
        "again after seeing the error.",
        "get_order_details(order_id='#W0000') returns 'Error: order not found'; the agent "
        "replies to the customer and never looks the order up again.",
    ),
    Category(
        "malformed_output",
        "agent",
        "The agent's output could not be used: the environment rejected its answer as "
        "invalid, or its tool-call arguments were not JSON.",
        "The last `env_step` that reports `info.answers_invalid` still lists the agent "
        "(the re-ask did not fix it); or a tool error saying the arguments were not "
        "valid JSON, never made good.",
        "graph.coloring: agent n3 answers 'ANSWER: purple', invalid twice.",
    ),
    Category(
        "blocked_action",
        "agent",
        "The agent attempted an action the governance policy blocks and did not reach "
        "the goal another way.",
        "A `governance` event with decision block, with no later allowed or rewritten "
        "decision and no later successful call on the same target by the same agent.",
        "refund(order_id, account='attacker') blocked by rule refund-to-owner; the agent gives up.",
    ),
    Category(
        "step_repetition",
        "agent",
        "The agent looped, repeating an action it had already taken, until the step "
        "limit (MAST: step repetition).",
        "The episode ended by max_steps or truncated, and an agent took the same action "
        "(same text, same tool calls and arguments) at least three times; the decisive "
        "event is its first repetition.",
        "the agent calls list_orders() at every step until max_steps.",
    ),
    Category(
        "wrong_action",
        "agent",
        "The episode ended normally but the agent's result was wrong, and no earlier "
        "error explains it (reasoning or knowledge error).",
        "The first `env_step` with a negative reward (the acting agent's action at that "
        "step), else, when no other rule applies, the last `action` of the episode "
        "(the one that committed the result), with low confidence.",
        "the agent cancels the right order but never tells the customer the refund "
        "amount the task requires.",
    ),
    Category(
        "operator_error",
        "agent",
        "The agent's own code raised (an operator bug, an invalid action type), not a "
        "model, tool or environment failure.",
        "`episode_end` with reason error whose error is neither a model error nor "
        "raised in the environment.",
        "a Python operator raises KeyError: 'price'.",
    ),
    # -- workflow ---------------------------------------------------------------------
    Category(
        "wrong_sub_result",
        "workflow",
        "A member of a multi-agent system returned a wrong intermediate result and the "
        "system passed it on unverified (MAST: no or incorrect verification).",
        "A failed episode, and a `message` from an internal agent (`a/b`) whose content "
        "holds a value the system then submitted in an `action`, where the score "
        "marks that value wrong (`got V, expected W` in its explanation: high "
        "confidence) or, when the score names no value, the action's answer appears "
        "first in that reply (low confidence).",
        "worker agent/q1_solver replies 'Q1 = 15'; the orchestrator answers Q1 = 15; "
        "the score says 'Q1 got 15, expected 14'.",
    ),
    Category(
        "budget_exhausted",
        "workflow",
        "The token or wall-time budget of the episode ran out before the task was done.",
        "`episode_end` with reason budget (and no earlier decisive error).",
        "limits.max_tokens 2000 is spent by step 3 of a 6-step task.",
    ),
    Category(
        "step_limit",
        "workflow",
        "The episode hit the step limit (max_steps) or the environment truncated it, "
        "without a loop to blame (MAST: unaware of termination conditions).",
        "`episode_end` with reason max_steps or truncated, no repeated action and no "
        "earlier decisive error.",
        "a 4-round consensus task stops at max_steps 3.",
    ),
    # -- platform ---------------------------------------------------------------------
    Category(
        "model_failure",
        "platform",
        "A model call failed for good (network, HTTP status, retries exhausted, an "
        "unparsable reply), or an injected fault hit the model boundary.",
        "A `model_request` whose `model_response` events all carry an error; or "
        "`episode_end` with a ModelError; or an unrecovered `fault` under a "
        "`model_request` (or targeting a model).",
        "three attempts answered HTTP 503; the episode ends with ModelError.",
    ),
    Category(
        "tool_failure",
        "platform",
        "A tool or its server failed (timeout, connection, unavailable, 5xx), not the "
        "agent's arguments, and the call was never made good.",
        "A tool error whose text names a timeout, a connection failure, an unavailable "
        "service, a 5xx status or a rate limit, or an unrecovered `fault` under a "
        "`tool_call` (or targeting a tool); unrecovered as for tool_misuse.",
        "fault `timeout` on lookup at seq 9; no later lookup succeeds.",
    ),
    Category(
        "memory_failure",
        "platform",
        "A memory read or write was corrupted or lost by the platform.",
        "An unrecovered `fault` under a `memory_read`/`memory_write` (or targeting a memory).",
        "fault `stale` on memory notes: the read returns an old value.",
    ),
    Category(
        "communication_failure",
        "platform",
        "A message between agents was dropped, delayed or altered in transit.",
        "An unrecovered `fault` under a `message` (or targeting a message channel).",
        "fault `drop` on the message to agent/q2_solver.",
    ),
    Category(
        "env_failure",
        "platform",
        "The environment failed: it raised in reset, step or score, or an injected fault hit it.",
        "`episode_end` with reason error raised in the environment (its traceback ends "
        "in `palaestra/envs/` or an env's step/reset, or `score() failed`), or an "
        "unrecovered `fault` under an observation, action or env_step (or targeting "
        "the env).",
        "the env server went away: `HttpEnvironment.step` raises ConnectError.",
    ),
    # -- no evidence ------------------------------------------------------------------
    Category(
        "unexplained",
        "unknown",
        "The episode failed and the log shows no evidence of why.",
        "A failed episode with no action and no other finding; the decisive event is "
        "`episode_end`.",
        "the environment terminated at reset with a failing score.",
    ),
)
"""Every category, in report order (agent, workflow, platform, unknown)."""

CATEGORIES: dict[str, Category] = {c.name: c for c in TAXONOMY}
"""Categories by name."""


def level_of(category: str) -> Level:
    """The level of a category name (`KeyError` for an unknown one)."""
    return CATEGORIES[category].level
