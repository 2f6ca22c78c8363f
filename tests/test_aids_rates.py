"""Detection and false-alarm rates of the picture signals over 200 generated pictures: half
saved once, half manipulated (saved twice, a region spliced from another save, an edit that
left the camera's EXIF thumbnail behind). Run through the real sandboxed worker."""

from __future__ import annotations

import random
from pathlib import Path

from aids_evidence import jpeg, painted, pasted_region, saved_twice, scene, set_thumbnails

from docket.analyse.sandbox import ImageWorker

PER_CLASS = 100


def flagged(worker: ImageWorker, path: Path, out: Path) -> set[str]:
    """The picture signals raised at ingest (quick) and when asked for (thorough)."""
    quick = worker.ask({"task": "aids-quick", "path": str(path)})
    thorough = worker.ask({"task": "aids-thorough", "path": str(path), "out": str(out)})
    return {s["name"] for s in quick["signals"] + thorough["signals"] if s["finding"] == "signal"}


def test_detection_beats_false_alarms_on_a_generated_set(tmp_path: Path) -> None:
    rng = random.Random(14)
    clean, manipulated = [], []
    thumbnails = []
    for index in range(PER_CLASS):
        picture = scene(index)
        path = tmp_path / f"clean-{index}.jpg"
        path.write_bytes(jpeg(picture, rng.randrange(60, 98)))
        clean.append(path)
        if index % 3 == 0:  # a camera-like, matching thumbnail
            thumbnails.append((path, picture))
    for index in range(PER_CLASS):
        picture = scene(1000 + index)
        second = rng.randrange(80, 98)
        path = tmp_path / f"manipulated-{index}.jpg"
        kind = index % 3
        if kind == 0:
            path.write_bytes(saved_twice(picture, rng.randrange(45, second - 12), second))
        elif kind == 1:
            donor = scene(5000 + index)
            path.write_bytes(pasted_region(picture, donor, rng.randrange(45, second - 12), second))
        else:
            path.write_bytes(jpeg(painted(picture), second))
            thumbnails.append((path, picture))  # the thumbnail from before the edit
        manipulated.append(path)
    set_thumbnails(thumbnails, tmp_path)
    worker = ImageWorker(tmp_path)
    try:
        hits = [bool(flagged(worker, p, tmp_path / "out")) for p in manipulated]
        alarms = [bool(flagged(worker, p, tmp_path / "out")) for p in clean]
    finally:
        worker.close()
    detection = sum(hits) / len(hits)
    false_alarms = sum(alarms) / len(alarms)
    by_kind = [sum(hits[k::3]) / len(hits[k::3]) for k in range(3)]
    print(
        f"\npicture signals over {len(hits) + len(alarms)} pictures: detection "
        f"{detection:.0%} (saved twice {by_kind[0]:.0%}, spliced {by_kind[1]:.0%}, stale "
        f"thumbnail {by_kind[2]:.0%}), false alarms {false_alarms:.0%}"
    )
    assert detection >= false_alarms + 0.5
    assert false_alarms <= 0.2
