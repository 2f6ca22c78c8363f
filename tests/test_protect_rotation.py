"""Redaction of videos that carry their rotation as metadata, as a phone's portrait video does
(stored 480x360 with a display matrix, shown 360x480): boxes land on the picture as shown, the
copy is upright with no rotation left to turn it again, and the web's still is the same upright
frame. Real ffmpeg and the real face model, on videos made here from scikit-image's samples;
and a missing or unusable face model is a one-line error naming the model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import take
from media import sample
from PIL import Image, ImageOps

from docket.analyse.sandbox import AnalysisError
from docket.disclose.publication import uncovered_faces
from docket.locker import Locker
from docket.protect import copying
from docket.protect.faces import FaceDetector, FaceModelError
from docket.protect.steps import RedactStep

WIDTH, HEIGHT = 360, 480  # the picture as shown: a portrait
FPS = 10
FACE_FRAMES = 10  # the astronaut's second, then a second of coffee
BOX = (40, 280, 120, 80)  # x, y, w, h in pixels of the upright picture
ANGLES = [90, 180, 270]


def upright_pictures() -> list[Image.Image]:
    """The two pictures as they should be shown: a portrait crop with a face, one without."""
    return [
        sample("astronaut").crop((100, 0, 100 + WIDTH, HEIGHT)),
        sample("coffee").crop((0, 0, WIDTH, HEIGHT)),
    ]


def ffmpeg(*args: str | Path) -> bytes:
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def rotated(folder: Path, angle: int) -> Path:
    """A video whose frames are stored turned clockwise by `angle` degrees, with a display
    matrix that turns them back (counter-clockwise) when shown: upright_pictures() as seen,
    with a tone as its sound, as a phone records."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs: list[str | Path] = []
    for i, picture in enumerate(upright_pictures()):
        stored = folder / f"stored{i}.png"
        picture.rotate(-angle, expand=True).save(stored)
        inputs += ["-loop", "1", "-t", "1", "-i", stored]
    plain = folder / "stored.mp4"
    ffmpeg(
        *[*inputs, "-f", "lavfi", "-i", "sine=frequency=440:duration=2"],
        *["-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p[v]", "-map", "[v]"],
        *["-map", "2:a", "-c:a", "aac", "-r", str(FPS)],
        plain,
    )
    video = folder / f"rotated{angle}.mp4"
    try:  # ffmpeg 6.0 and later: the angle the player turns counter-clockwise
        ffmpeg("-display_rotation", str(angle), "-i", plain, "-c", "copy", video)
    except subprocess.CalledProcessError:  # ffmpeg 5.1 writes the same matrix from this tag
        ffmpeg("-i", plain, "-c", "copy", "-metadata:s:v", f"rotate={angle}", video)
    assert (rotation(video) or 0) % 360 == angle
    return video


def stream(path: Path, kind: str = "v") -> dict[str, Any]:
    done = subprocess.run(
        [
            *["ffprobe", "-v", "error", "-select_streams", f"{kind}:0"],
            *["-show_entries", "stream=codec_name,width,height:stream_tags:stream_side_data"],
            *["-of", "json"],
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found: dict[str, Any] = json.loads(done.stdout)["streams"][0]
    return found


def rotation(path: Path) -> int | None:
    """The rotation a player applies (ffprobe's display matrix), None when there is none."""
    matrices = [s for s in stream(path).get("side_data_list", []) if "rotation" in s]
    return int(matrices[0]["rotation"]) if matrices else None


def shown(path: Path) -> np.ndarray:
    """Every frame as a player shows it (ffmpeg turns it by its display matrix), RGB."""
    raw = ffmpeg("-i", path, "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, HEIGHT, WIDTH, 3)


def upright_copy(video: Path) -> Path:
    """The same video re-encoded losslessly as ffmpeg shows it, with no rotation to apply."""
    target = video.with_name(f"{video.stem}-upright.mkv")
    ffmpeg("-i", video, "-map", "0:v:0", "-c:v", "ffv1", "-pix_fmt", "yuv420p", target)
    assert rotation(target) is None
    return target


@pytest.fixture(params=ANGLES)
def video(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    made = rotated(tmp_path / "made", int(request.param))
    first = shown(made)[0].astype(np.int16)
    expected = np.asarray(upright_pictures()[0], dtype=np.int16)
    assert np.abs(first - expected).mean() < 6, "the test video is not shown upright"
    return made


def redacted(locker: Locker, path: Path, media_type: str, step: RedactStep) -> copying.Redaction:
    sha256 = take(locker, path).outcomes[0].sha256 or ""
    return copying.redact(locker, sha256, media_type, step, "tester", None)


def assert_upright_without_rotation(copy: Path) -> None:
    facts = stream(copy)
    assert (facts["width"], facts["height"]) == (WIDTH, HEIGHT)
    assert rotation(copy) is None and "rotate" not in facts.get("tags", {})
    assert stream(copy, "a")["codec_name"] == "aac"  # the sound, copied


@pytest.mark.parametrize("backend", ["sqlite"])  # the frames' pixels: no catalogue work
def test_a_region_covers_exactly_that_region_of_the_upright_frame(
    locker: Locker, video: Path
) -> None:
    step = RedactStep(faces=False, regions=[BOX], method="fill")
    done = redacted(locker, video, "video/mp4", step)
    copy = locker.store.path(done.copy.sha256)
    assert_upright_without_rotation(copy)
    assert (done.copy.data["width"], done.copy.data["height"]) == (WIDTH, HEIGHT)
    original, covered = shown(video), shown(copy)
    assert covered.shape == original.shape
    x, y, w, h = BOX
    inside = np.zeros((HEIGHT, WIDTH), dtype=bool)
    inside[y + 2 : y + h - 2, x + 2 : x + w - 2] = True
    near = np.zeros((HEIGHT, WIDTH), dtype=bool)  # the box and the codec's blur at its edges
    near[y - 4 : y + h + 4, x - 4 : x + w + 4] = True
    assert covered[:, inside].max() <= 16  # black, give or take the encoder
    assert original[:, inside].mean() > 60  # and it was not black before
    difference = np.abs(covered[:, ~near].astype(np.int16) - original[:, ~near])
    assert difference.mean() < 2 and np.percentile(difference, 99.9) < 24
    assert done.copy.data["boxes"] == [[round(i / FPS, 3), *BOX] for i in range(len(original))]


# The face search on each frame: its catalogue records are those of the picture test below, on
# both catalogues.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_faces_are_found_on_the_upright_frames_and_covered_there(
    locker: Locker, video: Path
) -> None:
    step = RedactStep(faces=True, method="fill", strip=False)  # the encoder's own copy
    done = redacted(locker, video, "video/mp4", step)
    upright = redacted(locker, upright_copy(video), "video/x-matroska", step)
    boxes = done.copy.data["boxes"]
    assert boxes == upright.copy.data["boxes"]
    # publication's check: the full-size search finds no face the copy's boxes leave out
    sheet = step.preview(video, "video/mp4", video.with_name("sheet.jpg"))
    assert sheet["boxes"] and (sheet["width"], sheet["height"]) == (WIDTH, HEIGHT)
    assert uncovered_faces(sheet["boxes"], boxes, video=True).count == 0
    assert {time for time, *_ in boxes} >= {round(i / FPS, 3) for i in range(FACE_FRAMES)}
    copy = locker.store.path(done.copy.sha256)
    assert_upright_without_rotation(copy)
    detector = FaceDetector()
    for frame in shown(copy)[:FACE_FRAMES]:
        assert detector.detect(np.ascontiguousarray(frame[:, :, ::-1])) == []


def test_the_web_still_is_the_same_upright_frame(video: Path, tmp_path: Path) -> None:
    step = RedactStep(faces=True, regions=[BOX], method="fill")
    found = step.still(video, "video/mp4", tmp_path / "found.png", at=0.5, blur=False)
    upright = upright_copy(video)
    same = step.still(upright, "video/x-matroska", tmp_path / "same.png", at=0.5, blur=False)
    assert (found["width"], found["height"]) == (WIDTH, HEIGHT)
    assert found["boxes"] == same["boxes"] and len(found["boxes"]) == 2  # the region, a face
    still = np.asarray(Image.open(tmp_path / "found.png").convert("RGB"))
    assert np.array_equal(still, np.asarray(Image.open(tmp_path / "same.png").convert("RGB")))
    assert np.array_equal(still, shown(video)[round(found["at"] * FPS)])
    covered = step.still(
        video, "video/mp4", tmp_path / "covered.png", at=0.5, cover=True, blur=False
    )
    assert covered["boxes"] == found["boxes"]
    picture = np.asarray(Image.open(tmp_path / "covered.png").convert("RGB"))
    for x, y, w, h in found["boxes"]:
        assert not picture[y : y + h, x : x + w].any()


def test_a_missing_face_model_is_named_before_anything_runs(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "models" / "centerface.onnx"
    monkeypatch.setenv("DOCKET_FACE_MODEL", str(missing))
    with pytest.raises(FaceModelError) as raised:
        RedactStep(faces=True)
    assert str(raised.value) == f"{missing}: cannot read the face model (No such file or directory)"
    with pytest.raises(FaceModelError) as raised:
        RedactStep(faces=True, model=tmp_path)
    assert str(raised.value) == f"{tmp_path}: cannot read the face model (Is a directory)"
    assert RedactStep(faces=False, regions=[BOX]).model_sha256 is None  # no model needed


def test_a_face_model_that_is_not_a_model_is_named_with_the_reason(
    locker: Locker, tmp_path: Path
) -> None:
    source = tmp_path / "astronaut.png"
    sample("astronaut").save(source)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a network\n" * 100)
    step = RedactStep(faces=True, model=junk)
    reason = f"{junk}: not a face model OpenCV can load"
    with pytest.raises(FaceModelError) as loading:
        FaceDetector(junk)
    with pytest.raises(AnalysisError) as still:
        step.still(source, "image/png", tmp_path / "still.png")
    with pytest.raises(AnalysisError) as sheet:
        step.preview(source, "image/png", tmp_path / "sheet.jpg")
    assert str(loading.value) == str(still.value) == str(sheet.value) == reason
    with pytest.raises(copying.CopyFailedError) as copy:
        redacted(locker, source, "image/png", step)
    assert reason in str(copy.value) and "\n" not in str(copy.value)


def test_the_command_line_names_a_missing_face_model(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    source = tmp_path / "astronaut.png"
    sample("astronaut").save(source)
    sha256 = json.loads(cli("ingest", "--locker", locker, "--json", source).out.splitlines()[0])[
        "sha256"
    ]
    missing = tmp_path / "gone.onnx"
    monkeypatch.setenv("DOCKET_FACE_MODEL", str(missing))
    result = cli("redact", "--locker", locker, sha256[:8], "--faces")
    assert result.code != 0 and "Traceback" not in result.err
    assert result.err.strip().splitlines() == [
        f"docket: {missing}: cannot read the face model (No such file or directory)"
    ]


@pytest.mark.parametrize(("orientation", "turn"), [(3, 180), (6, 90), (8, -90)])
def test_a_picture_turned_by_its_exif_orientation_is_still_redacted_upright(
    locker: Locker, tmp_path: Path, orientation: int, turn: int
) -> None:
    """The picture path, for comparison: a phone photo stored turned, with the EXIF
    Orientation that turns it back, is redacted as it is shown."""
    source = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright_pictures()[0].rotate(turn, expand=True).save(source, "JPEG", quality=95, exif=exif)
    with Image.open(source) as opened:
        shown_rgb = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    expected = np.asarray(upright_pictures()[0], dtype=np.int16)
    assert shown_rgb.shape == (HEIGHT, WIDTH, 3) and np.abs(shown_rgb - expected).mean() < 6
    step = RedactStep(faces=True, regions=[BOX], method="fill")
    done = redacted(locker, source, "image/jpeg", step)
    faces = FaceDetector().detect(np.ascontiguousarray(shown_rgb[:, :, ::-1]))
    assert len(faces) == 1
    assert done.copy.data["boxes"] == [list(BOX), faces[0].as_list()]
    with Image.open(locker.store.path(done.copy.sha256)) as opened:
        assert opened.getexif().get(0x0112) is None
        copy = np.asarray(opened.convert("RGB"))
    outside = np.ones((HEIGHT, WIDTH), dtype=bool)
    for x, y, w, h in done.copy.data["boxes"]:
        assert not copy[y : y + h, x : x + w].any()
        outside[y : y + h, x : x + w] = False
    assert np.array_equal(copy[outside], shown_rgb[outside])
    found = step.still(source, "image/jpeg", tmp_path / "still.png", blur=False)
    assert (found["width"], found["height"]) == (WIDTH, HEIGHT)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "still.png")), shown_rgb)
