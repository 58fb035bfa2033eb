"""Rendering console pages: templates, the language, the session cookie, refusals as pages.

`ConsoleRoute` is the route class of every console router: a refused rule becomes an HTML page
(or, for an htmx request, a fragment) in the reader's language instead of the API's problem JSON,
a missing session becomes a redirect to the sign-in form, and every answer carries headers that
keep it out of frames, caches and other origins' scripts.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from domain.errors import RuleViolation
from hub.settings import Settings

from . import i18n
from . import session as cookies
from .auth import ConsoleUser, SignInRequired

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["points"] = i18n.points
templates.env.filters["actor"] = i18n.actor
templates.env.filters["jst"] = i18n.jst
templates.env.filters["jst_input"] = i18n.jst_input

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.hub.settings
    return settings


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


@dataclass
class PageState:
    t: i18n.Translator
    lang_from_query: bool
    session: cookies.ConsoleSession | None
    flash: tuple[str, dict[str, Any]] | None


def page_state(request: Request) -> PageState:
    found = getattr(request.state, "console_page", None)
    if isinstance(found, PageState):
        return found
    settings = settings_of(request)
    lang, from_query = i18n.choose_language(request)
    state = PageState(
        t=i18n.Translator(lang),
        lang_from_query=from_query,
        session=cookies.read(request, settings),
        flash=cookies.read_flash(request, settings),
    )
    request.state.console_page = state
    return state


def translator(request: Request) -> i18n.Translator:
    return page_state(request).t


def _switch_url(request: Request, lang: str) -> str:
    other = "en" if lang == "ja" else "ja"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    query["lang"] = other
    return f"{request.url.path}?{urlencode(query)}"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    session: cookies.ConsoleSession | None = None,
) -> HTMLResponse:
    """A page in the reader's language; the session cookie is (re)written when it is new."""
    page = page_state(request)
    settings = settings_of(request)
    current = session or page.session or cookies.new_session()
    user: ConsoleUser | None = getattr(request.state, "console_user", None)
    flash = None
    if page.flash is not None and not is_htmx(request):
        flash = page.t(page.flash[0], **page.flash[1])
    values = {
        "t": page.t,
        "lang": page.t.lang,
        "csrf": current.csrf,
        "user": user,
        "flash": flash,
        "switch_url": _switch_url(request, page.t.lang),
        "path": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, values, status_code=status)
    if current is not page.session:
        cookies.write(response, request, settings, current)
    if page.lang_from_query:
        response.set_cookie(
            i18n.LANG_COOKIE, page.t.lang, max_age=365 * 86400, path="/console", samesite="lax"
        )
    if flash is not None:
        cookies.clear_flash(response)
    return response


def redirect(request: Request, url: str, flash: str | None = None, **params: Any) -> Response:
    """After a change, back to a page (POST, redirect, GET), with a one-time message."""
    response = RedirectResponse(url, status_code=303)
    if flash is not None:
        cookies.set_flash(response, request, settings_of(request), flash, **params)
    return response


def refusal(
    request: Request, status: int, code: str, detail: str, extra: dict[str, Any] | None = None
) -> HTMLResponse:
    t = translator(request)
    template = "partials/refusal.html" if is_htmx(request) else "refusal.html"
    context = {"status": status, "code": code, "message": t.error(code, detail), "extra": extra}
    return render(request, template, context, status=status)


def _sign_in_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    url = "/console/login?" + urlencode({"next": target})
    if is_htmx(request):
        return Response(status_code=401, headers={"hx-redirect": url})
    return RedirectResponse(url, status_code=303)


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                response = _sign_in_redirect(request)
            except RuleViolation as exc:
                response = refusal(request, exc.status, exc.code, exc.detail, exc.extra)
            except RequestValidationError:
                response = refusal(request, 422, "validation_error", "")
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return guarded
