"""scripts/screenshots.py photographs every main page at 390 and 1366 px (Debian's Chromium)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from PIL import Image

SCRIPT = Path(__file__).parent.parent / "scripts" / "screenshots.py"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is needed")
def test_screenshots_of_every_main_page_at_both_widths(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.take_screenshots(tmp_path / "shots", str(shutil.which("chromium")))
    names = {p.name for p in made}
    for page in ("cases", "grid", "dashboard", "item", "incidents", "audit", "docs", "reveal"):
        assert {f"{page}-390.png", f"{page}-1366.png"} <= names
    for shot in made:
        with Image.open(shot) as picture:
            width = int(shot.stem.rsplit("-", 1)[1])
            assert picture.width == width and picture.height >= 300, shot.name
