"""Turns and token segments: the unit of training data and how turns are joined.

A `Turn` is one model call of an agent as the log recorded it. `join_segments` builds
token sequences from the recorded ids only — history is never re-tokenised: a turn
whose `prompt_token_ids` start with the whole current segment continues it (the new
prompt tokens with loss mask 0, then the generated tokens with mask 1); any other turn
starts a new segment (its whole prompt with mask 0, its generated tokens with mask 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from palaestra.core import Message, ToolSpec


@dataclass(frozen=True)
class Turn:
    """One model turn of an agent: a request and its successful response."""

    index: int
    """Position in the agent's trajectory (0, 1, ...)."""
    step: int
    """Environment step during which the turn happened."""
    request_seq: int
    """Seq of the `model_request` event."""
    response_seq: int
    """Seq of the successful `model_response` event."""
    messages: list[Message]
    """The prompt as chat messages."""
    tools: list[ToolSpec]
    """Tools offered to the model with the prompt."""
    response: Message
    """The assistant message the model returned."""
    prompt_token_ids: list[int] | None = None
    """Token ids of the prompt as the policy saw it, where recorded."""
    token_ids: list[int] | None = None
    """Token ids the policy generated, where recorded."""
    logprobs: list[float] | None = None
    """Log-probability of each generated token under the sampling policy, where recorded."""
    finish_reason: str | None = None
    model: str = ""
    """Model spec as configured (from the request)."""
    observation_key: str = ""
    """Hash of the observation the agent acted on at this step (same key = same state;
    the anchor states of GiGPO's step groups); empty when there was none."""

    @property
    def has_tokens(self) -> bool:
        """Whether the turn can be trained on at the token level (prompt and generated
        ids both recorded); False for text-level data from an API model."""
        return self.prompt_token_ids is not None and self.token_ids is not None


@dataclass(frozen=True)
class Segment:
    """One training sequence: consecutive turns whose token ids continue each other."""

    turns: tuple[int, ...]
    """Indices (into `Trajectory.turns`) of the turns joined in this sequence."""
    input_ids: list[int]
    """The whole sequence: prompt pieces and generated pieces."""
    loss_mask: list[int]
    """1 on generated tokens, 0 on prompt tokens; aligned with `input_ids`."""
    spans: tuple[tuple[int, int], ...]
    """For each turn of `turns`, `[start, end)` of its generated tokens in `input_ids`."""
    logprobs: list[float] | None = None
    """Sampling log-probabilities aligned with `input_ids` (0.0 where the mask is 0);
    None when a turn of the segment did not record them."""

    def __len__(self) -> int:
        return len(self.input_ids)


def join_segments(turns: Sequence[Turn], *, join: bool = True) -> list[Segment]:
    """Token sequences from turns with recorded ids, joined as the module doc says
    (`join=False`: one segment per turn). Turns without ids are skipped."""
    segments: list[Segment] = []
    ids: list[int] = []
    mask: list[int] = []
    logps: list[float] | None = []
    members: list[int] = []
    spans: list[tuple[int, int]] = []

    def close() -> None:
        if members:
            segments.append(Segment(tuple(members), ids, mask, tuple(spans), logps))

    for turn in turns:
        if turn.prompt_token_ids is None or turn.token_ids is None:
            continue
        generated = turn.token_ids
        if turn.logprobs is not None and len(turn.logprobs) != len(generated):
            raise ValueError(
                f"turn {turn.index} (seq {turn.response_seq}): {len(turn.logprobs)} "
                f"logprobs for {len(generated)} token ids; expected one per token"
            )
        prompt = turn.prompt_token_ids
        continues = join and members and len(prompt) >= len(ids) and prompt[: len(ids)] == ids
        if not continues:
            close()
            ids, mask, logps, members, spans = [], [], [], [], []
        new_prompt = prompt[len(ids) :]
        ids.extend(new_prompt)  # lists are fresh per segment: extended in place
        mask.extend([0] * len(new_prompt))
        start = len(ids)
        ids.extend(generated)
        mask.extend([1] * len(generated))
        if logps is not None and turn.logprobs is not None:
            logps.extend([0.0] * len(new_prompt))
            logps.extend(turn.logprobs)
        else:
            logps = None
        members.append(turn.index)
        spans.append((start, len(ids)))
    close()
    return segments
