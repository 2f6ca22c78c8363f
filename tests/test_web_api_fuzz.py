"""The OpenAPI description, exercised by schemathesis (property-based): no server errors.

Schemathesis' own pytest plugin does not load under pytest 9 here, so its strategies are
driven with Hypothesis directly, one operation after another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from conftest import take
from hypothesis import HealthCheck, given, settings
from media import jpeg, sample

from docket import accounts, incidents
from docket.locker import Locker
from docket.web.app import create_app


def test_no_operation_gives_a_server_error(tmp_path: Path) -> None:
    with Locker.create(tmp_path / "locker") as locker:
        picture = tmp_path / "chelsea.jpg"
        picture.write_bytes(jpeg(sample("chelsea")))
        take(locker, picture, case="North")
        with locker.engine.connect() as conn, conn.begin():
            admin = accounts.create_user(conn, "setup", "ada", "correct horse battery", "admin")
            token = accounts.issue_token(conn, admin)
            incidents.record(conn, "ada", 1, incidents.Incident("Raid", latitude=1.5, longitude=2))
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(locker))
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
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.method, case.path, response.text[:300])

            exercise()
        assert (
            "POST /api/items/{sha256}/reveal" in seen and "PUT /api/incidents/{incident_id}" in seen
        )
        assert len(seen) >= 20
