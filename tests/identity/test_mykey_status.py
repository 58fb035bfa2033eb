"""Operators suspend, resume and revoke MyKey IDs (SPEC §1, §5) over the whole hub.

Suspended: no login and no new receipt (`mykey_suspended`), while a credit already under way
completes; resumable. Revoked: irreversible. Reasons are free text that must not hold a My Number.
"""

from __future__ import annotations

from domain.identifiers import my_number_check_digit
from tests.identity.stack_support import enrolled, grant_of, wait_for_grant
from tests.support.scenario import onboard, publish_measure
from tests.support.stack import Hub

MY_NUMBER = "12345678901" + str(my_number_check_digit("12345678901"))


async def action(hub: Hub, mykey_id: str, verb: str, reason: str = "調査のため") -> dict:
    """The operator's call; the answer's body with its HTTP status as `http`."""
    response = await hub.http.post(
        f"/v1/operator/mykeys/{mykey_id}/{verb}",
        json={"reason": reason},
        headers=hub.operator_headers,
    )
    return {**response.json(), "http": response.status_code}


async def test_suspension_stops_logins_and_new_receipts_but_not_credits_under_way(
    hub: Hub,
) -> None:
    setup = await onboard(hub)
    second_measure = await publish_measure(hub, setup.municipality_key, [setup.payment_service_id])
    resident = hub.resident()
    registration_id = await enrolled(hub, resident, setup.payment_service_id, "susp-0001")
    in_flight = await grant_of(resident, setup.measure_id)
    later = await grant_of(resident, second_measure)
    mykey_id = resident.mykey_id
    assert mykey_id is not None

    hub.sim_providers[setup.provider_id].config.latency_ms = 600
    requested = await resident.request_receipt([in_flight], registration_id)
    assert requested.status_code == 202, requested.text
    suspended = await action(hub, mykey_id, "suspend", "不正利用の疑いがあるため")
    assert (suspended["http"], suspended["status"]) == (200, "suspended")
    assert suspended["previous_status"] == "active"

    login = await resident.login()
    assert (login.status_code, login.json()["code"]) == (403, "mykey_suspended")
    refused = await resident.request_receipt([later], registration_id)
    assert (refused.status_code, refused.json()["code"]) == (403, "mykey_suspended")
    assert (await action(hub, mykey_id, "suspend"))["code"] == "mykey_status_conflict"

    resumed = await action(hub, mykey_id, "resume", "調査の結果、問題なし")
    assert (resumed["http"], resumed["status"]) == (200, "active")
    assert (await action(hub, mykey_id, "resume"))["code"] == "mykey_status_conflict"
    await wait_for_grant(resident, in_flight, {"credited"})  # the credit under way completed
    hub.sim_providers[setup.provider_id].config.latency_ms = 0

    assert (await resident.login()).status_code == 201
    accepted = await resident.request_receipt([later], registration_id)
    assert accepted.status_code == 202, accepted.text
    await wait_for_grant(resident, later, {"credited"})

    overview = await hub.http.get(f"/v1/operator/mykeys/{mykey_id}", headers=hub.operator_headers)
    assert overview.status_code == 200
    history = overview.json()["history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        ("active", "suspended"),
        ("suspended", "active"),
    ]
    assert history[0]["reason"] == "不正利用の疑いがあるため"
    assert history[0]["actor"].startswith("operator:")

    audit = await hub.http.get(
        "/v1/operator/audit",
        params={"object_id": mykey_id, "action": "POST /v1/operator/mykeys"},
        headers=hub.operator_headers,
    )
    assert audit.status_code == 200, audit.text
    acts = [(e["action"].rsplit("/", 1)[-1], e["outcome"]) for e in audit.json()["items"]]
    assert ("suspend", "200") in acts and ("resume", "200") in acts
    assert ("suspend", "409 mykey_status_conflict") in acts
    assert {e["actor"] for e in audit.json()["items"]} == {history[0]["actor"]}


async def test_revocation_is_irreversible(hub: Hub) -> None:
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    mykey_id = resident.mykey_id
    assert mykey_id is not None
    assert (await action(hub, mykey_id, "suspend"))["http"] == 200
    revoked = await action(hub, mykey_id, "revoke", "本人の申出により失効")
    assert (revoked["http"], revoked["previous_status"]) == (200, "suspended")
    for verb in ("resume", "suspend", "revoke"):
        again = await action(hub, mykey_id, verb)
        assert (again["http"], again["code"]) == (409, "mykey_revoked")
    login = await resident.login()
    assert (login.status_code, login.json()["code"]) == (403, "mykey_revoked")
    assert (await resident.get("/v1/me")).status_code == 401  # its sessions ended


async def test_a_reason_holding_a_my_number_is_refused_and_changes_nothing(hub: Hub) -> None:
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    mykey_id = resident.mykey_id
    assert mykey_id is not None
    full_width = MY_NUMBER.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    for reason in (
        f"本人確認済み {MY_NUMBER}",
        f"番号 {MY_NUMBER[:4]}-{MY_NUMBER[4:8]}-{MY_NUMBER[8:]}",
        f"番号 {full_width}",
    ):
        for verb in ("suspend", "revoke"):
            refused = await action(hub, mykey_id, verb, reason)
            assert (refused["http"], refused["code"]) == (422, "contains_my_number")
    overview = await hub.http.get(f"/v1/operator/mykeys/{mykey_id}", headers=hub.operator_headers)
    assert overview.json()["status"] == "active"
    assert overview.json()["history"] == []
    assert (await resident.get("/v1/me")).status_code == 200


async def test_unknown_mykey_ids_and_blank_reasons(hub: Hub) -> None:
    assert (await action(hub, "ZZZZZZZZ", "suspend"))["http"] == 404
    resident = hub.resident()
    assert (await resident.login()).status_code == 201
    assert resident.mykey_id is not None
    blank = await action(hub, resident.mykey_id, "suspend", "   ")
    assert (blank["http"], blank["code"]) == (422, "validation_error")
