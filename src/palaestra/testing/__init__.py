"""Test doubles shipped with palaestra, for its own tests and for users' tests and
benchmarks: `ChatServer`, a real, scriptable OpenAI-compatible chat-completions server,
and `LlamaServer`, llama-cpp-python's own server running the embedded model; and the
checks of an environment: `check_env` (the contract) and `check_reuse` (no state
leaking between episodes on a reused instance)."""

from palaestra.envs import (
    EnvCheckError,
    EnvCheckReport,
    ReuseCheckReport,
    check_env,
    check_env_sync,
    check_reuse,
    check_reuse_sync,
)
from palaestra.testing._chat_server import ChatServer, RecordedRequest
from palaestra.testing._llama_server import LlamaServer
from palaestra.testing._replies import Fault, Reply, tool_call

__all__ = [
    "ChatServer",
    "EnvCheckError",
    "EnvCheckReport",
    "Fault",
    "LlamaServer",
    "RecordedRequest",
    "Reply",
    "ReuseCheckReport",
    "check_env",
    "check_env_sync",
    "check_reuse",
    "check_reuse_sync",
    "tool_call",
]
