"""The staff console: server-rendered pages under `/console/` for municipality and support staff.

Pages call the same services as the v1 API, so every rule, scope check and audit entry is the
API's; the console adds sign-in with an API key kept in a signed cookie session, CSRF tokens on
every form, Japanese messages with an English switch, and a little htmx served from the package
(`static/htmx.min.js`, htmx 2.0.11 from its npm package, Zero-Clause BSD licence; no build step,
nothing loaded from the internet). None of its routes is in the OpenAPI schema: they are pages,
not API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Static files first, then the pages, then the console's own not-found page."""
    from console.routes import all_routers

    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    for router in all_routers():
        app.include_router(router)
