"""Nothing the hub stores or logs holds a PIN, a private key or a My Number (SPEC §1, §6).

A resident goes from login to credited points, with a security code and an operator who tries
to write a My Number into a reason; then every text, binary and JSON column of every table, the
workflow's history and every log record of the run are searched for each secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import unicodedata
from datetime import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import MetaData, select

from domain.identifiers import my_number_check_digit
from services.applications import application_ids
from tests.identity.stack_support import grant_of, wait_for_grant
from tests.support.scenario import onboard
from tests.support.stack import Hub

PIN = "7391"
SECURITY_CODE = "8642"
MY_NUMBER = "98765432101" + str(my_number_check_digit("98765432101"))


class Secrets:
    def __init__(self, private_key_pem: str) -> None:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        self.key_der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        body = [line for line in private_key_pem.splitlines() if "-----" not in line]
        self.key_fragments = [line for line in body[1:-1] if len(line) >= 40][:5]
        self.tokens = {"PIN": PIN, "security code": SECURITY_CODE}

    def found_in(self, value: Any) -> list[str]:
        if value is None or isinstance(value, int | float | datetime):
            return []
        if isinstance(value, bytes | memoryview):
            raw = bytes(value)
            return ["private key"] if self.key_der[16:80] in raw else []
        text = (
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        )
        found = []
        for what, token in self.tokens.items():
            if re.search(rf"(?<![0-9A-Za-z]){token}(?![0-9A-Za-z])", text):
                found.append(what)
        if re.search(r'"(pin|security_code)"\s*:', text, re.IGNORECASE):
            found.append("PIN or security code field")
        if "PRIVATE KEY" in text or any(f in text for f in self.key_fragments):
            found.append("private key")
        digits = re.sub(r"[\s\-‐‑‒–—―−ー－]", "", unicodedata.normalize("NFKC", text))
        if MY_NUMBER in digits:
            found.append("My Number")
        return found


async def test_no_pin_private_key_or_my_number_is_stored_or_logged(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    setup = await onboard(hub)
    card = hub.card(pin=PIN)
    secrets = Secrets(card.private_key_pem)
    assert secrets.found_in(card.private_key_pem) == ["private key"]  # the search can find
    assert secrets.found_in(secrets.key_der) == ["private key"]
    assert secrets.found_in({"pin": PIN}) == ["PIN", "PIN or security code field"]
    assert secrets.found_in(f"{MY_NUMBER[:4]} {MY_NUMBER[4:8]} {MY_NUMBER[8:]}") == ["My Number"]
    resident = hub.resident(card)
    registration_id = await resident_registration(hub, resident, setup.payment_service_id)
    grant_id = await grant_of(resident, setup.measure_id)
    receipt = await resident.request_receipt([grant_id], registration_id)
    assert receipt.status_code == 202, receipt.text
    await wait_for_grant(resident, grant_id, {"credited"})
    for reason in (f"番号は{MY_NUMBER}", f"{MY_NUMBER[:4]}-{MY_NUMBER[4:8]}-{MY_NUMBER[8:]}"):
        refused = await hub.http.post(
            f"/v1/operator/mykeys/{resident.mykey_id}/suspend",
            json={"reason": reason},
            headers=hub.operator_headers,
        )
        assert refused.json()["code"] == "contains_my_number"

    leaks: list[str] = []
    metadata = MetaData()
    async with hub.ctx.engine.connect() as connection:
        await connection.run_sync(metadata.reflect)
        for table in metadata.sorted_tables:
            for row in (await connection.execute(select(table))).mappings():
                for column, value in row.items():
                    leaks += [f"{table.name}.{column}: {w}" for w in secrets.found_in(value)]
    workflow_id = application_ids(hub.ctx, setup.measure_id, str(resident.mykey_id))[1]
    handle = hub.client.get_workflow_handle(workflow_id)
    async with asyncio.timeout(30):
        await handle.result()  # the whole history, the credit activity's completion included
    history = await handle.fetch_history()
    leaks += [f"workflow history: {w}" for w in secrets.found_in(history.to_json())]
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        leaks += [f"log {record.name}: {w}" for w in secrets.found_in(text)]

    assert len(caplog.records) > 0 and metadata.sorted_tables
    assert leaks == []


async def resident_registration(hub: Hub, resident: Any, service_id: str) -> str:
    login = await resident.login()
    assert login.status_code == 201, login.text
    registered = await resident.register_service(service_id, "secret-scan-01", SECURITY_CODE)
    assert registered.status_code == 201, registered.text
    registration_id: str = registered.json()["registration_id"]
    return registration_id
