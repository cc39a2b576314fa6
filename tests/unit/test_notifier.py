"""The long-poll notifier wakes the waiters a change concerns, and only those."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from typing import Any

from finales.server.notifier import Change, Notifier, Waiter

HOT = {"temperature": [{"min": 350.0, "max": 360.0}]}
COLD = {"temperature": [{"min": 270.0, "max": 300.0}]}


def offer(limitations: Any, method: str = "two_electrode") -> list[dict[str, Any]]:
    return [{"quantity": "conductivity", "method": method, "limitations": limitations}]


def request(temperature: float, methods: tuple[str, ...] = ("two_electrode",)) -> dict[str, Any]:
    return {
        "quantity": "conductivity",
        "methods": list(methods),
        "parameters": {m: {"temperature": temperature} for m in methods},
    }


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

        notifier.wake_local(Change(work=request(355.0)))
        assert [woken(w) for w in (hot, hot2, cold, other, fresh, results)] == [
            True, True, False, False, True, False,
        ]  # fmt: skip
        for w in (hot, hot2, fresh):
            w.clear()
        notifier.wake_local(Change(work=request(280.0, ("two_electrode", "impedance"))))
        assert [woken(w) for w in (hot, hot2, cold, other, fresh, results)] == [
            False, False, True, True, True, False,
        ]  # fmt: skip


def test_request_changes_and_broadcasts() -> None:
    notifier = Notifier()
    with notifier.request_waiter("r1") as r1, notifier.request_waiter("r2") as r2:
        with notifier.work_waiter() as work:
            notifier.set_offers(work, offer(HOT))
            notifier.wake_local(Change(request_id="r1"))
            assert (woken(r1), woken(r2), woken(work)) == (True, False, False)
            notifier.wake_local()  # anything may have changed
            assert (woken(r1), woken(r2), woken(work)) == (True, True, True)
    assert notifier.waiting == 0
    assert notifier._groups == {} and notifier._by_pair == {} and notifier._by_request == {}


def test_new_offers_move_a_waiter_between_groups() -> None:
    notifier = Notifier()
    with notifier.work_waiter() as w:
        notifier.set_offers(w, offer(HOT))
        notifier.set_offers(w, offer(COLD))
        assert len(notifier._groups) == 1
        notifier.wake_local(Change(work=request(355.0)))
        assert not woken(w)
        notifier.wake_local(Change(work=request(280.0)))
        assert woken(w)


def test_a_malformed_request_wakes_rather_than_breaks() -> None:
    notifier = Notifier()
    with notifier.work_waiter() as w:
        notifier.set_offers(w, offer(HOT))
        notifier.wake_local(Change(work={"quantity": "conductivity", "methods": ["two_electrode"]}))
        assert woken(w)  # no parameters: the match fails, the waiter re-queries


def test_notify_from_a_thread_reaches_the_loop() -> None:
    async def main() -> bool:
        notifier = Notifier()
        notifier.bind(asyncio.get_running_loop())
        with notifier.work_waiter() as w:
            notifier.set_offers(w, offer(HOT))
            await asyncio.to_thread(notifier.notify, Change(work=request(355.0)))
            await w.wait(5)
            return woken(w)

    assert asyncio.run(main())
