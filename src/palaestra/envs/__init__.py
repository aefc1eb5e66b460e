"""Environments: the protocol, the registry, the checker and the built-in suites."""

from palaestra.envs._checker import EnvCheckError, EnvCheckReport, check_env, check_env_sync
from palaestra.envs._protocol import Environment, Score, Step
from palaestra.envs._registry import (
    ENVIRONMENTS,
    EnvSpec,
    get_spec,
    make,
    register,
    registered,
)

__all__ = [
    "ENVIRONMENTS",
    "EnvCheckError",
    "EnvCheckReport",
    "EnvSpec",
    "Environment",
    "Score",
    "Step",
    "check_env",
    "check_env_sync",
    "get_spec",
    "make",
    "register",
    "registered",
]
