"""Request and response bodies shared by several routers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CardProofBody(Strict):
    challenge_id: str = Field(min_length=1, max_length=64)
    certificate: str = Field(min_length=1, max_length=20000, description="base64 DER")
    signature: str = Field(min_length=1, max_length=4000, description="base64")


class GrantOut(BaseModel):
    grant_id: str
    measure_id: str
    event_id: str | None = None
    points: int
    state: str


class ReceiptOut(BaseModel):
    receipt_id: str
    grant_id: str
    payment_service_id: str
    points: int
    state: str
    created_at: str
    finished_at: str | None = None
