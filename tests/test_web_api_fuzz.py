"""The OpenAPI description, exercised by schemathesis (property-based): no server errors, on
every operation the app has (pages, uploads and the API alike).

Schemathesis' own pytest plugin does not load under pytest 9 here, so its strategies are
driven with Hypothesis directly, one operation after another.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import schemathesis
from conftest import take
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from media import jpeg, sample

import docket.web
from docket import accounts, incidents
from docket.locker import Locker
from docket.web.app import create_app


def operations(app: FastAPI) -> set[str]:
    """Every operation the app serves: its own routes and those of every router module of
    docket.web (found, not listed, so that a new module is fuzzed too)."""
    routes = list(app.routes)
    for module in pkgutil.iter_modules(docket.web.__path__):
        router = getattr(importlib.import_module(f"docket.web.{module.name}"), "router", None)
        if isinstance(router, APIRouter):
            routes += router.routes
    return {
        f"{method} {route.path}"
        for route in routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods or ()
    }


def test_no_operation_gives_a_server_error(tmp_path: Path) -> None:
    with Locker.create(tmp_path / "locker") as locker:
        picture = tmp_path / "chelsea.jpg"
        picture.write_bytes(jpeg(sample("chelsea")))
        take(locker, picture, case="North")
        with locker.engine.connect() as conn, conn.begin():
            admin = accounts.create_user(conn, "setup", "ada", "correct horse battery", "admin")
            token = accounts.issue_token(conn, admin)
            incidents.record(conn, "ada", 1, incidents.Incident("Raid", latitude=1.5, longitude=2))
        app = create_app(locker)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        headers = {"Authorization": f"Bearer {token}"}
        seen: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]  # (an Err: a bad schema)
            seen.append(f"{operation.method.upper()} {operation.path}")

            @given(case=operation.as_strategy())
            @settings(
                max_examples=12,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case: Any) -> None:
                # No read timeout of a few seconds: on a loaded machine a request that waits
                # for the catalogue's writer (an analysis thread of the take above) is slow,
                # not wrong, and this test asserts answers, not speed.
                response = case.call(headers=headers, timeout=300)
                assert response.status_code < 500, (case.method, case.path, response.text[:300])

            exercise()
        assert sorted(seen) == sorted(operations(app))  # pages, uploads and the API alike
