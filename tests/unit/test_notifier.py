"""The long-poll notifier wakes the waiters a change concerns, and only those."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from typing import Any

from finales.domain.changes import CatalogueChanged, RequestChanged, RequestClaimable
from finales.domain.views import OfferView
from finales.server.notifier import Notifier, Waiter

HOT = {"temperature": [{"min": 350.0, "max": 360.0}]}
COLD = {"temperature": [{"min": 270.0, "max": 300.0}]}


def offer(limitations: Any, method: str = "two_electrode") -> list[OfferView]:
    return [OfferView("conductivity", method, limitations)]


def request(temperature: float, methods: tuple[str, ...] = ("two_electrode",)) -> RequestClaimable:
    return RequestClaimable(
        request_id="r-new",
        quantity="conductivity",
        methods=list(methods),
        parameters={m: {"temperature": temperature} for m in methods},
    )


def woken(waiter: Waiter) -> bool:
    return waiter._event.is_set()


def test_work_changes_wake_covering_offers_only() -> None:
    notifier = Notifier()
    with ExitStack() as stack:
        hot, hot2, cold, other, fresh = (
            stack.enter_context(notifier.work_waiter()) for _ in range(5)
        )
        notifier.set_offers(hot, offer(HOT))
        notifier.set_offers(hot2, offer(HOT))  # same offers: one group
        notifier.set_offers(cold, offer(COLD))
        notifier.set_offers(other, offer({}, method="impedance"))
        results = stack.enter_context(notifier.request_waiter("r1"))

        notifier.wake_local(request(355.0))
        assert [woken(w) for w in (hot, hot2, cold, other, fresh, results)] == [
            True, True, False, False, True, False,
        ]  # fmt: skip
        for w in (hot, hot2, fresh):
            w.clear()
        notifier.wake_local(request(280.0, ("two_electrode", "impedance")))
        assert [woken(w) for w in (hot, hot2, cold, other, fresh, results)] == [
            False, False, True, True, True, False,
        ]  # fmt: skip


def test_request_changes_and_broadcasts() -> None:
    notifier = Notifier()
    with notifier.request_waiter("r1") as r1, notifier.request_waiter("r2") as r2:
        with notifier.work_waiter() as work:
            notifier.set_offers(work, offer(HOT))
            notifier.wake_local(RequestChanged("r1"))
            assert (woken(r1), woken(r2), woken(work)) == (True, False, False)
            notifier.wake_local(CatalogueChanged())  # offers or capabilities changed
            assert (woken(r1), woken(r2), woken(work)) == (True, True, True)
            for w in (r1, r2, work):
                w.clear()
            notifier.wake_local()  # anything may have changed (a remote notification)
            assert (woken(r1), woken(r2), woken(work)) == (True, True, True)
    assert notifier.waiting == 0
    assert notifier._groups == {} and notifier._by_pair == {} and notifier._by_request == {}


def test_new_offers_move_a_waiter_between_groups() -> None:
    notifier = Notifier()
    with notifier.work_waiter() as w:
        notifier.set_offers(w, offer(HOT))
        notifier.set_offers(w, offer(COLD))
        assert len(notifier._groups) == 1
        notifier.wake_local(request(355.0))
        assert not woken(w)
        notifier.wake_local(request(280.0))
        assert woken(w)


def test_a_malformed_request_wakes_rather_than_breaks() -> None:
    notifier = Notifier()
    with notifier.work_waiter() as w:
        notifier.set_offers(w, offer(HOT))
        broken = RequestClaimable("r-bad", "conductivity", ["two_electrode"], None)  # type: ignore[arg-type]
        notifier.wake_local(broken)
        assert woken(w)  # the match fails: the waiter wakes and re-queries


def test_publish_from_a_thread_reaches_the_loop_and_the_relay() -> None:
    async def main() -> tuple[bool, bool, int]:
        notifier = Notifier()
        notifier.bind(asyncio.get_running_loop())
        relayed: list[int] = []
        notifier.relay_to(lambda: relayed.append(1))
        with notifier.work_waiter() as w, notifier.request_waiter("r1") as r:
            notifier.set_offers(w, offer(HOT))
            changes = [request(355.0), RequestChanged("r1")]
            await asyncio.to_thread(notifier.publish, changes)  # as a unit of work does
            await w.wait(5)
            await r.wait(5)
            return woken(w), woken(r), len(relayed)

    assert asyncio.run(main()) == (True, True, 1)  # one publication, one relayed broadcast
