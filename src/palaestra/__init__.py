"""palaestra: run, check, evaluate and train LLM agents and multi-agent systems on
interactive environments, over one event log.

```python
import palaestra

result = palaestra.run("examples/demo.yaml")      # or an Experiment object
print(result.table())
```
"""

from typing import TYPE_CHECKING

from palaestra._lazy import lazy_exports

if TYPE_CHECKING:
    from palaestra.core import (
        Action,
        ConfigError,
        Context,
        Event,
        Message,
        Observation,
        Operator,
        PalaestraError,
        ToolCall,
        ToolSpec,
        Usage,
        UserError,
        episode_hash,
    )
    from palaestra.envs import Environment, EnvSpec, Score, Step, check_env, make, register
    from palaestra.models import Model, ModelRequest, ModelResponse
    from palaestra.operators import FunctionOperator, HumanOperator, LLMOperator, ScriptedOperator
    from palaestra.runtime import Experiment, Job, RunResult, arun, run
    from palaestra.store import Store
    from palaestra.tools import Tool, tool
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "palaestra.core": (
                "Action",
                "ConfigError",
                "Context",
                "Event",
                "Message",
                "Observation",
                "Operator",
                "PalaestraError",
                "ToolCall",
                "ToolSpec",
                "Usage",
                "UserError",
                "episode_hash",
            ),
            "palaestra.envs": (
                "Environment",
                "EnvSpec",
                "Score",
                "Step",
                "check_env",
                "make",
                "register",
            ),
            "palaestra.models": ("Model", "ModelRequest", "ModelResponse"),
            "palaestra.operators": (
                "FunctionOperator",
                "HumanOperator",
                "LLMOperator",
                "ScriptedOperator",
            ),
            "palaestra.runtime": ("Experiment", "Job", "RunResult", "arun", "run"),
            "palaestra.store": ("Store",),
            "palaestra.tools": ("Tool", "tool"),
        },
    )

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ConfigError",
    "Context",
    "EnvSpec",
    "Environment",
    "Event",
    "Experiment",
    "FunctionOperator",
    "HumanOperator",
    "Job",
    "LLMOperator",
    "Message",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "Observation",
    "Operator",
    "PalaestraError",
    "RunResult",
    "Score",
    "ScriptedOperator",
    "Step",
    "Store",
    "Tool",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "UserError",
    "__version__",
    "arun",
    "check_env",
    "episode_hash",
    "make",
    "register",
    "run",
    "tool",
]
