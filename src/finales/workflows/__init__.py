"""Workflows: one request broken into sub-requests for other tenants, answered when they are.

A workflow file (YAML, ``finales.workflows.model``) names the capability it serves, its steps
(capability, parameters computed with sandboxed Jinja2 expressions, ``for_each`` fan-out,
``needs`` forming a DAG, timeouts, retries with backoff, what a failure does) and how the
final result is assembled. ``finales workflow validate`` checks a file; ``finales workflow
run`` runs the orchestrator (``Orchestrator``, a tenant on ``finales.tenant``); ``finales
workflow show`` draws a parent request's live tree.

All state lives in the broker: the parent's tree of sub-requests, found again through their
labels. This package talks to the broker only through ``finales.client`` and
``finales.tenant``; it needs the workflows extra (jinja2, pyyaml).
"""

from finales.workflows.check import (
    Catalogue,
    CompiledWorkflow,
    builtin_catalogue,
    check_capabilities,
    compile_workflow,
)
from finales.workflows.engine import Orchestrator, WorkflowRun, idempotency_key
from finales.workflows.model import Problem, Workflow, WorkflowInvalid, load, parse, read_yaml

__all__ = [
    "Catalogue",
    "CompiledWorkflow",
    "Orchestrator",
    "Problem",
    "Workflow",
    "WorkflowInvalid",
    "WorkflowRun",
    "builtin_catalogue",
    "check_capabilities",
    "compile_workflow",
    "idempotency_key",
    "load",
    "parse",
    "read_yaml",
]
