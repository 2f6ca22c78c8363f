"""The FastAPI app: sign-in and sign-out, errors as JSON, /api/health, and the route modules.

Every route decides access through docket.access (never in a template); forms carry a CSRF
token bound to the session; sessions live in an HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from docket import access, accounts, clock
from docket.errors import DocketError, NotFoundError
from docket.locker import Locker
from docket.web import case_routes, incident_routes, item_routes
from docket.web.guard import (
    COOKIE,
    TEMPLATES,
    BadCsrf,
    NotSignedIn,
    Person,
    check_csrf,
    transaction,
)


def create_app(locker: Locker) -> FastAPI:
    app = FastAPI(title="Docket", version="0.1.0")
    app.state.locker = locker
    app.include_router(incident_routes.router)
    app.include_router(case_routes.router)
    app.include_router(item_routes.router)

    @app.exception_handler(DocketError)
    def on_error(request: Request, exc: DocketError) -> Response:
        if isinstance(exc, NotSignedIn) and not request.url.path.startswith("/api"):
            return RedirectResponse("/login", status_code=303)
        status = {
            NotSignedIn: 401,
            BadCsrf: 403,
            access.ForbiddenError: 403,
            NotFoundError: 404,
        }.get(type(exc), 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"user": None})

    @app.post("/login")
    def login(
        request: Request, name: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> Response:
        with transaction(locker) as conn:
            user = accounts.authenticate(conn, name, password)
            token = None if user is None else accounts.start_session(conn, user)[0]
        if token is None:
            return TEMPLATES.TemplateResponse(
                request,
                "login.html",
                {"user": None, "error": "wrong name or password"},
                status_code=401,
            )
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response

    @app.post("/logout")
    def logout(request: Request, who: Person, csrf: Annotated[str, Form()] = "") -> Response:
        check_csrf(who[1], csrf)
        with transaction(locker) as conn:
            accounts.end_session(conn, request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "time": clock.now()}

    return app
