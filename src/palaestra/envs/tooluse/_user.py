"""The scripted customer: a deterministic stand-in for tau-bench's LLM user simulator.

It opens with the task's instruction, then answers each text reply of the agent by the
first rule that applies:

1. The agent has called at least one tool and its reply asks nothing (no `?`) or asks
   whether there is "anything else": the customer thanks it and stops (`###STOP###`).
2. This is the agent's `patience`-th reply: the customer gives up and stops.
3. The reply asks something (contains `?`): the customer confirms ("Yes, please go
   ahead.") and repeats its request, which holds every detail it knows, so the answer
   to a question about its email, order or address is in there too.
4. Otherwise (a statement before any tool call): the customer repeats its request.

So an agent that asks for confirmation before a consequential action gets a "yes", and an
agent that reports the outcome ends the conversation.

`user_prompt` is the other customer: the instructions given to an agent (an LLM) that
plays the customer when the environment runs with `user="agent"`.
"""

from __future__ import annotations

from dataclasses import dataclass

STOP = "###STOP###"
"""Marker of the customer's last message (as in tau-bench)."""


@dataclass(frozen=True)
class UserTurn:
    """The customer's answer to one reply of the agent."""

    text: str
    """What the customer says (ends with `STOP` when it leaves)."""
    stop: bool
    """The customer ended the conversation."""


class ScriptedUser:
    """A customer who states `instruction` and follows the rules of the module docstring."""

    def __init__(self, instruction: str, *, patience: int = 5) -> None:
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        self.instruction = instruction
        self.patience = patience
        self.replies = 0
        """How many replies of the agent the customer has answered."""

    def opening(self) -> str:
        """The customer's first message."""
        return self.instruction

    def respond(self, reply: str, *, agent_has_acted: bool) -> UserTurn:
        """Answer one text reply; `agent_has_acted` is whether any tool was called yet."""
        self.replies += 1
        asks = "?" in reply
        if agent_has_acted and (not asks or "anything else" in reply.lower()):
            return UserTurn(f"Thank you, that's all I needed. {STOP}", stop=True)
        if self.replies >= self.patience:
            return UserTurn(f"Sorry, I have to go now. {STOP}", stop=True)
        if asks:
            return UserTurn(
                f"Yes, please go ahead. To repeat what I need: {self.instruction}", stop=False
            )
        return UserTurn(f"Could you please help me with this? {self.instruction}", stop=False)


GREETING = "Hi! How can I help you today?"
"""What the agent says first, as the customer (agent `user`) sees it."""


def user_prompt(instruction: str) -> str:
    """The system prompt of a customer played by an agent (an LLM): tau-bench's
    user-simulator instructions, in our words, around the task's instruction."""
    return (
        "You are a customer writing to the customer service of a company, in a chat. You "
        "play the customer, not an assistant: the other side is the company's agent.\n\n"
        f"# Your situation and request\n\n{instruction}\n\n"
        "# Rules\n\n"
        "- Write one short message per turn, in the first person, as this customer would.\n"
        "- Give the details above (ids, names, dates, payment methods) only when the agent "
        "needs them or asks for them; do not recite the whole request at once.\n"
        "- Never invent a detail that is not above: if asked for one, say you do not have "
        "it.\n"
        '- Confirm ("yes") an action the agent proposes if it matches your request; '
        "decline one that does not.\n"
        "- When your request is done, or the agent says it cannot be done, or you are "
        f"transferred to a human agent, end your message with {STOP}. Until then, never "
        f"write {STOP}."
    )
