"""Offer coverage: which methods of a request a tenant's offers serve, within their
limitations. One rule for the hand-out, the claim check and the long-poll wake-ups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from finales.domain.limitations import matches
from finales.domain.views import OfferView


def covered_methods(
    offers: Iterable[OfferView],
    *,
    quantity: str,
    methods: Sequence[str],
    parameters: Mapping[str, Any],
) -> list[str]:
    """The methods of a request (in the requester's order) that one of ``offers`` serves
    with limitations its parameter block for that method falls inside."""
    offers = list(offers)
    out = []
    for method in methods:
        for offer in offers:
            if offer.quantity != quantity or offer.method != method:
                continue
            if matches(parameters.get(method, {}), offer.limitations):
                out.append(method)
                break
    return out
