"""Issue 11: an original's name survives into the package in its own script (Arabic, Kurdish),
in Unicode NFC, with only what is unsafe in a path or a BagIt manifest taken out; the bag, the
zip, docket-check and the verifier inside the package all handle such names."""

from __future__ import annotations

import json
import unicodedata
import zipfile
from pathlib import Path

import bagit
import pytest
from conftest import photo, take

from docket.disclose import verify_package
from docket.disclose.check import check
from docket.disclose.package import export
from docket.locker import Locker
from docket.names import MAX_NAME_BYTES, file_name, looks_like

ARABIC = "صورة من حلب ١٢.jpg"
SORANI = "وێنەی گوندی هەڵەبجە.jpg"
KURMANJI = "wêneyê gundê Qamişlo.jpg"
PERSIAN_ZWNJ = "می\u200cخواهم.jpg"  # noqa: RUF001 (Persian, with its zero-width non-joiner)


@pytest.mark.parametrize("name", [ARABIC, SORANI, KURMANJI, PERSIAN_ZWNJ, "plain-name_1.JPG"])
def test_names_in_any_script_are_kept(name: str) -> None:
    assert file_name(f"/evidence/in/{name}", "original") == name


def test_decomposed_names_become_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", KURMANJI)
    assert decomposed != KURMANJI
    assert file_name(decomposed, "original") == KURMANJI


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("folder/..", "original"),
        (".hidden.jpg", "hidden.jpg"),
        ("...", "original"),
        ("  spaced out .jpg  ", "spaced out .jpg"),
        ("a\\b:c*d?e.jpg", "a_b_c_d_e.jpg"),
        ("100%0A.jpg", "100_0A.jpg"),
        ("evil\u202egpj.exe", "evil_gpj.exe"),
        ("line\u2028break\x07bell\n.jpg", "linebreakbell.jpg"),
        ("CON.jpg", "_CON.jpg"),
        ("nul", "_nul"),
        ("", "original"),
    ],
)
def test_what_is_unsafe_in_a_path_is_taken_out(raw: str, expected: str) -> None:
    assert file_name(raw, "original") == expected


def test_an_over_long_name_is_cut_whole_characters_keeping_its_extension() -> None:
    name = "شهادة" * 60 + ".mp4"
    cut = file_name(name, "original")
    assert len(cut.encode()) <= MAX_NAME_BYTES
    assert cut.endswith(".mp4") and cut.startswith("شهادة")
    assert "\ufffd" not in cut and cut == unicodedata.normalize("NFC", cut)


@pytest.mark.parametrize(
    "sent",
    [
        "metadata.json\u200b",  # a zero-width space after it
        "meta\u200ddata.json",  # a zero-width joiner inside it
        "metadata.json\u2060",  # a word joiner after it
        "".join(chr(ord(c) + 0xFEE0) for c in "metadata") + ".json",  # fullwidth letters
        "METADATA.Json",
        "met\u0430d\u0430t\u0430.json",  # Cyrillic a, drawn as the Latin one
        "m\u0435tadata.js\u03bfn",  # a Cyrillic e and a Greek o
        "ME\u0422ADATA.json",  # a capital Cyrillic T, which case folding would hide
        "\u039c\u0395\u03a4\u0391DATA.JSON",  # capital Greek M, E, T, A
    ],
)
def test_a_name_that_reads_as_metadata_json_is_renamed(
    locker: Locker, tmp_path: Path, sent: str
) -> None:
    """A source's file named to pass for the item's metadata.json in a folder listing."""
    item = take(locker, photo(tmp_path / "in", sent, 5)).outcomes[0].sha256 or ""
    export(locker, [item], "court", tmp_path / "court", "tester")
    held = sorted(p.name for p in (tmp_path / "court" / "data" / "items" / item).iterdir())
    assert held == ["metadata.json", "original-metadata.json"]


def test_names_joined_with_zero_width_joiners_are_kept() -> None:
    """Kurdish and Persian names need the zero-width non-joiner; it is not taken out."""
    name = "نامه\u200cی شاهید.jpg"
    assert file_name(name, "original") == name
    assert looks_like(name, "نامهی شاهید.jpg") and not looks_like(name, "نامه شاهید.jpg")
    assert not looks_like("ڕێگا.json", "metadata.json")  # another script is not a look-alike


def named_photos(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "in"
    return [
        photo(folder / "a", ARABIC, 1),
        photo(folder / "b", SORANI, 2),
        photo(folder / "c", ARABIC, 3),  # the same name, another item: its own folder
        photo(folder / "d", "Metadata.JSON", 4),
    ]


@pytest.mark.parametrize("zipped", [False, True])
def test_a_package_keeps_arabic_and_kurdish_names_and_checks(
    locker: Locker, tmp_path: Path, zipped: bool
) -> None:
    summary = take(locker, *named_photos(tmp_path), case="Halabja")
    items = [o.sha256 or "" for o in summary.outcomes]
    package = tmp_path / ("court.zip" if zipped else "court")
    export(locker, items, "court", package, "tester")
    if zipped:
        with zipfile.ZipFile(package) as bundle:
            names = bundle.namelist()
            bundle.extractall(tmp_path / "unzipped")
        folder = tmp_path / "unzipped" / "court"
    else:
        folder = package
        names = [p.relative_to(tmp_path).as_posix() for p in package.rglob("*")]
    manifest = json.loads((folder / "data" / "package.json").read_text())
    files = sorted(Path(e["file"]).name for e in manifest["items"])
    assert files == sorted([ARABIC, ARABIC, SORANI, "original-metadata.json"])
    assert len({e["file"] for e in manifest["items"]}) == 4
    assert sum(n.endswith(f"/{SORANI}") for n in names) == 1
    payload = (folder / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert ARABIC in payload and SORANI in payload
    bagit.Bag(str(folder)).validate()
    assert check(package, locker.public_key).intact, check(package, locker.public_key).failures
    code, problems, *_ = verify_package.verify(package, locker.public_key.hex())
    assert (code, problems) == (0, [])


def test_a_changed_file_with_a_kurdish_name_is_named_by_both_verifiers(
    locker: Locker, tmp_path: Path
) -> None:
    summary = take(locker, photo(tmp_path / "in", SORANI, 2))
    item = summary.outcomes[0].sha256 or ""
    package = tmp_path / "court"
    export(locker, [item], "court", package, "tester")
    target = package / "data" / "items" / item / SORANI
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[-3] ^= 1
    target.write_bytes(bytes(data))
    for path in package.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    bagit.Bag(str(package)).save(manifests=True)
    relative = f"items/{item}/{SORANI}"
    report = check(package, locker.public_key)
    assert f"{relative}: differs from the signed export record" in report.failures
    code, problems, *_ = verify_package.verify(package, locker.public_key.hex())
    assert code == 1 and f"{relative}: differs from the signed export record" in problems
