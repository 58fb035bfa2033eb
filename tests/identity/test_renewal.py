"""Renewal (更新): a certificate the hub has never seen is looked up in the JPKI linking service,
and a renewed card keeps its MyKey ID (FAQ: 再度手続不要), however many renewals ago the hub last
saw it. When the linking service cannot answer, nobody gets a new MyKey ID."""

from __future__ import annotations

from datetime import timedelta

from simulators.jpki import VirtualCard
from tests.identity.conftest import IdentityHub


async def first_login(hub: IdentityHub, card: VirtualCard) -> str:
    response = await hub.login(card)
    assert response.status_code == 201, response.text
    assert response.json()["mykey_issued"] is True
    mykey_id: str = response.json()["mykey_id"]
    return mykey_id


def renew(hub: IdentityHub, card: VirtualCard, *, revoke_previous: bool = True) -> VirtualCard:
    return hub.ca.renew_card(
        card, issued_at=hub.clock() - timedelta(hours=2), revoke_previous=revoke_previous
    )


async def test_a_chain_of_renewals_keeps_the_mykey_id(ihub: IdentityHub) -> None:
    card = ihub.card()
    mykey_id = await first_login(ihub, card)
    chain = [card]
    for _ in range(3):  # renewed three times without logging in in between
        chain.append(renew(ihub, chain[-1]))
    await ihub.refresh_crls()
    before = await ihub.counts()
    response = await ihub.login(chain[-1])
    assert response.status_code == 201, response.text
    assert response.json()["mykey_id"] == mykey_id
    assert response.json()["mykey_issued"] is False
    after = await ihub.counts()
    assert after.mykeys == before.mykeys
    assert after.bindings == before.bindings + 1

    overview = await ihub.http.get(f"/v1/operator/mykeys/{mykey_id}", headers=ihub.operator)
    certificates = overview.json()["certificates"]
    assert [c["serial_hex"] for c in certificates] == [card.serial_hex, chain[-1].serial_hex]
    assert certificates[1]["predecessor_serial_hex"] == chain[-2].serial_hex


async def test_the_replaced_certificate_is_revoked_the_renewed_one_works(
    ihub: IdentityHub,
) -> None:
    card = ihub.card()
    mykey_id = await first_login(ihub, card)
    renewed = renew(ihub, card)
    await ihub.refresh_crls()
    old = await ihub.login(card)
    assert old.json()["code"] == "certificate_revoked"
    assert (await ihub.login(renewed)).json()["mykey_id"] == mykey_id


async def test_a_renewal_by_the_next_root_generation_keeps_the_mykey_id(
    ihub: IdentityHub,
) -> None:
    old_root, new_root = ihub.cas
    card = ihub.card(ca=old_root)
    mykey_id = await first_login(ihub, card)
    renewed = new_root.renew_card(
        card, issued_at=ihub.clock() - timedelta(hours=2), revoke_previous=False
    )
    assert renewed.certificate.issuer == card.certificate.issuer  # one name, two keys
    response = await ihub.login(renewed)
    assert response.status_code == 201, response.text
    assert response.json()["mykey_id"] == mykey_id


async def test_linking_service_down_leaves_the_mykey_count_unchanged(ihub: IdentityHub) -> None:
    card = ihub.card()
    mykey_id = await first_login(ihub, card)
    renewed = renew(ihub, card, revoke_previous=False)
    before = await ihub.counts()
    ihub.jpki.state.down = True
    try:
        response = await ihub.login(renewed)
    finally:
        ihub.jpki.state.down = False
    assert response.status_code == 503
    assert response.json()["code"] == "link_service_unavailable"
    assert await ihub.counts() == before
    later = await ihub.login(renewed)
    assert later.json()["mykey_id"] == mykey_id
    assert (await ihub.counts()).mykeys == before.mykeys


async def test_a_renewal_of_a_revoked_mykey_id_stays_revoked(ihub: IdentityHub) -> None:
    card = ihub.card()
    mykey_id = await first_login(ihub, card)
    revoked = await ihub.operator_action(mykey_id, "revoke", "不正利用のため失効")
    assert revoked.status_code == 200, revoked.text
    renewed = renew(ihub, card, revoke_previous=False)
    before = await ihub.counts()
    response = await ihub.login(renewed)
    assert response.status_code == 403
    assert response.json()["code"] == "mykey_revoked"
    assert await ihub.counts() == before


async def test_a_card_issued_anew_without_a_link_is_a_new_resident(ihub: IdentityHub) -> None:
    first = await first_login(ihub, ihub.card())
    second = await first_login(ihub, ihub.card())
    assert first != second
