"""Environments: the protocol, the registry, the checker and the built-in suites."""

from palaestra.envs._checker import EnvCheckError, EnvCheckReport, check_env, check_env_sync
from palaestra.envs._protocol import (
    Environment,
    Score,
    Step,
    SupportsDrainEvents,
    SupportsEndEpisode,
    is_reusable,
)
from palaestra.envs._registry import (
    ENVIRONMENTS,
    EnvSpec,
    get_spec,
    make,
    register,
    registered,
)
from palaestra.envs._reuse_checker import ReuseCheckReport, check_reuse, check_reuse_sync

__all__ = [
    "ENVIRONMENTS",
    "EnvCheckError",
    "EnvCheckReport",
    "EnvSpec",
    "Environment",
    "ReuseCheckReport",
    "Score",
    "Step",
    "SupportsDrainEvents",
    "SupportsEndEpisode",
    "check_env",
    "check_env_sync",
    "check_reuse",
    "check_reuse_sync",
    "get_spec",
    "is_reusable",
    "make",
    "register",
    "registered",
]
