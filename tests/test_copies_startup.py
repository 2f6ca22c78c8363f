"""Start-up of the command line: heavy libraries only some commands need are not imported by
every command (a replicate with nothing new must finish in under two seconds, issue 12), and
the catalogue's schema check that skips Alembic agrees with Alembic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from docket.catalogue import migrate
from docket.locker import Locker

HEAVY = (
    "numpy",
    "rich",
    "alembic",
    "faiss",
    "boto3",
    "cv2",
    "wacz",
    "frictionless",
    "playwright",
    "yt_dlp",
    "warcio",
)


def _imported_by(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


def test_the_command_line_imports_no_heavy_library_at_start() -> None:
    loaded = _imported_by("import docket.cli")
    assert loaded & set(HEAVY) == set()


def test_opening_a_current_locker_needs_no_alembic(tmp_path: Path) -> None:
    Locker.create(tmp_path / "locker", actor="tester").close()
    code = (
        "from pathlib import Path\nfrom docket.locker import Locker\n"
        f"Locker.open(Path({str(tmp_path / 'locker')!r})).close()"
    )
    assert "alembic" not in _imported_by(code)


def test_the_newest_migration_file_is_alembics_head() -> None:
    assert migrate._newest_file() == migrate.head()


BRANCHES = {"a": 'revision = "a"\ndown_revision = None\n'} | {
    name: f'revision: str = "{name}"\ndown_revision = "a"\n' for name in ("b", "c")
}


@pytest.mark.parametrize(
    ("files", "newest"),
    [
        (BRANCHES | {"m": "revision = 'm'\ndown_revision = ('b', 'c')\n"}, "m"),
        (BRANCHES, None),  # two heads: Alembic says what that means
        ({"x": "revision = REVISION\ndown_revision = None\n"}, None),  # not a literal
    ],
)
def test_the_newest_migration_is_read_from_the_files_or_left_to_alembic(
    files: dict[str, str], newest: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "versions").mkdir()
    for name, text in files.items():
        (tmp_path / "versions" / f"{name}.py").write_text(text)
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path)
    assert migrate._newest_file() == newest


def test_a_catalogue_at_another_schema_still_goes_through_alembic(tmp_path: Path) -> None:
    with Locker.create(tmp_path / "locker", actor="tester") as locker, locker.engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(migrate.NewerCatalogueError, match="9999, made by a newer docket"):
        Locker.open(tmp_path / "locker")
