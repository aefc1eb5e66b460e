"""Configuration: experiments, jobs, operators, systems (topologies) and Shapley
studies as validated data, the YAML loader whose errors name the file and line, the
registries of config-backed kinds (`OPERATORS`, `TOPOLOGIES`), and the one rule by which
a job's settings override the experiment's (`job_setting`).

Nothing here runs anything: the engine (`palaestra.runtime`) builds a run from this.
"""

from palaestra.config._experiment import (
    BaselineOperatorConfig,
    Concurrency,
    Experiment,
    ExtensionSpec,
    HumanOperatorConfig,
    Job,
    Limits,
    LLMOperatorConfig,
    ModelConfig,
    OperatorConfig,
    PythonOperatorConfig,
    ScriptedOperatorConfig,
    ScriptedReply,
    ScriptedToolCall,
    check_agent_names,
    check_episode_count,
    load_experiment,
)
from palaestra.config._files import load_contracts_file, load_fault_plan, load_rubric_file
from palaestra.config._kinds import ConfigKind, kind_registry
from palaestra.config._operator_kinds import (
    OPERATORS,
    OperatorBuild,
    OperatorKind,
    RunModels,
    operator_kinds,
    register_operator_kind,
)
from palaestra.config._resolve import contract_name, job_setting, merge_named, scorer_name
from palaestra.config._shapley_config import ShapleyConfig, ShapleyModule, set_path
from palaestra.config._systems_build import build_system, is_system, iter_configs
from palaestra.config._systems_build import resolve as resolve_system
from palaestra.config._systems_config import (
    CentralizedSystemConfig,
    DecentralizedSystemConfig,
    HybridSystemConfig,
    IndependentSystemConfig,
    PipelineStageConfig,
    PipelineSystemConfig,
    RecursiveSystemConfig,
    SingleSystemConfig,
    SystemConfig,
    SystemRefConfig,
)
from palaestra.config._topologies import (
    TOPOLOGIES,
    Members,
    SystemBase,
    Topology,
    register_topology,
)
from palaestra.config._yaml import format_validation_error, load_yaml_file, validate_file

__all__ = [
    "OPERATORS",
    "TOPOLOGIES",
    "BaselineOperatorConfig",
    "CentralizedSystemConfig",
    "Concurrency",
    "ConfigKind",
    "DecentralizedSystemConfig",
    "Experiment",
    "ExtensionSpec",
    "HumanOperatorConfig",
    "HybridSystemConfig",
    "IndependentSystemConfig",
    "Job",
    "LLMOperatorConfig",
    "Limits",
    "Members",
    "ModelConfig",
    "OperatorBuild",
    "OperatorConfig",
    "OperatorKind",
    "PipelineStageConfig",
    "PipelineSystemConfig",
    "PythonOperatorConfig",
    "RecursiveSystemConfig",
    "RunModels",
    "ScriptedOperatorConfig",
    "ScriptedReply",
    "ScriptedToolCall",
    "ShapleyConfig",
    "ShapleyModule",
    "SingleSystemConfig",
    "SystemBase",
    "SystemConfig",
    "SystemRefConfig",
    "Topology",
    "build_system",
    "check_agent_names",
    "check_episode_count",
    "contract_name",
    "format_validation_error",
    "is_system",
    "iter_configs",
    "job_setting",
    "kind_registry",
    "load_contracts_file",
    "load_experiment",
    "load_fault_plan",
    "load_rubric_file",
    "load_yaml_file",
    "merge_named",
    "operator_kinds",
    "register_operator_kind",
    "register_topology",
    "resolve_system",
    "scorer_name",
    "set_path",
    "validate_file",
]
