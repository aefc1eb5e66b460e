#!/usr/bin/env bash
# GRPO with verl on palaestra rollouts (multi-GPU, vLLM). Needs a GPU machine with verl
# installed (pip install verl vllm; see verl's docs) and palaestra[train] in the same env.
#
#   MODEL=/path/to/hf/model NGPUS=8 bash examples/train/verl/run_verl.sh
#
# 1. the dataset: one row per task instance of the experiment (agent_name=palaestra_agent)
# 2. verl's PPO trainer in GRPO mode; rollouts go through the agent loop of
#    palaestra.train._verl (one palaestra episode per sample, recorded in runs/verl.db)
set -euo pipefail
HERE=examples/train/verl
MODEL=${MODEL:?set MODEL to a Hugging Face model directory, e.g. SmolLM2-135M-Instruct}
NGPUS=${NGPUS:-1}
DATA=${DATA:-runs/verl-data}

python - <<PY
from palaestra.train._verl import write_verl_dataset
write_verl_dataset("$HERE/experiment.yaml", "$DATA/train.parquet")
write_verl_dataset("$HERE/experiment.yaml", "$DATA/val.parquet")
PY

python -m verl.trainer.main_ppo \
  algorithm.adv_estimator=grpo \
  data.train_files="$DATA/train.parquet" \
  data.val_files="$DATA/val.parquet" \
  data.train_batch_size=32 \
  data.max_prompt_length=1024 \
  data.max_response_length=512 \
  data.return_raw_chat=True \
  actor_rollout_ref.model.path="$MODEL" \
  actor_rollout_ref.actor.optim.lr=1e-6 \
  actor_rollout_ref.actor.ppo_mini_batch_size=16 \
  actor_rollout_ref.actor.use_kl_loss=False \
  actor_rollout_ref.rollout.name=vllm \
  actor_rollout_ref.rollout.mode=async \
  actor_rollout_ref.rollout.n=8 \
  actor_rollout_ref.rollout.calculate_log_probs=True \
  actor_rollout_ref.rollout.agent.agent_loop_config_path="$HERE/agent_loop.yml" \
  actor_rollout_ref.rollout.agent.num_workers=4 \
  trainer.n_gpus_per_node="$NGPUS" \
  trainer.nnodes=1 \
  trainer.total_training_steps=100 \
  trainer.logger='[console]' \
  "$@"
