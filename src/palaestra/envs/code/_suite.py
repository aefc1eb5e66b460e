"""Registration of `code.python`."""

from __future__ import annotations

from palaestra.envs._registry import EnvSpec, register
from palaestra.envs.code._baseline import code_baseline
from palaestra.envs.code._env import CodeEnv, CodeParams

register(
    EnvSpec(
        id="code.python",
        factory=CodeEnv,
        params=CodeParams,
        description=(
            "rStar2-Agent-style Python coding: generated arithmetic and algorithmic tasks "
            "(25 families), a run_python tool executed in the bubblewrap sandbox "
            "(palaestra.sandbox: no network, no host files, CPU, memory, process, disk, "
            "output and wall-clock limits; a workspace kept for the episode) and a submit "
            "tool; score = fraction of hidden tests passed, run in a fresh sandbox."
        ),
        baseline=code_baseline,
    )
)
