"""Controlled multi-agent tasks (MASBench-style): generated tasks whose structure varies
along five independent axes, with exact answers, so that a single agent and multi-agent
topologies can be compared axis by axis.

Importing this package registers ``mas.controlled`` (params: ``depth``, ``horizon``,
``breadth``, ``parallel``, ``robustness`` — each a value or a list, their product is the
task grid — ``instances``, ``agents``, ``extra_turns``) with its exact baseline
`ChainSolver`. A task id is ``d{depth}-h{horizon}-b{breadth}-p{parallel}-r{robustness}-s{seed}``.

A task is ``breadth`` sub-problems, each a chain of ``depth`` arithmetic steps on a
running whole number; every step uses the value of a key the agent looks up. The axes:

======================  =========================================================
depth d                 sequential steps per sub-problem
horizon h               turns over which the steps are revealed (the last at h-1)
breadth b               sub-problems, one answer each
parallel p              independent chains: Q(i) > p starts from Q(i-p)'s answer
robustness r            share of keys with a misleading, unverified record
======================  =========================================================

MASBench (Ke et al. 2026, "MAS-Orchestra", arXiv:2601.14652; data set Salesforce/MASBench)
names the same five axes over a sub-task dependency graph: depth = longest dependency
chain, horizon = number of intermediate sub-task answers needed, breadth = maximum
in-degree, parallel = number of independent components, robustness = number of attacked
sub-tasks. Our issue defines them for an interactive environment instead (as above); the
MASBench quantities are still measured on every task by `measure` (``longest_chain``,
``components``, ``max_in_degree``, ``attacked``...). See `_task` for the generator and
how its randomness is split so that each axis changes only its own structure, and `_env`
for the episode protocol.
"""

from palaestra.envs._registry import EnvSpec, register
from palaestra.envs.mas._baselines import ChainSolver, NaiveSolver, solver_baseline
from palaestra.envs.mas._env import AGENT, ControlledEnv, ControlledParams
from palaestra.envs.mas._render import ANSWER
from palaestra.envs.mas._structure import Structure, measure
from palaestra.envs.mas._task import (
    Axes,
    ChainStep,
    MasTask,
    Record,
    SubProblem,
    generate,
    solve,
)

register(
    EnvSpec(
        id="mas.controlled",
        factory=ControlledEnv,
        params=ControlledParams,
        description=(
            "MASBench-style controlled tasks: breadth sub-problems, each a chain of depth "
            "arithmetic steps whose key values are looked up, revealed over horizon turns, "
            "in parallel independent chains, with a robustness share of misleading "
            "records; one or several agents; score = share of exact sub-answers."
        ),
        baseline=solver_baseline,
    )
)

__all__ = [
    "AGENT",
    "ANSWER",
    "Axes",
    "ChainSolver",
    "ChainStep",
    "ControlledEnv",
    "ControlledParams",
    "MasTask",
    "NaiveSolver",
    "Record",
    "Structure",
    "SubProblem",
    "generate",
    "measure",
    "solve",
    "solver_baseline",
]
