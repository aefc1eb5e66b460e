"""From trajectories to what a trainer consumes: per-turn advantages and a `Batch`.

`make_batch` is the one call a trainer makes after its rollouts: it masks environment
failures out, applies the filters (resample-on-correct, drop all-equal groups), runs the
chosen estimator (`EstimatorConfig`) group by group and returns a `Batch`. The batch holds
plain lists (token ids, loss masks, per-token advantages, sampling log-probabilities):
torch stays out of this part; a backend turns `Batch.samples()` into tensors.

Estimators (formulas in `palaestra.train._advantages` and docs/training.md):

- `grpo`: one value per trajectory; mean and sample std (+ ε) over the group;
- `dr_grpo`: the same without the std;
- `rloo`: one value per trajectory; baseline the mean of the group's other trajectories;
- `dr_mas`: one value per turn (invocation); statistics over every invocation of the
  same agent in the group;
- `gigpo`: per turn, `grpo` of the trajectory + w · the turn's step return normalised
  among the group's turns that saw the same observation;
- `chunk`: per chunk (the agent's turns in one env step), the chunk's return discounted
  from the end, centred (and scaled) by the group's reward statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from palaestra.core import Message, ToolSpec, UserError
from palaestra.train import _advantages as adv
from palaestra.train._filters import (
    DEFAULT_GROUP_BY,
    check_group_by,
    drop_masked,
    drop_uniform_groups,
    group_trajectories,
    resample_on_correct,
)
from palaestra.train._trajectory import REWARD_SOURCES, RewardSource, Trajectory

Estimator = Literal["grpo", "dr_grpo", "rloo", "dr_mas", "gigpo", "chunk"]
ESTIMATORS: tuple[str, ...] = get_args(Estimator)
"""Names of the advantage estimators."""


@dataclass(frozen=True)
class EstimatorConfig:
    """Which estimator, and its knobs (each used only by the estimators that say so)."""

    name: Estimator = "grpo"
    """One of `ESTIMATORS`."""
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    """Trajectory fields that form a group (default: job, task, seed — the G epochs of one
    task instance). Add `agent` for per-agent trajectory-level groups."""
    reward: RewardSource = "score"
    """R: the environment's score (`score`) or the agent's summed step rewards (`return`)."""
    eps: float = adv.DEFAULT_EPS
    """ε of the std normalisation (grpo, dr_mas, gigpo, chunk)."""
    unbiased: bool = True
    """Sample std (divisor n − 1, as verl's torch.std) or population std (False)."""
    gamma: float = 1.0
    """Discount of step and chunk returns (gigpo, chunk)."""
    step_weight: float = 1.0
    """w in A = A_episode + w · A_step (gigpo)."""
    scale: bool = True
    """Divide step-group (gigpo) and chunk advantages by the std (+ ε)."""
    outcome_in_returns: bool = True
    """Add the outcome R to the last step's reward before discounting (gigpo, chunk);
    False when the environment's step rewards already contain it."""

    def __post_init__(self) -> None:
        if self.name not in ESTIMATORS:
            raise UserError(
                f"unknown estimator {self.name!r}; valid choices: {', '.join(ESTIMATORS)}"
            )
        if self.reward not in REWARD_SOURCES:
            raise UserError(
                f"unknown reward source {self.reward!r}; valid choices: {', '.join(REWARD_SOURCES)}"
            )
        object.__setattr__(self, "group_by", check_group_by(self.group_by))
        if self.eps < 0:
            raise UserError(f"estimator eps must be >= 0, got {self.eps}")
        if not 0.0 <= self.gamma <= 1.0:
            raise UserError(f"estimator gamma must be in [0, 1], got {self.gamma}")


def _config(estimator: EstimatorConfig | str) -> EstimatorConfig:
    if isinstance(estimator, EstimatorConfig):
        return estimator
    if estimator not in ESTIMATORS:
        raise UserError(f"unknown estimator {estimator!r}; valid choices: {', '.join(ESTIMATORS)}")
    return EstimatorConfig(name=estimator)  # type: ignore[arg-type]


def _step_returns(t: Trajectory, config: EstimatorConfig) -> list[float]:
    rewards = list(t.step_rewards) or [0.0]
    if config.outcome_in_returns and config.reward == "score":
        rewards[-1] += t.value("score")
    return adv.discounted_returns(rewards, config.gamma)


def compute_advantages(
    trajectories: Sequence[Trajectory], estimator: EstimatorConfig | str = "grpo"
) -> list[list[float]]:
    """The advantage of every turn of every trajectory (one list per trajectory, aligned
    with its `turns`), groups formed by `estimator.group_by`. Masked trajectories must
    have been dropped first (`drop_masked`)."""
    config = _config(estimator)
    out: list[list[float]] = [[0.0] * len(t.turns) for t in trajectories]
    for members in group_trajectories(trajectories, config.group_by).values():
        group = [trajectories[i] for i in members]
        rewards = [t.value(config.reward) for t in group]
        name = config.name
        if name in ("grpo", "dr_grpo", "rloo", "gigpo"):
            if name == "dr_grpo":
                values = adv.dr_grpo(rewards)
            elif name == "rloo":
                values = adv.rloo(rewards)
            else:
                values = adv.grpo(rewards, eps=config.eps, unbiased=config.unbiased)
            for i, value in zip(members, values, strict=True):
                out[i] = [value] * len(trajectories[i].turns)
            if name == "gigpo":
                _add_step_advantages(trajectories, members, out, config)
        elif name == "dr_mas":
            flat_rewards = [r for t, r in zip(group, rewards, strict=True) for _ in t.turns]
            agents = [t.agent for t in group for _ in t.turns]
            values = adv.dr_mas(flat_rewards, agents, eps=config.eps, unbiased=config.unbiased)
            pos = 0
            for i in members:
                n = len(trajectories[i].turns)
                out[i] = values[pos : pos + n]
                pos += n
        else:  # chunk
            mean = sum(rewards) / len(rewards)
            std = adv.group_std(rewards, unbiased=config.unbiased) if config.scale else 0.0
            for i in members:
                t = trajectories[i]
                steps = list(dict.fromkeys(turn.step for turn in t.turns))
                chunk_rewards = [
                    t.step_rewards[s] if s < len(t.step_rewards) else 0.0 for s in steps
                ]
                outcome = t.value(config.reward) if config.outcome_in_returns else 0.0
                returns = adv.chunk_returns(chunk_rewards, outcome, config.gamma)
                by_step = {
                    s: (g - mean) / (std + config.eps) if config.scale else g - mean
                    for s, g in zip(steps, returns, strict=True)
                }
                out[i] = [by_step[turn.step] for turn in t.turns]
    return out


def _add_step_advantages(
    trajectories: Sequence[Trajectory],
    members: list[int],
    out: list[list[float]],
    config: EstimatorConfig,
) -> None:
    returns: list[float] = []
    keys: list[object] = []
    where: list[tuple[int, int]] = []
    for i in members:
        t = trajectories[i]
        step_returns = _step_returns(t, config)
        for turn in t.turns:
            g = step_returns[turn.step] if turn.step < len(step_returns) else 0.0
            returns.append(g)
            # turns with no recorded observation never share a step group
            keys.append(turn.observation_key or ("unique", i, turn.index))
            where.append((i, turn.index))
    values = adv.step_group_advantages(
        returns, keys, eps=config.eps, unbiased=config.unbiased, scale=config.scale
    )
    for (i, index), value in zip(where, values, strict=True):
        out[i][index] += config.step_weight * value


@dataclass(frozen=True)
class Sample:
    """One token sequence to train on: a trajectory's `Segment` with its advantages."""

    input_ids: list[int]
    loss_mask: list[int]
    """1 on the tokens the policy generated (the loss is taken there only)."""
    advantages: list[float]
    """Per token, aligned with `input_ids`: the advantage of the turn that generated the
    token, 0.0 where the mask is 0."""
    old_logprobs: list[float] | None
    """Sampling log-probabilities aligned with `input_ids` (0.0 where the mask is 0), for
    importance ratios; None if the policy did not record them."""
    trajectory: int
    """Index into `Batch.trajectories`."""
    turns: tuple[int, ...]
    """Indices of the trajectory's turns this sequence covers."""
    group: tuple[object, ...]
    """The trajectory's group key under the estimator's `group_by`."""


@dataclass(frozen=True)
class TextSample:
    """One turn at the text level (prompt messages, reply, advantage), for backends that
    tokenise themselves or turns of API models with no token ids."""

    messages: list[Message]
    tools: list[ToolSpec]
    response: Message
    advantage: float
    trajectory: int
    turn: int
    group: tuple[object, ...]


@dataclass
class Batch:
    """Trajectories kept for one training step, with the advantage of each of their turns."""

    trajectories: list[Trajectory]
    advantages: list[list[float]]
    """Per trajectory, per turn (aligned with `trajectories[i].turns`)."""
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    masked: int = 0
    """Trajectories left out as environment/platform failures (or with no reward)."""
    filtered: int = 0
    """Trajectories left out by the filters (all-equal groups, resample-on-correct)."""
    considered: int = 0
    """Trajectories handed to `make_batch`."""

    def groups(self) -> dict[tuple[object, ...], list[int]]:
        """Indices of the kept trajectories in each group."""
        return group_trajectories(self.trajectories, self.estimator.group_by)

    def samples(self) -> list[Sample]:
        """Every token segment of the kept trajectories with per-token advantages
        (turns without token ids are not in any; see `text_samples`)."""
        out: list[Sample] = []
        group_by = self.estimator.group_by
        for index, (t, values) in enumerate(zip(self.trajectories, self.advantages, strict=True)):
            key = tuple(getattr(t.key, f) for f in group_by)
            for segment in t.segments:
                per_token = [0.0] * len(segment.input_ids)
                for turn, (start, end) in zip(segment.turns, segment.spans, strict=True):
                    per_token[start:end] = [values[turn]] * (end - start)
                out.append(
                    Sample(
                        input_ids=segment.input_ids,
                        loss_mask=segment.loss_mask,
                        advantages=per_token,
                        old_logprobs=segment.logprobs,
                        trajectory=index,
                        turns=segment.turns,
                        group=key,
                    )
                )
        return out

    def text_samples(self, *, untokenised_only: bool = False) -> list[TextSample]:
        """Every turn of the kept trajectories at the text level (only those without token
        ids with `untokenised_only=True`)."""
        out: list[TextSample] = []
        group_by = self.estimator.group_by
        for index, (t, values) in enumerate(zip(self.trajectories, self.advantages, strict=True)):
            key = tuple(getattr(t.key, f) for f in group_by)
            for turn in t.turns:
                if untokenised_only and turn.has_tokens:
                    continue
                out.append(
                    TextSample(
                        turn.messages,
                        turn.tools,
                        turn.response,
                        values[turn.index],
                        index,
                        turn.index,
                        key,
                    )
                )
        return out

    def stats(self) -> dict[str, float]:
        """Numbers to log per training step."""
        kept = self.trajectories
        rewards = [t.value(self.estimator.reward) for t in kept]
        solved = [t.success for t in kept if t.success is not None]
        flat = [a for values in self.advantages for a in values]
        samples = self.samples()
        return {
            "trajectories": float(len(kept)),
            "considered": float(self.considered),
            "masked": float(self.masked),
            "filtered": float(self.filtered),
            "groups": float(len(self.groups())),
            "turns": float(sum(len(t.turns) for t in kept)),
            "reward_mean": sum(rewards) / len(rewards) if rewards else 0.0,
            "success_rate": sum(solved) / len(solved) if solved else 0.0,
            "advantage_abs_mean": sum(map(abs, flat)) / len(flat) if flat else 0.0,
            "tokens": float(sum(len(s.input_ids) for s in samples)),
            "generated_tokens": float(sum(sum(s.loss_mask) for s in samples)),
        }


def make_batch(
    trajectories: Sequence[Trajectory],
    estimator: EstimatorConfig | str = "grpo",
    *,
    drop_uniform: bool = True,
    resample_keep: int | None = None,
    resample: bool = False,
    seed: int = 0,
) -> Batch:
    """Mask, filter and estimate: the batch of one training step.

    1. drop environment/platform failures and trajectories with no reward (`drop_masked`);
    2. with `resample=True`, GRPO-RoC (`resample_on_correct`, keeping `resample_keep`
       rollouts per group, default half of it; seeded by `seed`);
    3. with `drop_uniform` (default), drop groups whose rewards are all equal;
    4. compute the advantages with `estimator` (a name or an `EstimatorConfig`).
    """
    config = _config(estimator)
    usable = drop_masked(trajectories, reward=config.reward)
    kept = usable
    if resample:
        kept = resample_on_correct(
            kept, group_by=config.group_by, keep=resample_keep, seed=seed, reward=config.reward
        )
    if drop_uniform:
        kept = drop_uniform_groups(kept, group_by=config.group_by, reward=config.reward)
    return Batch(
        trajectories=list(kept),
        advantages=compute_advantages(kept, config),
        estimator=config,
        masked=len(trajectories) - len(usable),
        filtered=len(usable) - len(kept),
        considered=len(trajectories),
    )
