"""The person's tenant file: its checks, the sandbox, and how answers become result data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from finales.people.taskfile import AnswerError, TaskFileError, load_task_file

ROOT = Path(__file__).resolve().parents[2]


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "person.yaml"
    path.write_text(text)
    return path


def _offer(tmp_path: Path, **fields: str) -> Any:
    body = {"task": "'Weigh {{ sample }}'", "done": "{}", "failed": "{}", **fields}
    entry = ", ".join(f"{k}: {v}" for k, v in body.items())
    text = f"tenant: t\noffers:\n  - {{quantity: q, method: m, {entry}}}\n"
    return load_task_file(_file(tmp_path, text)).offers[0]


def test_the_transport_example_renders_the_finales2_request() -> None:
    offer = load_task_file(ROOT / "examples" / "people" / "transport.yaml").offers[0]
    origin = {"address": "KIT HIU Ulm", "detail_1": "ASAB", "detail_2": "vial_5"}
    destination = {"address": "KIT HIU Ulm", "detail_1": "AutoBASS", "detail_2": "Tray: 7"}
    ctx = {"origin": origin, "destination": destination, "person": "Leon"}
    assert offer.task_text(ctx).splitlines()[0] == "Carry vial_5 from ASAB to AutoBASS (Tray: 7)."
    done = offer.result_data("done", ctx, note="")
    assert done == {"success": True, "actual_new_location": destination, "executant": "Leon"}


def test_typed_text_never_becomes_structure(tmp_path: Path) -> None:
    offer = _offer(tmp_path, done="{ok: true, note: '{{ note }}'}")
    sneaky = '", "ok": false, "x": "'
    assert offer.result_data("done", {}, note=sneaky) == {"ok": True, "note": sneaky}


def test_number_filter_refuses_garbage_where_jinja_float_gives_zero(tmp_path: Path) -> None:
    offer = _offer(tmp_path, done="{mass_g: '{{ note | number }}'}")
    assert offer.result_data("done", {}, note=" 12.5 ") == {"mass_g": 12.5}
    with pytest.raises(AnswerError, match="'heavy' is not a number"):
        offer.result_data("done", {}, note="heavy")


def test_the_sandbox_refuses_internals(tmp_path: Path) -> None:
    offer = _offer(tmp_path, done="{x: '{{ note.__class__.__mro__ }}'}")
    with pytest.raises(AnswerError, match=r"unsafe|__class__"):
        offer.result_data("done", {}, note="a")
    immutable = _offer(tmp_path, done="{x: '{{ parameters.update(a=1) }}'}")
    with pytest.raises(AnswerError):
        immutable.result_data("done", {"parameters": {}}, note="")


def test_a_result_template_with_an_unknown_name_is_refused(tmp_path: Path) -> None:
    offer = _offer(tmp_path, done="{who: '{{ persn }}'}")
    with pytest.raises(AnswerError, match="persn"):
        offer.result_data("done", {"person": "Leon"}, note="")


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        ("offers: []\n", "/offers"),
        ("offers:\n  - {quantity: q, method: m, task: x, done: {}}\n", "/offers/0/failed"),
        (
            "offers:\n  - {quantity: q, method: m, task: x, done: {}, failed: {}, to: 1}\n",
            "/offers/0/to",
        ),
        (
            "offers:\n  - {quantity: q, method: m, task: x, done: {a: '{{ (' }, failed: {}}\n",
            "/offers/0/done/a",
        ),
    ],
)
def test_file_errors_name_the_field(tmp_path: Path, text: str, pointer: str) -> None:
    with pytest.raises(TaskFileError, match=f"person.yaml: {pointer}"):
        load_task_file(_file(tmp_path, text))


def test_an_offer_twice_is_refused(tmp_path: Path) -> None:
    entry = "  - {quantity: q, method: m, task: x, done: {}, failed: {}}\n"
    with pytest.raises(TaskFileError, match="q/m is offered twice"):
        load_task_file(_file(tmp_path, "offers:\n" + entry + entry))
