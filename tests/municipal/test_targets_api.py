"""Target lists over HTTP: checked row by row, imported whole or not at all, idempotent, and
enforced when residents apply."""

from __future__ import annotations

from storage.targets import count_targets
from tests.municipal.conftest import Staff, csv_of, resident_session
from tests.support.direct import new_resident


async def test_a_list_is_imported_once_however_often_it_is_uploaded(staff: Staff) -> None:
    measure_id = await staff.draft(target_list_only=True)
    residents = [await new_resident(staff.hub.ctx) for _ in range(5)]
    first = await staff.put_csv(measure_id, csv_of(residents[:3]))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "measure_id": measure_id,
        "received": 3,
        "added": 3,
        "already_listed": 0,
        "total": 3,
    }
    again = await staff.put_csv(measure_id, csv_of(residents[:3]))
    assert (again.json()["added"], again.json()["total"]) == (0, 3)
    more = await staff.put_csv(measure_id, csv_of(residents))
    assert (more.json()["added"], more.json()["already_listed"], more.json()["total"]) == (2, 3, 5)
    assert (await staff.get(f"/measures/{measure_id}/targets")).json()["total"] == 5


async def test_bad_rows_are_reported_by_line_and_nothing_is_imported(staff: Staff) -> None:
    measure_id = await staff.draft(target_list_only=True)
    good = await new_resident(staff.hub.ctx)
    data = f"mykey_id\n{good}\nnot-an-id\n{good}\nZZZZZZZZ\n".encode()
    response = await staff.put_csv(measure_id, data)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "invalid_target_list"
    assert [(e["line"], e["reason"]) for e in problem["errors"]] == [
        (3, "not a MyKey ID (8 characters, 0-9 and A-Z)"),
        (4, "repeats line 2"),
    ]
    unknown = await staff.put_csv(measure_id, f"mykey_id\n{good}\nZZZZZZZZ\n".encode())
    assert unknown.status_code == 422
    assert [(e["line"], e["value"], e["reason"]) for e in unknown.json()["errors"]] == [
        (3, "ZZZZZZZZ", "no such MyKey ID")
    ]
    async with staff.hub.ctx.sessions() as session:
        assert await count_targets(session, measure_id) == 0


async def test_only_csv_for_target_list_measures_that_are_not_closed(staff: Staff) -> None:
    open_measure = await staff.draft()
    response = await staff.put_csv(open_measure, csv_of([]))
    assert (response.status_code, response.json()["code"]) == (409, "not_a_target_list_measure")
    listed = await staff.draft(target_list_only=True)
    response = await staff.hub.http.put(
        staff.path(f"/measures/{listed}/targets"),
        json={"mykey_id": "AAAA0000"},
        headers=staff.headers,
    )
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")
    published = await staff.published(target_list_only=True)
    await staff.post(f"/measures/{published}/close")
    response = await staff.put_csv(published, csv_of([]))
    assert (response.status_code, response.json()["code"]) == (409, "invalid_measure_state")


async def test_a_drafts_list_can_be_cleared_and_a_published_one_cannot(staff: Staff) -> None:
    measure_id = await staff.draft(target_list_only=True)
    await staff.put_csv(measure_id, csv_of([await new_resident(staff.hub.ctx)]))
    cleared = await staff.hub.http.delete(
        staff.path(f"/measures/{measure_id}/targets"), headers=staff.headers
    )
    assert cleared.status_code == 200 and cleared.json()["removed"] == 1
    await staff.post(f"/measures/{measure_id}/publish")
    refused = await staff.hub.http.delete(
        staff.path(f"/measures/{measure_id}/targets"), headers=staff.headers
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "measure_not_draft")


async def test_only_residents_on_the_list_may_apply(staff: Staff) -> None:
    listed_id, listed = await resident_session(staff.hub)
    _, unlisted = await resident_session(staff.hub)
    measure_id = await staff.draft(target_list_only=True)
    assert (await staff.put_csv(measure_id, csv_of([listed_id]))).status_code == 200
    await staff.post(f"/measures/{measure_id}/publish")
    http = staff.hub.http
    refused = await http.post(f"/v1/measures/{measure_id}/applications", headers=unlisted)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_in_target_list")
    granted = await http.post(f"/v1/measures/{measure_id}/applications", headers=listed)
    assert granted.status_code == 201, granted.text
    assert granted.json()["status"] == "granted"


async def test_a_list_past_100000_rows_or_8_mb_is_refused_whole(staff: Staff) -> None:
    measure_id = await staff.draft(target_list_only=True)
    rows = "".join(f"{i:08d}\n" for i in range(100_001))
    response = await staff.put_csv(measure_id, f"mykey_id\n{rows}".encode())
    assert (response.status_code, response.json()["code"]) == (413, "target_list_too_large")
    response = await staff.put_csv(measure_id, b"mykey_id\n" + b" " * (8 * 1024 * 1024))
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
    async with staff.hub.ctx.sessions() as session:
        assert await count_targets(session, measure_id) == 0
