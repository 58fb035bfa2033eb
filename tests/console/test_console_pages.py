"""Console pages over HTTP: CSRF on every form, each role its own pages, forms with errors per
field, the target upload with its row errors, htmx fragments of the review queue, the language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.console.helpers import (
    OSAKA,
    ConsoleClient,
    municipality_with_service,
    new_key,
)
from tests.support.direct import new_resident
from tests.support.scenario import measure_body
from tests.support.stack import Hub

HTMX = {"hx-request": "true"}


def jst_field(delta: timedelta) -> str:
    return (datetime.now(UTC) + timedelta(hours=9) + delta).strftime("%Y-%m-%dT%H:%M")


def measure_form(service_id: str, **overrides: str) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {
        "title": "窓口で作った施策",
        "description": "",
        "kind": "application",
        "points_per_grant": "500",
        "per_person_cap": "500",
        "budget_points": "",
        "late_report_days": "0",
        "opens_at": jst_field(timedelta(hours=-1)),
        "closes_at": jst_field(timedelta(days=10)),
        "receipt_deadline": jst_field(timedelta(days=20)),
        "service": [service_id],
        f"available_from.{service_id}": jst_field(timedelta(hours=-1)),
    }
    form.update(overrides)
    return form


async def staff_measures(hub: Hub, key: str) -> list[dict[str, object]]:
    response = await hub.http.get(
        f"/v1/municipalities/{OSAKA}/measures", headers={"authorization": f"Bearer {key}"}
    )
    measures: list[dict[str, object]] = response.json()["items"]
    return measures


async def test_console_routes_stay_out_of_the_openapi_schema(hub: Hub) -> None:
    schema = (await hub.http.get("/openapi.json")).json()
    assert schema["paths"] and not [p for p in schema["paths"] if p.startswith("/console")]


async def test_forms_without_the_sessions_csrf_token_change_nothing(
    hub: Hub, browserless: ConsoleClient
) -> None:
    key, _, service_id = await municipality_with_service(hub, OSAKA, "大阪市")
    no_session = await browserless.http.post("/console/login", data={"api_key": key})
    assert no_session.status_code == 403 and "フォームの有効期限" in no_session.text
    assert (await browserless.sign_in(key)).status_code == 303
    before = len(await staff_measures(hub, key))
    for token in (None, "forged-token"):
        data = measure_form(service_id) | ({"csrf_token": token} if token else {})
        refused = await browserless.http.post("/console/measures/new", data=data)
        assert refused.status_code == 403, refused.text
    forged_header = await browserless.http.post(
        "/console/measures/new", data=measure_form(service_id), headers={"x-csrf-token": "x"}
    )
    assert forged_header.status_code == 403
    assert len(await staff_measures(hub, key)) == before


async def test_each_role_sees_only_its_own_pages(hub: Hub, browserless: ConsoleClient) -> None:
    key, _, _ = await municipality_with_service(hub, OSAKA, "大阪市")
    assert (await browserless.sign_in(key)).status_code == 303
    home = await browserless.page("/console/measures")
    assert 'href="/console/reviews"' in home.text and "/console/support/" not in home.text
    for path in ("/console/support/stuck", "/console/support/residents"):
        refused = await browserless.page(path)
        assert refused.status_code == 403 and "権限がありません" in refused.text
    assert (await browserless.sign_in(await new_key(hub, "support"))).status_code == 303
    for path in ("/console/measures", "/console/reviews", "/console/measures/new"):
        assert (await browserless.page(path)).status_code == 403
    missing = await browserless.page("/console/no/such/page")
    assert missing.status_code == 404 and "ページが見つかりません" in missing.text
    assert missing.headers["content-type"].startswith("text/html")


async def test_a_measure_form_shows_each_error_and_keeps_what_was_typed(
    hub: Hub, browserless: ConsoleClient
) -> None:
    key, _, service_id = await municipality_with_service(hub, OSAKA, "大阪市")
    await browserless.sign_in(key)
    before = len(await staff_measures(hub, key))
    wrong = await browserless.post(
        "/console/measures/new",
        measure_form(service_id, points_per_grant="たくさん", title=""),
        token_from="/console/measures/new",
    )
    assert wrong.status_code == 422
    assert 'id="points_per_grant-error"' in wrong.text and "半角数字の整数" in wrong.text
    assert 'aria-invalid="true"' in wrong.text and 'value="たくさん"' in wrong.text
    contradictory = await browserless.post(
        "/console/measures/new",
        measure_form(service_id, closes_at=jst_field(timedelta(days=-2))),
        token_from="/console/measures/new",
    )
    assert contradictory.status_code == 422
    assert "申請締切は申請開始より後にしてください。" in contradictory.text
    assert len(await staff_measures(hub, key)) == before

    created = await browserless.post(
        "/console/measures/new", measure_form(service_id), token_from="/console/measures/new"
    )
    assert created.status_code == 303, created.text
    detail_path = created.headers["location"]
    edited = await browserless.post(
        f"{detail_path}/edit",
        measure_form(service_id, title="名前を直した施策"),
        token_from=detail_path,
    )
    assert edited.status_code == 303
    detail = await browserless.page(detail_path)
    assert "名前を直した施策" in detail.text and "を保存しました" in detail.text
    published = await browserless.post(f"{detail_path}/publish", token_from=detail_path)
    assert published.status_code == 303
    locked = await browserless.page(f"{detail_path}/edit")
    assert locked.status_code == 409 and "編集できません" in locked.text


async def test_a_target_list_upload_lists_every_bad_row_and_imports_nothing(
    hub: Hub, browserless: ConsoleClient
) -> None:
    key, _, service_id = await municipality_with_service(hub, OSAKA, "大阪市")
    response = await hub.http.post(
        f"/v1/municipalities/{OSAKA}/measures",
        json=measure_body([service_id], target_list_only=True, title="対象者限定の施策"),
        headers={"authorization": f"Bearer {key}"},
    )
    measure_id = response.json()["measure_id"]
    known = [await new_resident(hub.ctx) for _ in range(3)]
    await browserless.sign_in(key)
    page = f"/console/measures/{measure_id}/targets"
    token = await browserless.token(page)
    bad = "mykey_id\n" + f"{known[0]}\nnot-an-id\n{known[0]}\nZZZZZZZZ\n"
    refused = await browserless.http.post(
        page,
        data={"csrf_token": token},
        files={"file": ("targets.csv", bad.encode(), "text/csv")},
        headers=HTMX,
    )
    assert refused.status_code == 422
    assert "<html" not in refused.text  # a fragment for the result area
    assert "誤りのある行: 2 行" in refused.text
    assert (
        "マイキー ID の形式ではありません" in refused.text
        and "2 行目と重複しています" in refused.text
    )
    assert "登録済み: 0 件" in refused.text

    good = "mykey_id\n" + "".join(f"{m}\n" for m in known)
    imported = await browserless.http.post(
        page, data={"csrf_token": token}, files={"file": ("good.csv", good.encode(), "text/csv")}
    )
    assert imported.status_code == 200 and "<html" in imported.text  # without script: the page
    assert "good.csv を取り込みました" in imported.text and "登録済み: 3 件" in imported.text
    again = await browserless.http.post(
        page, data={"csrf_token": token}, files={"file": ("good.csv", good.encode(), "text/csv")}
    )
    assert "新規 0 件" in again.text and "登録済み: 3 件" in again.text
    cleared = await browserless.post(f"{page}/clear", token_from=page)
    assert cleared.status_code == 303
    assert "登録済み: 0 件" in (await browserless.page(page)).text


async def test_review_decisions_answer_htmx_with_the_row_or_the_refusal(
    hub: Hub, browserless: ConsoleClient
) -> None:
    key, _, service_id = await municipality_with_service(hub, OSAKA, "大阪市")
    staff = {"authorization": f"Bearer {key}"}
    created = await hub.http.post(
        f"/v1/municipalities/{OSAKA}/measures",
        json=measure_body([service_id], review_required=True, title="審査付きの施策"),
        headers=staff,
    )
    measure_id = created.json()["measure_id"]
    assert (
        await hub.http.post(
            f"/v1/municipalities/{OSAKA}/measures/{measure_id}/publish", headers=staff
        )
    ).status_code == 200
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    assert (await resident.apply(measure_id)).json()["status"] == "pending_review"
    [review] = (
        await hub.http.get(
            f"/v1/municipalities/{OSAKA}/reviews?measure_id={measure_id}", headers=staff
        )
    ).json()["items"]

    await browserless.sign_in(key)
    queue = await browserless.page("/console/reviews", measure_id=measure_id)
    assert f'id="review-{review["review_id"]}"' in queue.text and "審査付きの施策" in queue.text
    token = await browserless.token("/console/reviews")
    decision = f"/console/reviews/{review['review_id']}/decision"
    no_reason = await browserless.http.post(
        decision, data={"csrf_token": token, "decision": "reject"}, headers=HTMX
    )
    assert no_reason.status_code == 422 and "却下する理由を入力してください。" in no_reason.text
    approved = await browserless.http.post(
        decision, data={"csrf_token": token, "decision": "approve"}, headers=HTMX
    )
    assert approved.status_code == 200, approved.text
    assert approved.headers["hx-retarget"] == f"#review-{review['review_id']}"
    assert approved.headers["hx-reswap"] == "outerHTML"
    assert "承認しました" in approved.text and approved.text.lstrip().startswith("<tr")
    conflicting = await browserless.http.post(
        decision,
        data={"csrf_token": token, "decision": "reject", "reason": "住所が対象区域外"},
        headers=HTMX,
    )
    assert conflicting.status_code == 409 and "すでに判断済み" in conflicting.text
    assert (await resident.points())["totals"]["unreceived"] == 1000
    decided = await browserless.page("/console/reviews", measure_id=measure_id, status="approved")
    assert "承認済み" in decided.text and "住所が対象区域外" not in decided.text


async def test_english_is_one_click_away_and_remembered(
    hub: Hub, browserless: ConsoleClient
) -> None:
    await browserless.sign_in(await new_key(hub, "support"))
    japanese = await browserless.page("/console/support/stuck")
    assert '<html lang="ja">' in japanese.text and "滞留している受取" in japanese.text
    assert 'href="/console/support/stuck?lang=en"' in japanese.text
    english = await browserless.page("/console/support/stuck", lang="en")
    assert '<html lang="en">' in english.text and "Stuck receipts" in english.text
    remembered = await browserless.page("/console/support/residents")
    assert "Resident lookup" in remembered.text
    back = await browserless.page("/console/support/residents", lang="ja")
    assert "利用者の照会" in back.text
