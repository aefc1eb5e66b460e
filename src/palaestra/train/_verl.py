"""verl integration: palaestra episodes as verl agent loops (multi-GPU RL with vLLM).

verl's agent loop (`verl.experimental.agent_loop`) runs one `AgentLoopBase.run(
sampling_params, **dataset_fields)` per sample and expects an `AgentLoopOutput`:
`prompt_ids`, `response_ids` (generated tokens and the environment's tokens between
them), `response_mask` (1 on generated tokens), optional `response_logprobs`, and
`reward_score`. `PalaestraAgentLoop` implements it with an ordinary palaestra episode:

1. the dataset row names a task instance (`extra_info.palaestra = {job, task, seed}`,
   written by `verl_rows`);
2. the episode runs the experiment's environment and operators, the trained agent's
   model being `VerlServerModel`: each model call renders the conversation with
   `PromptTokens` (the previous turns' exact ids + the new messages) and asks verl's
   vLLM servers for tokens (`server_manager.generate(request_id, prompt_ids=...,
   sampling_params=...)`, token in, token out: nothing is re-tokenised);
3. the episode is recorded in the store like any run; its trajectory becomes the output
   (`verl_output`), the reward being the environment's verified score.

verl then computes advantages with its own estimator (`algorithm.adv_estimator`: grpo,
rloo, ... — the formulas of `palaestra.train`, grouped by the dataset row's `uid`) and
updates the policy with FSDP/Megatron. docs/training.md has the config and the launch
command; `examples/train/verl/` a working example.

verl is not a dependency of palaestra: `PalaestraAgentLoop` is built on first access (a
module attribute), and the rest of this module imports without it.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from palaestra.core import Usage, UserError, atomic_path
from palaestra.models import ModelRequest, ModelResponse, PromptTokens, reply_message
from palaestra.train._trajectory import Trajectory
from palaestra.train._trl import task_prompts, trajectory_row

AGENT_NAME = "palaestra_agent"
"""The name verl's dataset rows (`agent_name`) and agent-loop config use."""


class VerlServerModel:
    """A palaestra `Model` served by verl's rollout servers, token in, token out.

    `server_manager` is verl's `AsyncLLMServerManager` (its `generate(request_id, *,
    prompt_ids, sampling_params)` returns the generated ids, with `log_probs` in recent
    versions); `tokenizer` the policy's. One instance serves one episode (`request_id`
    keeps its turns on one server, for prefix caching).
    """

    def __init__(
        self,
        server_manager: Any,
        tokenizer: Any,
        *,
        sampling_params: dict[str, Any] | None = None,
        name: str = "verl:policy",
        max_context: int = 8192,
    ):
        self.server_manager = server_manager
        self.tokenizer = tokenizer
        self.prompts = PromptTokens(tokenizer)
        self.sampling_params = dict(sampling_params or {})
        self.request_id = uuid.uuid4().hex
        self._name = name
        self.max_context = max_context

    @property
    def name(self) -> str:
        return self._name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        prompt = self.prompts.prompt_ids(request)
        if len(prompt) >= self.max_context:
            from palaestra.core import ModelError

            raise ModelError(
                f"{self._name}: prompt of {len(prompt)} tokens fills the context of "
                f"{self.max_context}"
            )
        sampling = dict(self.sampling_params)
        if request.temperature is not None:
            sampling["temperature"] = request.temperature
        if request.max_tokens is not None:
            sampling["max_tokens"] = min(request.max_tokens, self.max_context - len(prompt))
        started = time.perf_counter()
        output = await self.server_manager.generate(
            self.request_id, prompt_ids=prompt, sampling_params=sampling
        )
        ids, logprobs = _token_output(output)
        text = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
        message = reply_message(text, request)
        self.prompts.record(request, message, prompt, ids)
        stopped = bool(ids) and ids[-1] == self.tokenizer.eos_token_id
        return ModelResponse(
            message=message,
            usage=Usage(input_tokens=len(prompt), output_tokens=len(ids)),
            finish_reason="stop" if stopped else "length",
            model=self._name,
            latency_s=time.perf_counter() - started,
            prompt_token_ids=prompt,
            token_ids=ids,
            logprobs=logprobs,
        )


def _token_output(output: Any) -> tuple[list[int], list[float] | None]:
    """Ids and log-probabilities from what a verl server returns: a `TokenOutput`
    (`token_ids`, `log_probs`) in recent verl, a plain list of ids in older ones."""
    if isinstance(output, list | tuple):
        return [int(i) for i in output], None
    ids = [int(i) for i in output.token_ids]
    logps = getattr(output, "log_probs", None)
    return ids, [float(x) for x in logps] if logps else None


def verl_output(
    trajectory: Trajectory,
    *,
    prompt_length: int,
    response_length: int,
    pad_id: int = 0,
) -> dict[str, Any]:
    """The fields of verl's `AgentLoopOutput` for one episode's trajectory (pure).

    The sequence is the trajectory's last token segment (`trajectory_row`: one sequence
    for the whole conversation when the policy continued its ids): `prompt_ids` up to
    the first generated token — its last `prompt_length` ids if longer —, then
    `response_ids` / `response_mask` / `response_logprobs` cut to `response_length`.
    `reward_score` is the environment's score (0.0 for a masked episode, whose mask is
    all 0: no loss). `extra_fields` carry the episode id, the success, and what was cut.
    """
    row = trajectory_row(trajectory, 0.0, trained=not trajectory.masked, pad_id=pad_id)
    prompt = row.prompt_ids[-prompt_length:]
    response = row.completion_ids[:response_length]
    mask = row.env_mask[:response_length]
    logprobs = row.logprobs[:response_length] if row.logprobs is not None else None
    return {
        "prompt_ids": prompt,
        "response_ids": response,
        "response_mask": mask,
        "response_logprobs": logprobs,
        "reward_score": float(trajectory.reward or 0.0) if not trajectory.masked else 0.0,
        "num_turns": 2 * len(trajectory.turns) + 1,
        "extra_fields": {
            "episode_id": trajectory.episode_id,
            "success": bool(trajectory.success),
            "masked": trajectory.masked,
            "prompt_cut": len(row.prompt_ids) - len(prompt),
            "response_cut": len(row.completion_ids) - len(response),
            "dropped_turns": row.dropped_turns,
        },
    }


def verl_rows(experiment: Any, *, data_source: str = "palaestra") -> list[dict[str, Any]]:
    """verl dataset rows (write them to Parquet for `data.train_files`), one per task
    instance: `prompt` (a chat message naming the instance; verl's dataset requires one,
    the episode builds the real prompts), `agent_name`, and `extra_info.palaestra`."""
    rows = []
    for index, prompt in enumerate(task_prompts(experiment)):
        rows.append(
            {
                "data_source": data_source,
                "agent_name": AGENT_NAME,
                "prompt": [{"role": "user", "content": prompt}],
                "extra_info": {"index": index, "palaestra": json.loads(prompt)},
            }
        )
    return rows


def write_verl_dataset(experiment: Any, path: str | Path) -> Path:
    """`verl_rows` as a Parquet file (needs pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(path)
    table = pa.Table.from_pylist(verl_rows(experiment))
    with atomic_path(out, make_parents=True) as tmp:
        pq.write_table(table, tmp)
    return out


async def run_palaestra_episode(
    experiment: Any,
    task: dict[str, Any],
    model: Any,
    *,
    store: Any,
    agent: str,
    run_prefix: str = "verl",
) -> Trajectory | None:
    """One palaestra episode of `task` ({job, task, seed}) with `model` as the policy
    (`models: {policy: ...}`), recorded in `store`; the trained agent's trajectory."""
    from palaestra.runtime import arun, load_experiment
    from palaestra.train._trajectory import trajectories

    exp = load_experiment(experiment)
    jobs = {str(job.label): job for job in exp.jobs}
    if task.get("job") not in jobs:
        raise UserError(f"verl row names job {task.get('job')!r}; jobs: {', '.join(jobs)}")
    job = jobs[task["job"]].model_copy(
        update={"tasks": [str(task["task"])], "seeds": [int(task["seed"])], "epochs": 1}
    )
    run_id = f"{run_prefix}-{uuid.uuid4().hex[:12]}"
    one = exp.model_copy(update={"jobs": [job], "seed": int(uuid.uuid4().int % 2**31)})
    await arun(one, run_id=run_id, store=store, models={"policy": model})
    found = trajectories(store, run_id, agents=[agent])
    return found[0] if found else None


def _agent_loop_class() -> type:
    from verl.experimental.agent_loop.agent_loop import (
        AgentLoopBase,
        AgentLoopMetrics,
        AgentLoopOutput,
        register,
    )

    @register(AGENT_NAME)
    class PalaestraAgentLoop(AgentLoopBase):
        """verl agent loop running one palaestra episode per sample (module doc).

        Options (keys of its entry in verl's agent-loop config file): `experiment`
        (YAML path), `store` (SQLite path; default `runs/verl.db`), `agent` (the trained
        agent, default `agent`).
        """

        @classmethod
        def init_class(cls, config: Any, tokenizer: Any, processor: Any, **kwargs: Any) -> None:
            if cls._class_initialized:
                return
            cls._class_initialized = True
            from palaestra.runtime import load_experiment
            from palaestra.store import Store

            if "experiment" not in kwargs:
                raise UserError("palaestra agent loop: set `experiment: PATH` in its config")
            cls.experiment = load_experiment(kwargs["experiment"])
            cls.store = Store(kwargs.get("store", "runs/verl.db"))
            cls.agent = kwargs.get("agent", "agent")
            rollout = config.actor_rollout_ref.rollout
            cls.prompt_length = int(rollout.prompt_length)
            cls.response_length = int(rollout.response_length)

        async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> Any:
            extra = kwargs.get("extra_info") or {}
            task = extra.get("palaestra") if isinstance(extra, dict) else None
            if not isinstance(task, dict):
                raise UserError("verl row without extra_info.palaestra; build it with verl_rows")
            model = VerlServerModel(
                self.server_manager,
                self.tokenizer,
                sampling_params=sampling_params,
                max_context=self.prompt_length + self.response_length,
            )
            started = time.perf_counter()
            trajectory = await run_palaestra_episode(
                self.experiment, task, model, store=self.store, agent=self.agent
            )
            if trajectory is None:
                raise UserError(
                    f"palaestra episode of {task} has no model turn of agent {self.agent!r}"
                )
            fields = verl_output(
                trajectory,
                prompt_length=self.prompt_length,
                response_length=self.response_length,
                pad_id=self.tokenizer.pad_token_id or 0,
            )
            metrics = AgentLoopMetrics(generate_sequences=time.perf_counter() - started)
            return AgentLoopOutput(**fields, metrics=metrics)

    return PalaestraAgentLoop


_LOOP: type | None = None


def __getattr__(name: str) -> Any:
    # `PalaestraAgentLoop` needs verl: built (and registered with verl) on first access,
    # which is what hydra's `_target_: palaestra.train._verl.PalaestraAgentLoop` does.
    global _LOOP
    if name == "PalaestraAgentLoop":
        if _LOOP is None:
            _LOOP = _agent_loop_class()
        return _LOOP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
