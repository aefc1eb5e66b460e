"""Hand-built trajectories for the filter and batch tests."""

from __future__ import annotations

from palaestra.core import Message
from palaestra.train import GroupKey, Trajectory, Turn
from palaestra.train._trajectory import join_segments


def turn(index: int, step: int, *, text: str = "ok", obs: str = "", tokens: bool = True) -> Turn:
    prompt = [100 + index] if tokens else None
    return Turn(
        index=index,
        step=step,
        request_seq=2 * index,
        response_seq=2 * index + 1,
        messages=[Message(role="user", content=f"obs {step}")],
        tools=[],
        response=Message(role="assistant", content=text),
        prompt_token_ids=prompt,
        token_ids=[index, index] if tokens else None,
        logprobs=[-1.0, -1.0] if tokens else None,
        observation_key=obs,
    )


def traj(
    reward: float | None,
    *,
    epoch: int = 0,
    task: str = "t0",
    agent: str = "a",
    turns: int = 1,
    steps: list[int] | None = None,
    step_rewards: list[float] | None = None,
    obs: list[str] | None = None,
    success: bool | None = None,
    failure: bool = False,
    tool_calls: int = 0,
    tool_errors: int = 0,
    answers: int = 1,
    unclosed: bool = False,
    job: str = "j",
) -> Trajectory:
    steps = steps if steps is not None else list(range(turns))
    built = [turn(i, s, obs=(obs[i] if obs else "")) for i, s in enumerate(steps)]
    n_steps = max(steps, default=-1) + 1
    return Trajectory(
        run_id="r",
        episode_id=f"{job}/{task}/0/{epoch}",
        key=GroupKey(job, task, 0, epoch, agent),
        env="test",
        turns=built,
        segments=join_segments(built, join=False),
        reward=reward,
        success=success if success is not None else (None if reward is None else reward > 0),
        step_rewards=step_rewards if step_rewards is not None else [0.0] * n_steps,
        steps=n_steps,
        end_reason="error" if failure else "done",
        env_failure=failure,
        tool_calls=tool_calls,
        tool_errors=tool_errors,
        answers=answers,
        answer_unclosed=unclosed,
    )
