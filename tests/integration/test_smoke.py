from tests.conftest import Lab


def test_one_cycle(lab: Lab) -> None:
    req = lab.post_request()
    assert req["status"] == "pending"
    work = lab.a.get("/work").json()
    assert [w["id"] for w in work] == [req["id"]]
    assert lab.claim(req["id"]).status_code == 200
    r = lab.post_result(req["id"])
    assert r.status_code == 201, r.text
    assert lab.reader.get(f"/requests/{req['id']}").json()["status"] == "resolved"
