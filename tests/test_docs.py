"""The generated CLI reference must match the commands as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from docket._cli_reference import render

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"


def test_cli_reference_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert REFERENCE.read_text() == render(), (
        "docs/reference/cli.md is stale: run "
        "COLUMNS=100 .venv/bin/python -m docket._cli_reference > docs/reference/cli.md"
    )
