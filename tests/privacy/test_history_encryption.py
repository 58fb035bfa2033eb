"""A whole lifecycle's history on the Temporal server holds no MyKey ID or account ID in clear;
an operator decodes it through the codec endpoint with the hub's keys."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable, Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload

from services.applications import application_ids
from tests.audit.lifecycle import credited_resident
from tests.support.stack import Hub


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere inside a history event."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = value.values()
        elif getattr(field, "is_repeated", False) or isinstance(value, Iterable):
            values = value
        else:
            values = [value]
        for item in values:
            if isinstance(item, Message):
                yield from payloads_in(item)


def as_json(payload: Payload) -> dict:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def test_a_lifecycle_history_is_unreadable_without_the_key(hub: Hub) -> None:
    done = await credited_resident(hub)
    mykey_id = done.resident.mykey_id
    assert mykey_id
    workflow_id = application_ids(hub.ctx, done.setup.measure_id, mykey_id)[1]
    handle = hub.client.get_workflow_handle(workflow_id)
    # The grant reads `credited` once the credit activity has recorded the answer, a moment
    # before the activity's completion reaches the server: the whole history is there once
    # the workflow has finished.
    async with asyncio.timeout(30):
        await handle.result()
    history = await handle.fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert len(history.events) >= 8  # started, signalled, tasks, the credit activity
    for identifier in (mykey_id, done.account_id):
        assert identifier.encode() not in raw
        assert identifier not in history.to_json()

    # The SDK's own bookkeeping (search attributes, trace headers, marker metadata) stays
    # readable; every payload the hub's code produced is sealed.
    payloads = [
        p
        for event in history.events
        for p in payloads_in(event)
        if p.metadata.get("encoding") == b"binary/encrypted"
    ]
    assert len(payloads) >= 4  # input, signal, credit input and result, at least
    decoded = await hub.http.post(
        "/v1/operator/codec/decode",
        json={"payloads": [as_json(p) for p in payloads]},
        headers=hub.operator_headers,
    )
    assert decoded.status_code == 200, decoded.text
    clear = b"".join(base64.b64decode(p["data"]) for p in decoded.json()["payloads"])
    assert mykey_id.encode() in clear  # the check above is not vacuous


async def test_the_codec_endpoint_round_trips_and_refuses_unknown_keys(hub: Hub) -> None:
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": "e30="}
    encoded = await hub.http.post(
        "/v1/operator/codec/encode", json={"payloads": [plain]}, headers=hub.operator_headers
    )
    assert encoded.status_code == 200, encoded.text
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    decoded = await hub.http.post(
        "/v1/operator/codec/decode", json={"payloads": [sealed]}, headers=hub.operator_headers
    )
    assert decoded.json()["payloads"] == [plain]

    sealed["metadata"]["encryption-key-id"] = base64.b64encode(b"retired-2019").decode()
    refused = await hub.http.post(
        "/v1/operator/codec/decode", json={"payloads": [sealed]}, headers=hub.operator_headers
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "payload_not_decodable"
    assert "retired-2019" in refused.json()["detail"]


async def test_only_operators_may_use_the_codec(hub: Hub) -> None:
    body: dict[str, list] = {"payloads": []}
    anonymous = await hub.http.post("/v1/operator/codec/decode", json=body)
    assert anonymous.status_code == 401
    key = await hub.http.post(
        "/v1/operator/api-keys", json={"role": "support"}, headers=hub.operator_headers
    )
    support = {"authorization": f"Bearer {key.json()['key']}"}
    forbidden = await hub.http.post("/v1/operator/codec/decode", json=body, headers=support)
    assert forbidden.status_code == 403


async def test_the_temporal_ui_may_call_the_codec_from_the_browser(hub: Hub) -> None:
    preflight = {
        "origin": "http://127.0.0.1:8233",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,x-namespace",
    }
    allowed = await hub.http.options("/v1/operator/codec/decode", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
    elsewhere = await hub.http.options("/v1/operator/audit/verify", headers=preflight)
    assert "access-control-allow-origin" not in elsewhere.headers
    stranger = await hub.http.options(
        "/v1/operator/codec/decode", headers={**preflight, "origin": "http://evil.example"}
    )
    assert stranger.headers.get("access-control-allow-origin") != "http://evil.example"
