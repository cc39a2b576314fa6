"""People in the loop: a person serves a capability from a terminal (``finales chat``).

A person's tenant file (YAML) lists the tenant's offers and, per offer, how a task reads
(a Jinja2 template over the request's parameters) and how the answers ``done [note]`` and
``failed REASON`` become result data. ``Chat`` is an ordinary tenant on the tenant runtime
whose handler asks the person. Tenant side only: it talks to the broker through the SDK.
Needs the workflows extra (jinja2, pyyaml).
"""

from finales.people.chat import Chat, ChatClient
from finales.people.taskfile import AnswerError, TaskFile, TaskFileError, load_task_file

__all__ = ["AnswerError", "Chat", "ChatClient", "TaskFile", "TaskFileError", "load_task_file"]
