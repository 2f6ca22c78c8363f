"""Review work at the command line (issue 18): tag, annotate, case ls, case members, the `ls`
filters, a timeline that names its items, with the case walls of docket.scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import photo

from docket._samples import write_video


@pytest.fixture
def filled(cli: Any, tmp_path: Path) -> Path:
    """Two cases: North holds a photo with GPS and a video; South holds another photo."""
    locker = tmp_path / "locker"
    assert cli("init", locker).code == 0
    (tmp_path / "v").mkdir()
    video = write_video(tmp_path / "v" / "clip.mp4", seconds=1)
    north = ["--case", "North", photo(tmp_path / "n", "market.jpg"), video]
    assert cli("ingest", "--locker", locker, *north).code == 0
    south = photo(tmp_path / "s", "bridge.jpg", seed=7, facts=None)
    assert cli("ingest", "--locker", locker, "--case", "South", south).code == 0
    return locker


def items(cli: Any, locker: Path, *args: str) -> list[str]:
    return [
        row["name"].rsplit("/", 1)[-1]
        for row in cli("ls", "--locker", locker, "--json", *args).json()
    ]


def sha_of(cli: Any, locker: Path, name: str) -> str:
    rows = cli("ls", "--locker", locker, "--json").json()
    return str(next(row["sha256"] for row in rows if row["name"].endswith(name)))


def test_tag_and_annotate_are_found_by_search_in_their_case(cli: Any, filled: Path) -> None:
    market = sha_of(cli, filled, "market.jpg")
    tagged = cli("tag", "--locker", filled, market[:10], "checkpoint-7", "convoy")
    assert tagged.code == 0 and "tagged in North: checkpoint-7, convoy" in tagged.out
    noted = cli(
        "annotate", "--locker", filled, market[:10], "a white van", "--region", "10,20,30,40"
    )
    assert noted.code == 0 and "region annotation" in noted.out
    assert items(cli, filled, "--case", "North", "--search", "convoy") == ["market.jpg"]
    assert items(cli, filled, "--case", "North", "--search", "white van") == ["market.jpg"]
    assert items(cli, filled, "--case", "South", "--search", "convoy") == []
    actions = [line.split()[3] for line in cli("log", "--locker", filled).out.splitlines()]
    assert actions.count("item.tagged") == 2 and "item.annotated" in actions


def test_work_is_never_recorded_in_a_case_without_the_item(cli: Any, filled: Path) -> None:
    market = sha_of(cli, filled, "market.jpg")
    refused = cli("tag", "--locker", filled, market[:10], "leak", "--case", "South")
    assert refused.code == 1 and "not in case 'South'" in refused.err
    bad = cli("annotate", "--locker", filled, market[:10], "x", "--region", "1,2,0,4")
    assert bad.code == 1 and "positive width" in bad.err
    assert "leak" not in cli("log", "--locker", filled, "--json").out


def test_case_ls_and_members(cli: Any, filled: Path) -> None:
    cases = {c["name"]: c for c in cli("case", "ls", "--locker", filled, "--json").json()}
    assert (cases["North"]["items"], cases["South"]["items"]) == (2, 1)
    assert "North has no members" in cli("case", "members", "--locker", filled, "North").out
    missing = cli("case", "members", "--locker", filled, "West")
    assert missing.code == 1 and "no such case" in missing.err


def test_ls_filters(cli: Any, filled: Path) -> None:
    assert items(cli, filled, "--type", "video/") == ["clip.mp4"]
    assert items(cli, filled, "--type", "image/jpeg", "--case", "South") == ["bridge.jpg"]
    assert items(cli, filled, "--has-gps") == ["market.jpg"]
    one_day = items(cli, filled, "--since", "2024-03-01", "--until", "2024-03-01")
    assert sorted(one_day) == ["clip.mp4", "market.jpg"]  # the clip's QuickTime date too
    assert items(cli, filled, "--since", "2024-03-02") == []
    market = sha_of(cli, filled, "market.jpg")
    assert cli("flag", "--locker", filled, market[:10], "graphic").code == 0
    assert items(cli, filled, "--flag", "graphic") == ["market.jpg"]
    assert sorted(items(cli, filled, "--flag", "unreviewed")) == ["bridge.jpg", "clip.mp4"]
    wrong = cli("ls", "--locker", filled, "--since", "1 March")
    assert wrong.code == 1 and "dates are YYYY-MM-DD" in wrong.err


def test_timeline_names_its_items(cli: Any, filled: Path) -> None:
    text = cli("incident", "timeline", "--locker", filled, "North").out
    assert "2024-03-01" in text
    line = next(line for line in text.splitlines() if "market.jpg" in line)
    assert line.strip().startswith("12:34:56")


def test_search_command_finds_by_url_of_origin_and_tag(
    cli: Any, filled: Path, tmp_path: Path
) -> None:
    url = ["--url-of-origin", "https://example.invalid/kanal-zorya/512"]
    extra = photo(tmp_path / "e", "posted.jpg", seed=11)
    assert cli("ingest", "--locker", filled, "--case", "South", *url, extra).code == 0
    found = cli("search", "--locker", filled, "kanal-zorya", "--json").json()
    assert [row["name"].rsplit("/", 1)[-1] for row in found] == ["posted.jpg"]
    assert (
        cli("search", "--locker", filled, "--case", "North", "kanal-zorya").out == "nothing found\n"
    )
