"""The demo data `mph dev` seeds once: 千代田区, simulated providers, a published measure, keys.

Keys are stored hashed like any other, so the plain keys are written to `.data/demo.json` the
first time and read back from there on every later start.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from adapters.signing import new_secret
from domain.measures import MeasureState, ServiceOffer
from services import measures, operator
from services.context import HubContext
from simulators.providers import SimProviderConfig, hub_side_config
from storage.keys import Role
from storage.models import Municipality

DEMO_MUNICIPALITY = ("131016", "千代田区")
DEMO_PROVIDERS = [
    # provider id, payment service id, service name, acknowledgement mode
    ("paysim", "paysim-pay", "PaySim ペイ", "sync"),
    ("paywave", "paywave-pay", "PayWave ペイ", "webhook"),  # acknowledges by signed webhook
    ("paybatch", "paybatch-pay", "PayBatch バンク", "batch"),  # credit files at a cut-off
]


@dataclass
class DemoData:
    api_url: str
    sim_url: str
    municipality_code: str
    municipality_key: str
    support_key: str
    measure_id: str
    payment_service_id: str
    provider_id: str


def sim_configs(
    sim_url: str, hub_url: str, data_dir: Path = Path(".data")
) -> list[SimProviderConfig]:
    batches = (data_dir / "batches").resolve()
    return [
        SimProviderConfig(
            provider_id=provider_id,
            signing_secret=new_secret(),
            webhook_secret=new_secret(),
            mode=mode,
            hub_webhook_url=f"{hub_url}/v1/providers/{provider_id}/webhooks",
            outbox_dir=str(batches / provider_id / "outbox") if mode == "batch" else "",
            inbox_dir=str(batches / provider_id / "inbox") if mode == "batch" else "",
        )
        for provider_id, _, _, mode in DEMO_PROVIDERS
    ]


async def seed_demo(ctx: HubContext, data_dir: Path, api_url: str, sim_url: str) -> DemoData:
    demo_file = data_dir / "demo.json"
    sim_file = data_dir / "sim.json"
    if demo_file.exists() and sim_file.exists():
        return DemoData(**json.loads(demo_file.read_text()))
    async with ctx.sessions() as session:
        already = await session.get(Municipality, DEMO_MUNICIPALITY[0])
    if already is not None:
        raise RuntimeError(
            f"{data_dir} holds a database but not {demo_file.name}; remove {data_dir} to re-seed"
        )
    configs = sim_configs(sim_url, api_url, data_dir)
    code, name = DEMO_MUNICIPALITY
    await operator.create_municipality(ctx, code, name)
    for config, (provider_id, service_id, service_name, _) in zip(
        configs, DEMO_PROVIDERS, strict=True
    ):
        adapter, connection = hub_side_config(config, sim_url)
        await operator.create_provider(
            ctx,
            provider_id,
            f"{service_name} (simulated)",
            adapter,
            {
                **connection,
                "ack_deadline_s": 600,
                "rate_limit_per_s": 200,
                "retry": {
                    "initial_interval_s": 1,
                    "backoff": 2,
                    "max_interval_s": 60,
                    "max_attempts": 20,
                },
            },
        )
        await operator.create_payment_service(ctx, service_id, service_name, provider_id)
    _, municipality_key = await operator.create_api_key(ctx, Role.MUNICIPALITY, code, "demo")
    _, support_key = await operator.create_api_key(ctx, Role.SUPPORT, None, "demo")
    now = ctx.clock()
    measure = await measures.create(
        ctx,
        code,
        measures.MeasureDraft(
            title="千代田区 子育て応援ポイント",
            description="区内在住の子育て世帯を応援するポイントです。申請するとすぐに付与されます。",
            kind="application",
            points_per_grant=5000,
            per_person_cap=5000,
            budget_points=50_000_000,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=365),
            receipt_deadline=now + timedelta(days=400),
            target_list_only=False,
            auto_grant=False,
            review_required=False,
            late_report_days=0,
            payment_services=[
                ServiceOffer(service_id, now - timedelta(days=1))
                for _, service_id, _, _ in DEMO_PROVIDERS
            ],
        ),
    )
    await measures.transition(ctx, code, measure.id, MeasureState.PUBLISHED)
    demo = DemoData(
        api_url=api_url,
        sim_url=sim_url,
        municipality_code=code,
        municipality_key=municipality_key,
        support_key=support_key,
        measure_id=measure.id,
        payment_service_id=DEMO_PROVIDERS[0][1],
        provider_id=DEMO_PROVIDERS[0][0],
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    sim_file.write_text(json.dumps({"providers": [asdict(c) for c in configs]}, indent=2))
    sim_file.chmod(0o600)
    demo_file.write_text(json.dumps(asdict(demo), indent=2, ensure_ascii=False))
    demo_file.chmod(0o600)
    return demo
