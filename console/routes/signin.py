"""Signing in with an API key, signing out, and the console's front door."""

from __future__ import annotations

from fastapi import Query, Request, Response

from api.deps import Context
from api.middleware import note_principal
from console import session as cookies
from console.auth import HOME, CsrfChecked, SignInRequired, load_user, safe_next, sign_in
from console.pages import redirect, render, settings_of, translator
from domain.errors import RuleViolation

from . import console_router

router = console_router()


@router.get("/")
async def front_door(request: Request, ctx: Context) -> Response:
    """Signed in: the role's first page; otherwise the sign-in form."""
    try:
        user = await load_user(request, ctx)
    except SignInRequired:
        return redirect(request, "/console/login")
    return redirect(request, user.home)


@router.get("/login")
async def login_form(
    request: Request, next_path: str | None = Query(None, alias="next", max_length=500)
) -> Response:
    return render(request, "login.html", {"next": safe_next(next_path, "")})


@router.post("/login", dependencies=[CsrfChecked])
async def login(request: Request, ctx: Context) -> Response:
    """A fresh session (and CSRF token) for the key's ID; the key itself is not kept."""
    form = await request.form()
    key = form.get("api_key")
    target = form.get("next")
    try:
        principal = await sign_in(ctx, key if isinstance(key, str) else "")
    except RuleViolation as refused:
        context = {
            "next": safe_next(target if isinstance(target, str) else None, ""),
            "error": translator(request).error(refused.code, refused.detail),
        }
        return render(request, "login.html", context, status=refused.status)
    note_principal(request, principal)
    fresh = cookies.new_session(principal.key_id)
    response = redirect(
        request,
        safe_next(target if isinstance(target, str) else None, HOME[principal.role]),
        "flash.signed_in",
    )
    cookies.write(response, request, settings_of(request), fresh)
    return response


@router.post("/logout", dependencies=[CsrfChecked])
async def logout(request: Request) -> Response:
    response = redirect(request, "/console/login", "flash.signed_out")
    cookies.clear(response)
    return response
