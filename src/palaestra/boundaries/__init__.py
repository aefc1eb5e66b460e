"""Boundaries: wrappers around a model, tool or memory with the same interface
(recording, limits, retries, caching, faults, governance), and the shared memory that
agents of a system read and write."""

from palaestra.boundaries._admission import (
    Admission,
    AdmissionPolicy,
    AdmitAll,
    AdmitIfNew,
    AdmitIfVerified,
    MaxEntries,
    MemoryEntry,
)
from palaestra.boundaries._faults import (
    FAULTS_AT,
    FaultError,
    FaultParams,
    FaultPlan,
    FaultRule,
)
from palaestra.boundaries._faulty import FaultyMemory, FaultyModel, FaultyTool
from palaestra.boundaries._governance import (
    Decision,
    GovernanceRequest,
    GovernanceVerdict,
    Governor,
)
from palaestra.boundaries._governed import Governed, GovernedTool
from palaestra.boundaries._limit import LimitedModel, Limiter
from palaestra.boundaries._memory import Memory, SharedMemory, WithMemory, memory_tools
from palaestra.boundaries._policy import (
    ArgumentConstraint,
    Capability,
    Policy,
    RateLimit,
    RewriteOp,
    Rule,
    SpendLimit,
)

__all__ = [
    "FAULTS_AT",
    "Admission",
    "AdmissionPolicy",
    "AdmitAll",
    "AdmitIfNew",
    "AdmitIfVerified",
    "ArgumentConstraint",
    "Capability",
    "Decision",
    "FaultError",
    "FaultParams",
    "FaultPlan",
    "FaultRule",
    "FaultyMemory",
    "FaultyModel",
    "FaultyTool",
    "GovernanceRequest",
    "GovernanceVerdict",
    "Governed",
    "GovernedTool",
    "Governor",
    "LimitedModel",
    "Limiter",
    "MaxEntries",
    "Memory",
    "MemoryEntry",
    "Policy",
    "RateLimit",
    "RewriteOp",
    "Rule",
    "SharedMemory",
    "SpendLimit",
    "WithMemory",
    "memory_tools",
]
