"""The FastAPI app: sign-in and sign-out, errors as JSON, /api/health, sign-in throttles for
admins, and the route modules, inside the defences of docket.web.security; an admin entering a
case from outside it is logged (docket.web.admin_log).

Every route decides access through docket.access (never in a template); forms carry a CSRF
token bound to the session; sessions live in an HttpOnly, SameSite=Strict cookie; sign-in is
slowed by docket.web.throttle, never locked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from docket import access, accounts, clock
from docket.catalogue.database import reading
from docket.errors import DiskFullError, DocketError, NotFoundError
from docket.locker import Locker
from docket.web import (
    DEFAULT_MAX_UPLOAD,
    admin_log,
    assets,
    audit_routes,
    capture_routes,
    case_routes,
    ela_routes,
    i18n,
    incident_routes,
    item_routes,
    redaction_routes,
    replay_routes,
    request_threads,
    saved_search_routes,
    security,
    shadow_routes,
    team_routes,
    throttle,
    workflow_routes,
)
from docket.web.guard import (
    COOKIE,
    TEMPLATES,
    BadCsrf,
    NotSignedIn,
    Person,
    check_csrf,
    transaction,
)

NAME_LENGTH = 200


def create_app(
    locker: Locker,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    allowed_hosts: Sequence[str] = ("*",),
    replay_origin: str | None = None,
    throttle_file: Path | None = None,
    threads: int | None = None,
) -> FastAPI:
    """The app; `serve` gives the upload cap (--max-upload, $DOCKET_MAX_UPLOAD_BYTES) and the
    host names to answer (any, when embedded in a test). Replay of captured pages is offered
    when `replay_origin` names where docket.web.replay_origin's app listens (another origin:
    a replayed page's scripts run there, never in this one). `throttle_file`: where sign-in
    throttles are counted when several worker processes serve (web/workers.py). `threads`:
    requests worked on at once (`serve --threads`; anyio's default of 40 when not given)."""
    app = FastAPI(
        title="Docket",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        lifespan=None if threads is None else request_threads.limited_to(threads),
    )
    app.state.locker = locker
    app.state.max_upload = max_upload
    app.state.replay = replay_origin
    app.state.throttle = throttle.Throttle(path=throttle_file)
    accounts.dummy_hash()
    app.add_middleware(admin_log.AdminLog, locker=locker)
    app.add_middleware(security.Gate, locker=locker, max_upload=app.state.max_upload)
    app.add_middleware(security.SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.include_router(incident_routes.router)
    app.include_router(case_routes.router)
    app.include_router(item_routes.router)
    app.include_router(team_routes.router)
    app.include_router(capture_routes.router)
    app.include_router(workflow_routes.router)
    app.include_router(saved_search_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(replay_routes.router)
    app.include_router(shadow_routes.router)
    app.include_router(ela_routes.router)
    app.include_router(redaction_routes.router)
    app.include_router(assets.router)
    app.include_router(i18n.router)
    i18n.install(TEMPLATES.env)

    @app.exception_handler(DocketError)
    def on_error(request: Request, exc: DocketError) -> Response:
        if isinstance(exc, NotSignedIn) and not request.url.path.startswith("/api"):
            return RedirectResponse("/login", status_code=303)
        status = {
            NotSignedIn: 401,
            BadCsrf: 403,
            access.ForbiddenError: 403,
            NotFoundError: 404,
            security.BodyTooLarge: 413,
            DiskFullError: 507,
        }.get(type(exc), 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"user": None})

    @app.post("/login")
    def login(
        request: Request,
        name: Annotated[str, Form(max_length=NAME_LENGTH)],
        password: Annotated[str, Form(max_length=1024)],
    ) -> Response:
        throttles: throttle.Throttle = app.state.throttle
        client = throttle.client_key(request.client.host if request.client else None)
        attempt = throttles.begin(name, client)  # counted as failed until it succeeds
        if attempt.wait > 0:  # the same answer for every name: it tells nothing of which exist
            seconds = max(1, round(attempt.wait))
            return TEMPLATES.TemplateResponse(
                request,
                "login.html",
                {"user": None, "error": f"too many tries; wait {seconds} s and try again"},
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
        # Argon2's work (0.2-0.4 s) is done outside the writers' shared transaction
        # (catalogue/group_commit.py), so a sign-in never holds up other people's writes.
        with reading(locker.engine) as conn:
            user = accounts.authenticate(conn, name, password)
        if user is None:
            return TEMPLATES.TemplateResponse(
                request,
                "login.html",
                {"user": None, "error": "wrong name or password"},
                status_code=401,
            )
        # The password was right: the try is not a failure, even if the session cannot be
        # written now (a full disk), so retrying then costs the person no delay.
        throttles.succeeded(name, client, attempt)
        with transaction(locker) as conn:
            token = accounts.start_session(conn, user)[0]
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

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request) -> Response:
        """The API's routes, listed from its OpenAPI description: a page of Docket's own,
        which loads nothing from elsewhere (Swagger UI would come from a CDN)."""
        routes = [
            {"method": method.upper(), "path": path, "summary": op.get("summary", "")}
            for path, ops in sorted(app.openapi()["paths"].items())
            for method, op in ops.items()
            if path.startswith("/api/")
        ]
        return TEMPLATES.TemplateResponse(request, "docs.html", {"user": None, "routes": routes})

    def _admin(who: tuple[accounts.User, str | None]) -> None:
        if not who[0].is_admin:
            raise access.ForbiddenError("only an admin sees and clears sign-in throttles")

    @app.get("/throttles", response_class=HTMLResponse)
    def throttles_page(request: Request, who: Person) -> Response:
        _admin(who)
        entries = app.state.throttle.entries()
        return TEMPLATES.TemplateResponse(
            request, "throttles.html", {"user": who[0], "csrf": who[1], "entries": entries}
        )

    @app.post("/throttles/clear")
    def clear_page(
        who: Person,
        name: Annotated[str, Form(max_length=NAME_LENGTH)] = "",
        client: Annotated[str, Form(max_length=100)] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(who[1], csrf)
        _admin(who)
        app.state.throttle.clear(name or None, client or None)
        return RedirectResponse("/throttles", status_code=303)

    @app.get("/api/throttles")
    def api_throttles(who: Person) -> list[dict[str, Any]]:
        """Sign-in throttles now in force or counting (admins only)."""
        _admin(who)
        entries: list[dict[str, Any]] = app.state.throttle.entries()
        return entries

    @app.delete("/api/throttles")
    def api_clear_throttles(
        request: Request,
        who: Person,
        name: Annotated[str, Query(max_length=NAME_LENGTH)] = "",
        client: Annotated[str, Query(max_length=100)] = "",
    ) -> dict[str, int]:
        """Clear the throttles of a name and/or a client (all of them when neither is given)."""
        check_csrf(who[1], request.headers.get("x-csrf-token"))
        _admin(who)
        return {"cleared": app.state.throttle.clear(name or None, client or None)}

    return app
