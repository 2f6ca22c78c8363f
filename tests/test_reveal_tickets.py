"""A reveal's ticket opens the picture of the item revealed, and no other item's: two items
may share a derived picture (a keyframe of the same frames), and each reveal is of one item."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from conftest import sign_in, take
from media import slideshow

from docket.catalogue import queries
from docket.custody import log
from docket.locker import Locker


def test_a_keyframe_ticket_does_not_open_a_twin_item_sharing_the_keyframe(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    video = slideshow(tmp_path / "video", ["astronaut", "coffee"], seconds=1.0)
    twin_video = tmp_path / "twin.mp4"  # the same frames, another title: another item
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            str(video),
            "-c",
            "copy",
            "-metadata",
            "title=a re-upload",
            str(twin_video),
        ],
        check=True,
        timeout=60,
    )
    sha = take(locker, video, case="North").outcomes[0].sha256
    twin = take(locker, twin_video, case="North").outcomes[0].sha256
    assert sha is not None and twin is not None and sha != twin
    with locker.engine.connect() as conn:
        frames, twin_frames = queries.keyframes(conn, sha), queries.keyframes(conn, twin)
    assert frames and frames[0][1] == twin_frames[0][1]  # one keyframe picture, two items
    client = world["client"]
    csrf = sign_in(client, "reviewer-1")
    page = client.post(f"/items/{sha}/keyframes/0/reveal", data={"csrf": csrf})
    found = re.search(r"keyframes/0\?ticket=([0-9]+\.[0-9a-f]+)", page.text)
    assert page.status_code == 200 and found is not None
    ticket = found.group(1)
    assert client.get(f"/items/{sha}/keyframes/0", params={"ticket": ticket}).status_code == 200
    other = client.get(f"/items/{twin}/keyframes/0", params={"ticket": ticket})
    assert other.status_code == 403
    with locker.engine.connect() as conn:
        assert [e for e in log.events(conn, twin) if e.action == "item.revealed"] == []
