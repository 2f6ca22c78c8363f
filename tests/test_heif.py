"""An iPhone's photos are HEIC (HEIF), and AVIF is common on the web: both are pictures, not
videos (puremagic calls a HEIC video/mp4), so they get previews, perceptual hashes and their
near-duplicates, and strip and redaction write them as PNGs that hold nothing of the source.
The HEIC files are written by pillow-heif's own encoder; the name in them is invented."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from conftest import take
from media import jpeg, sample
from PIL import Image

from docket import mediatype, similarity
from docket.analyse.batch import run_step
from docket.catalogue import queries
from docket.disclose.package import export
from docket.locker import Locker
from docket.protect import approval
from docket.protect.hidden_data import png_extras
from docket.protect.steps import StripStep
from docket.scope import for_locker

MARKER = "Rawand-Tesfai-Invented"
FORMATS = ["HEIF", "AVIF"]


@pytest.fixture(autouse=True, scope="module")
def heif_in_pillow() -> None:
    pillow_heif.register_heif_opener()


def phone_photo(path: Path, kind: str = "HEIF", picture: Image.Image | None = None) -> Path:
    """A photo as a phone saves it: HEIC (or AVIF) with EXIF naming its maker, its
    photographer (the invented marker) and where it was taken."""
    picture = picture or sample("chelsea")
    exif = picture.getexif()
    exif[0x010F] = "Apple"
    exif[0x013B] = MARKER  # Artist
    exif.get_ifd(0x8825).update({1: "N", 2: (33.0, 30.0, 36.0), 3: "E", 4: (36.0, 17.0, 0.0)})
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>{MARKER}</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>'  # noqa: E501
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, kind, quality=85, exif=exif.tobytes(), xmp=xmp.encode())
    return path


def test_heif_pictures_are_sniffed_as_pictures(tmp_path: Path) -> None:
    heic = phone_photo(tmp_path / "IMG_0001.HEIC").read_bytes()
    avif = phone_photo(tmp_path / "web.avif", "AVIF").read_bytes()
    assert MARKER.encode() in heic
    assert mediatype.sniff(heic[:8192]) == "image/heic"
    assert mediatype.sniff(avif[:8192]) == "image/avif"

    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + bytes(4) + b"".join(compatible)
        return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + bytes(16)

    assert mediatype.sniff(ftyp(b"mif1", b"mif1", b"heic")) == "image/heic"
    assert mediatype.sniff(ftyp(b"mif1", b"mif1", b"avif")) == "image/avif"
    assert mediatype.sniff(ftyp(b"msf1", b"msf1", b"hevc")) == "image/heic-sequence"
    assert mediatype.sniff(ftyp(b"mif1", b"mif1")) == "image/heif"
    assert mediatype.sniff(ftyp(b"isom", b"isom", b"mp41")) == "video/mp4"
    # a box that claims more than the head holds, and one cut inside its brands
    assert mediatype.sniff(ftyp(b"mif1", b"heic")[:19]) == "image/heif"
    assert mediatype.sniff(b"\xff\xff\xff\xffftypmif1\0\0\0\0heic") == "image/heic"


@pytest.mark.parametrize("kind", FORMATS)
def test_a_phone_s_photo_gets_previews_hashes_and_its_copies(
    locker: Locker, tmp_path: Path, kind: str
) -> None:
    original = phone_photo(tmp_path / "card" / f"IMG_0002.{kind.lower()}", kind)
    reposted = tmp_path / "card" / "reposted.jpg"
    reposted.write_bytes(jpeg(sample("chelsea").resize((300, 225)), 60))
    summary = take(locker, original, reposted, case="North")
    photo_sha, repost_sha = (outcome.sha256 or "" for outcome in summary.outcomes)
    with locker.engine.connect() as conn:
        item = queries.describe_item(conn, photo_sha)
        matches = similarity.similar(conn, photo_sha)
    steps = {step["step"]: step["status"] for step in item["analysis"]}
    assert item["media_type"] == f"image/{'heic' if kind == 'HEIF' else 'avif'}"
    assert steps["previews"] == steps["perceptual"] == "ok", steps
    assert "keyframes" not in steps  # not taken for a video
    assert [m.item for m in matches] == [repost_sha]


def test_a_heic_s_stripped_copy_holds_its_pixels_and_nothing_of_its_source(
    locker: Locker, tmp_path: Path
) -> None:
    source = phone_photo(tmp_path / "in" / "IMG_0003.HEIC")
    item = take(locker, source).outcomes[0].sha256 or ""
    run = run_step(locker, item, "image/heic", StripStep(), "tester")
    assert run.error is None, run.error
    [(derivative, blob)] = run.stored
    held = locker.store.path(blob.digest.sha256).read_bytes()
    assert derivative.media_type == "image/png" and png_extras(held) == []
    assert MARKER.encode() not in held
    with Image.open(source) as before, Image.open(io.BytesIO(held)) as after:
        assert np.array_equal(np.asarray(before.convert("RGB")), np.asarray(after))
    with locker.engine.connect() as conn, conn.begin():
        scope = for_locker(conn, item, None)
        approval.approve(conn, "editor-7", item, blob.digest.sha256[:10], scope, 0)
    summary = export(locker, [item], "publication", tmp_path / "press", "tester")
    assert summary.left_out == []
    published = [p for p in (tmp_path / "press" / "data").rglob("*") if p.is_file()]
    assert published and all(MARKER.encode() not in p.read_bytes() for p in published)


def test_a_damaged_heic_fails_its_steps_in_one_line_and_the_batch_goes_on(
    locker: Locker, tmp_path: Path
) -> None:
    intact = phone_photo(tmp_path / "in" / "IMG_0004.HEIC")
    cut = tmp_path / "in" / "IMG_0005.HEIC"
    cut.write_bytes(intact.read_bytes()[: intact.stat().st_size // 2])
    summary = take(locker, cut, intact)
    assert all(outcome.sha256 for outcome in summary.outcomes)  # both held
    with locker.engine.connect() as conn:
        damaged, whole = (
            {step["step"]: step for step in queries.describe_item(conn, o.sha256 or "")["analysis"]}
            for o in summary.outcomes
        )
    assert damaged["previews"]["status"] == "failed"
    assert damaged["previews"]["error"] and "\n" not in damaged["previews"]["error"]
    assert whole["previews"]["status"] == "ok"
