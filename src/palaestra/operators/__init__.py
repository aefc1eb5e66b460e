"""Operators: anything that decides — `async act(observation, ctx) -> Action`.

Operators that keep per-episode state implement `fork()`, returning a fresh copy; the
runner calls it once per (episode, agent). `describe()` gives a one-line label for the log.
"""

from palaestra.core import Context, Operator
from palaestra.operators._llm import DEFAULT_SYSTEM_PROMPT, LLMOperator
from palaestra.operators._recording import RecordedModel, call_model, call_tool
from palaestra.operators._simple import (
    FunctionOperator,
    HumanOperator,
    ScriptedOperator,
)

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "Context",
    "FunctionOperator",
    "HumanOperator",
    "LLMOperator",
    "Operator",
    "RecordedModel",
    "ScriptedOperator",
    "call_model",
    "call_tool",
]
