"""What changed, as the services report it to their unit of work; published after commit
to whoever waits (long-polls in this process and, on PostgreSQL, in the others)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finales.domain.views import RequestView


@dataclass(frozen=True, slots=True)
class RequestClaimable:
    """A request became claimable (posted, released, its lease expired): it wakes the work
    long-polls whose offers cover it."""

    request_id: str
    quantity: str
    methods: Sequence[str]
    parameters: Mapping[str, Any]

    @classmethod
    def of(cls, view: RequestView) -> RequestClaimable:
        return cls(view.id, view.quantity, view.methods, view.parameters)


@dataclass(frozen=True, slots=True)
class RequestChanged:
    """A request's status or results changed (resolved, retracted): it wakes the polls
    waiting for its results."""

    request_id: str


@dataclass(frozen=True, slots=True)
class CatalogueChanged:
    """Offers or capabilities changed: every waiting poll re-reads what it serves."""


@dataclass(frozen=True, slots=True)
class CredentialsChanged:
    """A key was revoked, a user disabled, re-enabled, given another role or password, or its
    tokens ended: every server process forgets the principals it has cached."""


Change = RequestClaimable | RequestChanged | CatalogueChanged | CredentialsChanged
