"""The JPKI services a hub calls, for the test CA: its CRLs and the old/new linking endpoint.

`GET /crl` (the first root generation) or `GET /crl/{generation}` → a DER CRL, freshly signed,
valid for `crl_validity`; `GET /links/{serial_hex}` → 200 `{"previous_serial"}` or 404 (SPEC §5).
The CAs are read through a callable on every request, so `mph card renew|revoke`, writing the CA
file from another process, shows at once. Setting `app.state.down = True` makes every endpoint
answer 503, as an outage would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from adapters.jpki.links import normalise_serial
from simulators.jpki import TestCA

CRL_MEDIA_TYPE = "application/pkix-crl"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_jpki_service(
    cas: Callable[[], Sequence[TestCA]],
    *,
    crl_validity: timedelta = timedelta(hours=1),
    clock: Callable[[], datetime] = _utcnow,
) -> FastAPI:
    app = FastAPI(title="JPKI test services (CRL, old/new linking)")
    app.state.down = False

    def unavailable() -> JSONResponse | None:
        if app.state.down:
            return JSONResponse({"error": "service unavailable"}, status_code=503)
        return None

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/crl", response_model=None)
    async def first_crl() -> Response:
        return await crl(0)

    @app.get("/crl/{generation}", response_model=None)
    async def crl(generation: int) -> Response:
        if (down := unavailable()) is not None:
            return down
        generations = list(cas())
        if not 0 <= generation < len(generations):
            return JSONResponse({"error": "no such CA generation"}, status_code=404)
        now = clock()
        der = generations[generation].crl_der(this_update=now, next_update=now + crl_validity)
        return Response(der, media_type=CRL_MEDIA_TYPE)

    @app.get("/links/{serial_hex}", response_model=None)
    async def link(serial_hex: str) -> Response:
        if (down := unavailable()) is not None:
            return down
        try:
            serial = normalise_serial(serial_hex)
        except ValueError:
            return JSONResponse({"error": "not a serial"}, status_code=404)
        for ca in cas():
            previous = ca.previous_serial(serial)
            if previous is not None:
                return JSONResponse({"previous_serial": previous})
        return JSONResponse({"error": "no predecessor"}, status_code=404)

    return app


def from_directory(directory: Path) -> Callable[[], list[TestCA]]:
    """The CA `mph dev` keeps under the data directory, read afresh on every call."""
    return lambda: [TestCA.load(directory)]
