"""A person serves a capability from a terminal: the tenant behind ``finales chat``.

It is an ordinary ``finales.tenant.Tenant`` (concurrency 1) whose handler hands the claimed
request to the terminal and waits for the person's answer while the runtime's lease keeper
keeps the lease alive. Three threads: the runtime (polling, claiming, heartbeats, posting,
releasing), a reader of the terminal's lines, and the caller's thread, which alone prints
and decides. Everything the other two learn reaches it as an event on one queue, so the
screen shows one thing at a time in the order it happened and Ctrl-C (delivered to the
caller's thread) is handled in one place.

The answer ``done [note]`` / ``failed REASON`` is turned into result data by the offer's
template and checked against the capability's result schema here, before it goes to the
runtime: an answer that does not make a valid result gets a message and a new prompt, and
nothing is posted. ``release [reason]`` gives the request back (``finales.tenant.Release``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any, TextIO

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from finales import schemas
from finales.client import FinalesClient
from finales.errors import FinalesError, InvalidPayload
from finales.people.taskfile import PersonOffer, TaskFile, task_context
from finales.tenant import JobContext, Release, Tenant
from finales.tenant.execute import ResultSchemas

DEFAULT_LEASE_S = 60.0
DEFAULT_POLL_S = 20.0
# A claim made just as the person quits still reaches the screen's queue and is released
# from there; the runtime's own release after this grace is the fallback.
GRACE_S = 5.0
STOP_WAIT_S = 30.0
# A request the person released is left to others this long before it is shown again here.
RETRY_RELEASED_AFTER_S = 300.0
TICK_S = 0.2

COMMANDS = (
    ("done [note]", "the task is done; the result is built from the file's done template"),
    ("failed REASON", "the task could not be done; posts the failure result with the reason"),
    ("release [reason]", "give the request back to the broker, for someone else"),
    ("show", "show the current task again"),
    ("help", "this list"),
    ("quit", "stop (a task you hold is released); Ctrl-C does the same"),
)
HINT = "type done [note], failed REASON, release [reason], help or quit"


# ---------------------------------------------------------------------------- events


@dataclass(eq=False)
class Task:
    """A claimed request waiting for the person's answer (the handler waits on ``answer``)."""

    item: schemas.WorkItem
    ctx: JobContext
    offer: PersonOffer
    context: dict[str, Any]
    answer: Future[dict[str, Any] | Release] = field(default_factory=Future)

    @property
    def request_id(self) -> str:
        return self.item.id

    def give(self, answer: dict[str, Any] | Release) -> None:
        if not self.answer.done():
            self.answer.set_result(answer)


@dataclass(frozen=True)
class NewTask:
    task: Task


@dataclass(frozen=True)
class Line:
    text: str


@dataclass(frozen=True)
class EndOfInput:
    pass


@dataclass(frozen=True)
class LeaseLost:
    task: Task
    reason: str


@dataclass(frozen=True)
class Posted:
    result: schemas.Result


@dataclass(frozen=True)
class Released:
    request_id: str
    message: str


@dataclass(frozen=True)
class CallFailed:
    what: str
    detail: str


@dataclass(frozen=True)
class Stopped:
    error: BaseException | None


Event = NewTask | Line | EndOfInput | LeaseLost | Posted | Released | CallFailed | Stopped


class ChatClient(FinalesClient):
    """A ``FinalesClient`` that tells the terminal when the runtime posts or releases, so
    that the person sees each outcome (and a refusal) as it happens."""

    events: queue.Queue[Event] | None = None

    def _tell(self, event: Event) -> None:
        if self.events is not None:
            self.events.put(event)

    def post_result(
        self,
        *,
        quantity: str,
        method: str,
        parameters: Mapping[str, Any],
        data: Mapping[str, Any],
        request_id: str | None = None,
        inputs: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> schemas.Result:
        try:
            result = super().post_result(
                quantity=quantity,
                method=method,
                parameters=parameters,
                data=data,
                request_id=request_id,
                inputs=inputs,
                idempotency_key=idempotency_key,
            )
        except FinalesError as exc:
            self._tell(CallFailed("posting the result", exc.detail))
            raise
        self._tell(Posted(result))
        return result

    def release(self, request_id: str, *, message: str = "") -> schemas.Request:
        request = super().release(request_id, message=message)
        self._tell(Released(request_id, message))
        return request


# ---------------------------------------------------------------------------- the session


class Chat:
    """One terminal session: ``run()`` serves until the person quits; the exit status."""

    def __init__(
        self,
        task_file: TaskFile,
        *,
        tenant: str,
        person: str,
        client: ChatClient,
        console: Console,
        stdin: TextIO | IO[str],
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = DEFAULT_POLL_S,
        publish_offers: bool = True,
    ) -> None:
        self.task_file = task_file
        self.person = person
        self.client = client
        self.console = console
        self.stdin = stdin
        self.events: queue.Queue[Event] = queue.Queue()
        client.events = self.events
        self.schemas = ResultSchemas(client)
        self.tenant = Tenant(
            tenant,
            client=client,
            concurrency=1,  # one task at a time: a person does one thing at once
            lease_s=lease_s,
            poll_s=poll_s,
            grace_s=GRACE_S,
            retry_failed_after_s=RETRY_RELEASED_AFTER_S,
            publish_offers=publish_offers,
        )
        for offer in task_file.offers:
            handler = self._handler_for(offer)
            self.tenant.serves(offer.quantity, offer.method, limitations=offer.entry.limitations)(
                handler
            )
        self.current: Task | None = None
        self.shown = 0
        self.stopping = False
        self._runner: threading.Thread | None = None

    # ------------------------------------------------------------------ the runtime's side

    def _handler_for(self, offer: PersonOffer) -> Any:
        def ask_the_person(item: schemas.WorkItem, ctx: JobContext) -> dict[str, Any]:
            context = task_context(item, ctx.method, tenant=self.tenant.name, person=self.person)
            task = Task(item=item, ctx=ctx, offer=offer, context=context)
            ctx.lease.on_lost(lambda lease: self.events.put(LeaseLost(task, lease.reason or "")))
            self.events.put(NewTask(task))
            while True:
                try:
                    answer = task.answer.result(timeout=TICK_S)
                except TimeoutError:
                    if ctx.lease.lost:
                        raise Release(f"the lease was lost: {ctx.lease.reason}") from None
                    continue
                if isinstance(answer, Release):
                    raise answer
                return answer

        ask_the_person.__qualname__ = f"ask_the_person[{offer.quantity}/{offer.method}]"
        return ask_the_person

    def _serve(self) -> None:
        try:
            self.tenant.run(handle_signals=False, configure_logging=False)
        except BaseException as exc:
            self.events.put(Stopped(exc))
        else:
            self.events.put(Stopped(None))

    def _read_lines(self) -> None:
        while True:
            try:
                line = self.stdin.readline()
            except (OSError, ValueError):
                line = ""
            if not line:
                self.events.put(EndOfInput())
                return
            self.events.put(Line(line.rstrip("\r\n")))

    # ------------------------------------------------------------------ the person's side

    def run(self) -> int:
        """Serve until ``quit``, Ctrl-C or the end of input (0), or until the broker
        refuses the tenant (1)."""
        served = ", ".join(f"{o.quantity}/{o.method}" for o in self.task_file.offers)
        self._say(f"connecting as tenant {self.tenant.name} (serving {served}) ...")
        self._runner = threading.Thread(target=self._serve, name="chat-tenant", daemon=True)
        self._runner.start()
        threading.Thread(target=self._read_lines, name="chat-input", daemon=True).start()
        try:
            return self._loop()
        except KeyboardInterrupt:
            self.console.print()
            return self._stop(f"{self.person} stopped the terminal session (Ctrl-C)")

    def _loop(self) -> int:
        connected = False
        while True:
            if not connected and self.tenant.tenant_id is not None:
                connected = True
                self._say(f"connected: tenant {self.tenant.name} ({self.tenant.tenant_id})")
                self._waiting()
            try:
                event = self.events.get(timeout=TICK_S)
            except queue.Empty:
                continue
            if isinstance(event, Line):
                if self._command(event.text):
                    return self._stop(f"{self.person} quit the terminal session")
            elif isinstance(event, EndOfInput):
                return self._stop(f"{self.person}'s terminal closed")
            elif isinstance(event, Stopped):
                return self._stopped(event)
            else:
                self._notice(event)

    def _notice(self, event: Event) -> None:
        """What the runtime did: a new task, a posted result, a release, a lost lease."""
        if isinstance(event, NewTask):
            self.current = event.task
            self.shown += 1
            self._show(event.task)
        elif isinstance(event, Posted):
            rid = event.result.request_id or "-"
            self._say(f"result {event.result.id} posted for request {rid}", style="green")
            self._waiting()
        elif isinstance(event, Released):
            self._say(f"request {event.request_id} released: {event.message}", style="yellow")
            if self.current is None:
                self._waiting()
        elif isinstance(event, CallFailed):
            self._say(f"{event.what} failed: {event.detail}", style="red")
        elif isinstance(event, LeaseLost) and self.current is event.task:
            self.current = None
            self._say(
                f"request {event.task.request_id} is no longer yours ({event.reason}): "
                "stop working on it",
                style="red",
            )
            self._waiting()

    def _command(self, line: str) -> bool:
        """Act on one line; True when the person wants to stop."""
        word, _, rest = line.strip().partition(" ")
        word, rest = word.lower(), rest.strip()
        if not word:
            return False
        if word in ("quit", "exit", "q"):
            return True
        if word in ("help", "?"):
            self._help()
        elif word == "show":
            if self.current is not None:
                self._show(self.current)
            else:
                self._say("no task now: waiting for work")
        elif word in ("done", "failed", "release"):
            self._answer(word, rest)
        else:
            self._say(f"unknown command {word!r}: {HINT}", style="yellow")
        return False

    def _answer(self, word: str, rest: str) -> None:
        task = self.current
        if task is None:
            self._say(f"no task to {word}: waiting for work")
            return
        if word == "release":
            reason = rest or "no reason given"
            self.current = None
            task.give(Release(f"{self.person} released it at the terminal: {reason}"))
            self._say(f"releasing request {task.request_id} ...")
            return
        if word == "failed" and not rest:
            self._say("say why: failed REASON (e.g. failed broke a vial)", style="yellow")
            return
        data = self._result(task, word, rest)
        if data is None:
            return
        self.current = None
        task.give(data)
        self._say(f"{word}: sending the result of request {task.request_id} ...")

    def _result(self, task: Task, word: str, note: str) -> dict[str, Any] | None:
        """The result data for the answer, checked against the result schema; None (with
        the reason on the screen) when the answer does not make a valid result."""
        try:
            data = task.offer.result_data(word, task.context, note=note)
            if not isinstance(data, dict):
                raise InvalidPayload(
                    f"the {word} template of {task.offer.where} makes a "
                    f"{type(data).__name__}, not an object of result data"
                )
            cap = self.schemas.get(task.offer.quantity, task.offer.method)
            self.schemas.validate(cap, data)
        except FinalesError as exc:
            self._say(f"that answer does not make a valid result: {exc.detail}", style="red")
            for error in exc.errors:
                self._say(f"  {error['pointer']}: {error['message']}", style="red")
            self._say(f"nothing was posted; answer again ({HINT})", style="yellow")
            return None
        return data

    # ------------------------------------------------------------------ stopping

    def _stop(self, reason: str) -> int:
        """Stop taking work, give back what is held (and any claim still on its way to
        the screen), wait for the runtime to finish."""
        self.stopping = True
        self.tenant.stop()
        if self.current is not None:
            self.current.give(Release(reason))
            self.current = None
        runner = self._runner
        try:
            while runner is not None and runner.is_alive():
                try:
                    event = self.events.get(timeout=TICK_S)
                except queue.Empty:
                    continue
                if isinstance(event, NewTask):
                    event.task.give(Release(reason))
                elif isinstance(event, Stopped):
                    break
                elif not isinstance(event, Line | EndOfInput):
                    self._notice(event)
        except KeyboardInterrupt:
            self.tenant.stop(force=True)
            if runner is not None:
                runner.join(STOP_WAIT_S)
        self._drain()
        self._say("stopped")
        return 0

    def _drain(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, Released | Posted | CallFailed):
                self._notice(event)

    def _stopped(self, event: Stopped) -> int:
        error = event.error
        if error is None:
            self._say("stopped")
            return 0
        detail = error.detail if isinstance(error, FinalesError) else repr(error)
        self.console.print(Text(f"error: {detail}", style="red"))
        return 1

    # ------------------------------------------------------------------ output

    def _say(self, message: str, *, style: str = "") -> None:
        self.console.print(Text(message, style=style))

    def _waiting(self) -> None:
        if not self.stopping:
            self._say("waiting for work (quit or Ctrl-C to stop) ...", style="dim")

    def _help(self) -> None:
        for command, what in COMMANDS:
            line = Text(f"  {command:<18}", style="bold")
            line.append(what)
            self.console.print(line)

    def _show(self, task: Task) -> None:
        body = Text(task.offer.task_text(task.context))
        waited = _duration(datetime.now(UTC) - task.item.created_at)
        footer = Text(
            f"\nrequest {task.request_id} · waited {waited} · asked by {task.item.requester}",
            style="dim",
        )
        title = f"task {self.shown} · {task.offer.quantity}/{task.offer.method}"
        self.console.print(Panel(Text.assemble(body, footer), title=title, title_align="left"))
        self._say(HINT, style="dim")


def _duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"
