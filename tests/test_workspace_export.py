"""The case page's export speaks the reader's language (issue 17): a package made from the web
app carries its reports in the language the interface is in (the chooser's cookie, else
Accept-Language), as `docket export --lang` does on the command line."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import sign_in
from exporting import package_of

from docket.disclose.check import check
from docket.locker import Locker


def _report(package: bytes, folder: Path) -> str:
    path = folder / "package.zip"
    path.write_bytes(package)
    assert check(path).ok
    with zipfile.ZipFile(path) as archive:
        [name] = [n for n in archive.namelist() if n.endswith("data/report.html")]
        return archive.read(name).decode()


@pytest.mark.parametrize(
    ("cookie", "accept", "opening", "label"),  # label: "How to verify it"
    [
        ("ar", None, "<html lang=ar dir=rtl>", "كيف تتحقق منها"),
        ("ckb", "ar", "<html lang=ckb dir=rtl>", "چۆن پشتڕاستی بکەیتەوە"),  # the chooser wins
        (None, "ar-SY,en;q=0.5", "<html lang=ar dir=rtl>", "كيف تتحقق منها"),
        (None, None, "<html lang=en dir=ltr>", "How to verify it"),
    ],
)
def test_the_web_export_writes_its_report_in_the_reader_s_language(
    world: dict[str, Any],
    locker: Locker,
    tmp_path: Path,
    cookie: str | None,
    accept: str | None,
    opening: str,
    label: str,
) -> None:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "owner-1")
    if cookie is not None:
        client.cookies.set("lang", cookie)
    headers = {"accept-language": accept} if accept else {}
    answer = client.post(
        f"/cases/{north}/export", data={"profile": "court", "csrf": csrf}, headers=headers
    )
    report = _report(package_of(client, locker, answer), tmp_path)
    assert report.startswith(f"<!doctype html>{opening}"), report[:80]
    assert label in report
    if opening != "<html lang=en dir=ltr>":
        assert "How to verify it" not in report
