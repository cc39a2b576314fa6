"""The notifier matches limitations off the event loop, and a group filed while a publishing
thread matched is still woken."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from finales.domain.changes import RequestClaimable
from finales.domain.offers import CompiledOffers
from finales.domain.views import OfferView
from finales.server.notifier import Notifier, Waiter

HOT = {"temperature": [{"min": 350.0, "max": 360.0}]}
COLD = {"temperature": [{"min": 270.0, "max": 300.0}]}


class Parameters(dict[str, Any]):
    """Request parameters that note the threads their limitations were matched in."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.threads: set[int] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.threads.add(threading.get_ident())
        return super().get(key, default)


def offers(limitations: Any) -> CompiledOffers:
    return CompiledOffers.of([OfferView("conductivity", "two_electrode", limitations)])


def request(temperature: float) -> tuple[RequestClaimable, Parameters]:
    p = Parameters({"two_electrode": {"temperature": temperature}})
    return RequestClaimable("r-new", "conductivity", ["two_electrode"], p), p


def woken(waiter: Waiter) -> bool:
    return waiter._event.is_set()


def test_publish_matches_in_the_publishing_thread() -> None:
    async def main() -> tuple[bool, bool, set[int], int, int]:
        notifier = Notifier()
        notifier.bind(asyncio.get_running_loop())
        with notifier.work_waiter() as hot, notifier.work_waiter() as cold:
            notifier.set_offers(hot, offers(HOT))
            notifier.set_offers(cold, offers(COLD))
            change, p = request(355.0)
            publisher: list[int] = []

            def commit() -> None:  # as a unit of work does after its commit
                publisher.append(threading.get_ident())
                notifier.publish([change])

            await asyncio.to_thread(commit)
            await hot.wait(5)
            return woken(hot), woken(cold), p.threads, publisher[0], threading.get_ident()

    hot, cold, threads, publisher, loop_thread = asyncio.run(main())
    assert (hot, cold) == (True, False)
    assert threads == {publisher} and loop_thread not in threads


def test_wake_local_on_the_loop_matches_in_the_executor() -> None:
    async def main() -> tuple[bool, bool, bool, set[int], int]:
        notifier = Notifier()
        notifier.bind(asyncio.get_running_loop())
        with notifier.work_waiter() as hot, notifier.work_waiter() as cold:
            notifier.set_offers(hot, offers(HOT))
            notifier.set_offers(cold, offers(COLD))
            change, p = request(355.0)
            notifier.wake_local(change)  # as the periodic re-check does, on the loop
            at_once = woken(hot)
            await hot.wait(5)
            return at_once, woken(hot), woken(cold), p.threads, threading.get_ident()

    at_once, hot, cold, threads, loop_thread = asyncio.run(main())
    assert not at_once, "matched on the loop"
    assert (hot, cold) == (True, False)
    assert threads and loop_thread not in threads


def test_a_group_filed_after_the_match_is_woken_unmatched() -> None:
    notifier = Notifier()
    change, _ = request(280.0)
    with notifier.work_waiter() as early, notifier.work_waiter() as late:
        notifier.set_offers(early, offers(HOT))
        matched = notifier._match((change,))  # the publishing thread looks at the index...
        notifier.set_offers(late, offers(HOT | {"fraction": [0.5]}))  # ...a new group is filed
        notifier._publish_on_loop((change,), matched, relay=False)  # ...then the loop wakes
        assert not woken(early)  # matched: HOT does not cover 280 K
        assert woken(late)  # filed too late to be matched: woken to re-query, never missed


def test_same_offers_in_any_order_share_one_group() -> None:
    notifier = Notifier()
    a = OfferView("conductivity", "two_electrode", HOT)
    b = OfferView("conductivity", "molecular_dynamics", COLD)
    with notifier.work_waiter() as w1, notifier.work_waiter() as w2:
        notifier.set_offers(w1, CompiledOffers.of([a, b]))
        notifier.set_offers(w2, [b, a])
        assert len(notifier._groups) == 1
    assert notifier._groups == {} and notifier._by_pair == {}
