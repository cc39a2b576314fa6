"""Offer coverage: which methods of a request a tenant's offers serve, within their
limitations. One rule for the hand-out, the claim check and the long-poll wake-ups.

Limitations are compiled (``finales.domain.limitations.Matcher``) once per offer: the
hand-out and the wake-ups match one offer set against many requests, so they keep the
``CompiledOffers`` (the services cache them per offer set, the notifier per group of waiters).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finales.domain.limitations import Matcher, compile_limitations
from finales.domain.views import OfferView

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CompiledOffer:
    """One offer with its compiled limitations and a digest of its content."""

    offer: OfferView
    matcher: Matcher
    digest: str

    @classmethod
    def of(cls, offer: OfferView) -> CompiledOffer:
        text = json.dumps(offer.as_dict(), sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()
        return cls(offer, compile_limitations(offer.limitations), digest)


class CompiledOffers(list[OfferView]):
    """A tenant's offers (a list, as the doors pass offers around) with their matchers.

    Built from ``CompiledOffer`` s, so selecting some offers of a cached set compiles nothing.
    The list is a read-only view: the matchers were compiled from its entries when it was made,
    so it must not be changed afterwards. ``fingerprint`` identifies the content (the same
    offers in any order have the same one): waiters with identical offers share one match.
    """

    def __init__(self, compiled: Iterable[CompiledOffer] = ()) -> None:
        items = tuple(compiled)
        super().__init__(c.offer for c in items)
        self.pairs: frozenset[Pair] = frozenset((c.offer.quantity, c.offer.method) for c in items)
        self._by_pair: dict[Pair, list[Matcher]] = {}
        for c in items:
            self._by_pair.setdefault((c.offer.quantity, c.offer.method), []).append(c.matcher)
        self.fingerprint = hashlib.sha256(
            "\n".join(sorted(c.digest for c in items)).encode()
        ).hexdigest()

    @classmethod
    def of(cls, offers: Iterable[OfferView]) -> CompiledOffers:
        """Compile ``offers`` (``offers`` itself when it is already compiled)."""
        if isinstance(offers, CompiledOffers):
            return offers
        return cls(CompiledOffer.of(o) for o in offers)

    def covered_methods(
        self, *, quantity: str, methods: Sequence[str], parameters: Mapping[str, Any]
    ) -> list[str]:
        """The methods of a request (in the requester's order) that one of the offers serves
        with limitations its parameter block for that method falls inside."""
        out = []
        for method in methods:
            for matcher in self._by_pair.get((quantity, method), ()):
                if matcher.matches(parameters.get(method, {})):
                    out.append(method)
                    break
        return out


def covered_methods(
    offers: Iterable[OfferView],
    *,
    quantity: str,
    methods: Sequence[str],
    parameters: Mapping[str, Any],
) -> list[str]:
    """``CompiledOffers.covered_methods`` for offers used once (a claim): compiles only the
    offers of the request's (quantity, method) pairs."""
    wanted = {(quantity, m) for m in methods}
    relevant = [o for o in offers if (o.quantity, o.method) in wanted]
    return CompiledOffers.of(relevant).covered_methods(
        quantity=quantity, methods=methods, parameters=parameters
    )


class CompiledOfferCache:
    """A small thread-safe LRU of compiled offer sets, keyed by what identifies an immutable
    offer set (the services use the offer set's row: offer sets are append-only).

    An offer at the size bounds compiles to about 1.7 MB in 10 ms, so the default keeps at
    most ~110 MB (64 offer sets at the bounds); an evicted set is compiled again on its next
    use."""

    def __init__(self, maxsize: int = 64) -> None:
        self._items: OrderedDict[Hashable, tuple[CompiledOffer, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def get(self, key: Hashable) -> tuple[CompiledOffer, ...] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, offers: Iterable[OfferView]) -> tuple[CompiledOffer, ...]:
        """Compile ``offers`` (outside the lock: a large set takes milliseconds) and keep them."""
        compiled = tuple(CompiledOffer.of(o) for o in offers)
        with self._lock:
            self._items[key] = compiled
            self._items.move_to_end(key)
            if len(self._items) > self._maxsize:
                self._items.popitem(last=False)
        return compiled
