"""The refusal lane (`api/refusal_lane.py`): which requests it takes, and its own limit."""

from __future__ import annotations

import asyncio
import json

from starlette.types import Message, Receive, Scope, Send

from api.middleware import InFlightLimit
from api.refusal_lane import RefusalLane, in_lane
from api.shedding import LoadGauge


def _apply(measure_id: str, method: str = "POST") -> Scope:
    return {"type": "http", "method": method, "path": f"/v1/measures/{measure_id}/applications"}


def test_it_takes_only_applications_to_a_measure_seen_used_up() -> None:
    lane = RefusalLane(limit=8)
    assert not lane.takes(_apply("msr_1"))
    lane.budget_gone("msr_1")
    assert lane.takes(_apply("msr_1"))
    assert not lane.takes(_apply("msr_2"))
    assert not lane.takes(_apply("msr_1", method="GET"))  # the resident's own applications
    assert not lane.takes({"type": "http", "method": "POST", "path": "/v1/measures/msr_1"})
    assert not lane.takes({"type": "http", "method": "POST", "path": "/v1/me/receipts"})


async def _answers(app: InFlightLimit, scope: Scope) -> tuple[int, dict[str, str], bytes]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(dict(scope), receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return int(sent[0]["status"]), headers, b"".join(m.get("body", b"") for m in sent[1:])


async def test_past_its_own_limit_the_lane_sheds_and_the_main_limit_is_untouched() -> None:
    release = asyncio.Event()
    seen_in_lane: list[bool] = []

    async def held(scope: Scope, receive: Receive, send: Send) -> None:
        seen_in_lane.append(in_lane(scope))
        await release.wait()
        await send({"type": "http.response.start", "status": 409, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    lane = RefusalLane(limit=1)
    lane.budget_gone("msr_1")
    gauge = LoadGauge()
    app = InFlightLimit(held, limit=1, gauge=gauge, lane=lane)

    first = asyncio.create_task(_answers(app, _apply("msr_1")))  # the lane's one place
    main = asyncio.create_task(_answers(app, _apply("msr_2")))  # the main limit's one place
    await asyncio.sleep(0)
    assert (lane.in_flight, gauge.in_flight) == (1, 1)
    status, headers, body = await _answers(app, _apply("msr_1"))
    assert status == 503 and int(headers["retry-after"]) >= 1
    assert json.loads(body)["code"] == "overloaded"
    assert (await _answers(app, _apply("msr_2")))[0] == 503  # the main limit sheds its own
    release.set()
    assert (await first)[0] == 409 and (await main)[0] == 409
    assert seen_in_lane == [True, False]
    assert (lane.in_flight, gauge.in_flight) == (0, 0)
