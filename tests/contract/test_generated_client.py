"""The committed OpenAPI document tells the truth: a client generated from it (openapi-python-
client) onboards a municipality and a provider and carries a resident through the whole
lifecycle against a running hub, the virtual My Number Card signing for login and card proofs:
login → register → apply → receipt → credited. Every answer is parsed by the generated models;
a field the document leaves out, a wrong type, an unknown enum value or an undocumented status
fails the test."""

from __future__ import annotations

import asyncio
import base64
import importlib
import secrets
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from tests.contract.generated_client import generate, undocumented
from tests.support.stack import Hub

CODE = "131016"


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return generate(tmp_path_factory.mktemp("generated-client"))


def parsed(response: Any, status: int) -> Any:
    """The generated model of a response, which must have the expected status and no field
    the document does not describe."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response.parsed is not None
    assert undocumented(response.parsed) == [], "the document leaves these fields out"
    return response.parsed


class Api:
    """The generated package: `api.call("resident.apply")` is its `apply` operation module."""

    def __init__(self, package: ModuleType) -> None:
        self.package = package
        self.models = importlib.import_module(f"{package.__name__}.models")

    def call(self, operation: str) -> Any:
        return importlib.import_module(f"{self.package.__name__}.api.{operation}")


async def card_proof(api: Api, anonymous: Any, card: Any) -> Any:
    challenge = parsed(
        await api.call("resident.create_challenge").asyncio_detailed(client=anonymous),
        201,
    )
    signature = card.sign(base64.b64decode(challenge.nonce), card.pin)
    return api.models.CardProofBody(
        challenge_id=challenge.challenge_id,
        certificate=base64.b64encode(card.certificate_der).decode(),
        signature=base64.b64encode(signature).decode(),
    )


async def test_a_generated_client_runs_the_resident_lifecycle(
    hub: Hub, client_package: ModuleType
) -> None:
    api = Api(client_package)
    models = api.models
    operator = client_package.AuthenticatedClient(
        base_url=hub.api_url,
        token=hub.operator_headers["authorization"].split()[1],
        raise_on_unexpected_status=True,
    )
    anonymous = client_package.Client(base_url=hub.api_url, raise_on_unexpected_status=True)

    # Onboarding, as the operator and the municipality would do it.
    created = await api.call("operator.create_municipality").asyncio_detailed(
        client=operator, body=models.MunicipalityBody(code=CODE, name="千代田区")
    )
    assert created.status_code in (201, 409)
    provider_id = f"gen-{secrets.token_hex(4)}"
    sim = hub.add_sim_provider(provider_id, "sync")
    config = models.ProviderBodyConfig.from_dict(
        {
            "base_url": f"{hub.sim_url}/p/{provider_id}",
            "signing_secret": sim.signing_secret,
            "webhook_secrets": [sim.webhook_secret],
            "ack_mode": "sync",
            "ack_deadline_s": 60,
            "retry": {"initial_interval_s": 0.2, "backoff": 2, "max_interval_s": 2},
        }
    )
    provider = parsed(
        await api.call("operator.create_provider").asyncio_detailed(
            client=operator,
            body=models.ProviderBody(
                provider_id=provider_id, name="Generated", adapter="hub_rest", config=config
            ),
        ),
        201,
    )
    assert provider.secrets_set == ["signing_secret", "webhook_secrets"]
    service_id = f"{provider_id}-pay"
    parsed(
        await api.call("operator.create_payment_service").asyncio_detailed(
            client=operator,
            body=models.PaymentServiceBody(
                payment_service_id=service_id, name="生成ペイ", provider_id=provider_id
            ),
        ),
        201,
    )
    key = parsed(
        await api.call("operator.create_api_key").asyncio_detailed(
            client=operator,
            body=models.ApiKeyBody(role=models.Role.MUNICIPALITY, scope=CODE),
        ),
        201,
    )
    staff = client_package.AuthenticatedClient(
        base_url=hub.api_url, token=key.key, raise_on_unexpected_status=True
    )
    now = datetime.now(UTC)
    measure = parsed(
        await api.call("municipality.create_measure").asyncio_detailed(
            CODE,
            client=staff,
            body=models.MeasureBody(
                title="生成クライアント応援ポイント",
                kind="application",
                points_per_grant=700,
                per_person_cap=700,
                opens_at=now - timedelta(days=1),
                closes_at=now + timedelta(days=30),
                receipt_deadline=now + timedelta(days=60),
                payment_services=[
                    models.OfferBody(
                        payment_service_id=service_id, available_from=now - timedelta(days=1)
                    )
                ],
            ),
        ),
        201,
    )
    assert measure.state == models.MeasureState.DRAFT
    published = parsed(
        await api.call("municipality.publish_measure").asyncio_detailed(
            CODE, measure.measure_id, client=staff
        ),
        200,
    )
    assert published.state == models.MeasureState.PUBLISHED

    # The resident, with a virtual My Number Card.
    card = hub.card()
    login = parsed(
        await api.call("resident.create_session").asyncio_detailed(
            client=anonymous, body=await card_proof(api, anonymous, card)
        ),
        201,
    )
    assert login.mykey_issued is True and len(login.mykey_id) == 8
    resident = client_package.AuthenticatedClient(
        base_url=hub.api_url, token=login.token, raise_on_unexpected_status=True
    )
    listed = parsed(
        await api.call("resident.list_published_measures").asyncio_detailed(
            client=resident, municipality_code=CODE, limit=200
        ),
        200,
    )
    assert measure.measure_id in [m.measure_id for m in listed.items]

    account = f"acct-{secrets.token_hex(4)}"
    registration = parsed(
        await api.call("resident.register_my_payment_service").asyncio_detailed(
            client=resident,
            body=models.RegistrationBody(
                payment_service_id=service_id,
                account_id=account,
                security_code="1234",
                card_proof=await card_proof(api, anonymous, card),
            ),
        ),
        201,
    )
    mine = parsed(
        await api.call("resident.list_my_payment_services").asyncio_detailed(client=resident),
        200,
    )
    assert [r.account_id[-4:] for r in mine.items] == [account[-4:]]
    assert account not in [r.account_id for r in mine.items]

    decision = parsed(
        await api.call("resident.apply").asyncio_detailed(
            measure.measure_id,
            client=resident,
            body=models.ApplicationBody(
                payment_service_registration_id=registration.registration_id
            ),
        ),
        201,
    )
    assert decision.status == models.ApplicationStatus.GRANTED
    [grant] = decision.grants
    mine_to_measure = parsed(
        await api.call("resident.my_applications_to_measure").asyncio_detailed(
            measure.measure_id, client=resident
        ),
        200,
    )
    [application] = mine_to_measure.items
    assert application.application_id == decision.application_id
    assert application.fixed_registration_id == registration.registration_id
    again = await api.call("resident.apply").asyncio_detailed(
        measure.measure_id, client=resident, body=models.ApplicationBody()
    )
    assert again.status_code == 409 and again.parsed.code == "already_applied"

    requested = parsed(
        await api.call("resident.request_receipt").asyncio_detailed(
            client=resident,
            body=models.ReceiptRequestBody(
                grant_ids=[grant.grant_id],
                payment_service_registration_id=registration.registration_id,
                card_proof=await card_proof(api, anonymous, card),
            ),
        ),
        202,
    )
    [receipt] = requested.receipts

    points = None
    for _ in range(300):
        points = parsed(await api.call("resident.my_points").asyncio_detailed(client=resident), 200)
        if points.totals.additional_properties.get("credited") == 700:
            break
        await asyncio.sleep(0.1)
    assert points is not None and points.grants[0].state == models.GrantState.CREDITED
    receipts = parsed(await api.call("resident.my_receipts").asyncio_detailed(client=resident), 200)
    assert [(r.receipt_id, r.state) for r in receipts.items] == [
        (receipt.receipt_id, models.ReceiptState.CREDITED)
    ]
    me = parsed(await api.call("resident.me").asyncio_detailed(client=resident), 200)
    assert me.status == models.MyKeyStatus.ACTIVE
    ledger = await hub.sim_ledger(provider_id)
    assert [(c["receipt_id"], c["applied"]) for c in ledger["credits"]] == [(receipt.receipt_id, 1)]
