"""Each membership names its item's first arrival in the case (case_items.first_acquisition,
migration 0021), which the case's grid is listed by: written with the membership, filled by
the migration in older catalogues, and checked by `verify` against the acquisitions."""

from __future__ import annotations

from pathlib import Path

from conftest import photo, take
from sqlalchemy import Connection, select, update
from test_migrate import downgrade

from docket.catalogue import migrate, schema
from docket.locker import Locker
from docket.verify import verify
from docket.web import grid_pages


def _case(conn: Connection, name: str) -> int:
    return int(
        conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == name)).scalar_one()
    )


def _firsts_walked(conn: Connection) -> dict[tuple[int, str], int]:
    """Each (case, item)'s first acquisition into the case, the acquisitions walked in Python."""
    found: dict[tuple[int, str], int] = {}
    arrivals = schema.acquisitions.c
    for key, case_id, item in conn.execute(
        select(arrivals.id, arrivals.case_id, arrivals.item_sha256).order_by(arrivals.id)
    ):
        if case_id is not None:
            found.setdefault((case_id, item), key)
    return found


def _firsts_kept(conn: Connection) -> dict[tuple[int, str], int | None]:
    members = schema.case_items.c
    rows = conn.execute(select(members.case_id, members.item_sha256, members.first_acquisition))
    return {(case_id, item): first for case_id, item, first in rows}


def _arrived(locker: Locker, folder: Path) -> dict[str, str]:
    """North takes a, b; South takes a; North takes a again (another name) and c."""
    first = take(
        locker, photo(folder / "n", "a.jpg", 1), photo(folder / "n", "b.jpg", 2), case="North"
    )
    a, b = (str(o.sha256) for o in first.outcomes)
    take(locker, photo(folder / "s", "zq5-south.jpg", 1), case="South")
    again = take(
        locker,
        photo(folder / "n2", "a-again.jpg", 1),
        photo(folder / "n2", "c.jpg", 3),
        case="North",
    )
    c = next(str(o.sha256) for o in again.outcomes if str(o.sha256) != a)
    return {"a": a, "b": b, "c": c}


def test_the_grid_lists_each_item_by_its_first_arrival_in_its_own_case(
    locker: Locker, tmp_path: Path
) -> None:
    shas = _arrived(locker, tmp_path)
    with locker.engine.connect() as conn:
        assert _firsts_kept(conn) == _firsts_walked(conn)
        north, south = _case(conn, "North"), _case(conn, "South")
        listed = grid_pages.page(conn, north, grid_pages.Cut(10))
        # a came back to North after South took it: it keeps its first place in North
        assert listed == [shas["a"], shas["b"], shas["c"]]
        assert grid_pages.page(conn, south, grid_pages.Cut(10)) == [shas["a"]]
        after_a = grid_pages.page(conn, north, grid_pages.Cut(1, after=shas["a"]))
        before_c = grid_pages.page(conn, north, grid_pages.Cut(2, before=shas["c"]))
        assert (after_a, before_c) == ([shas["b"]], [shas["a"], shas["b"]])
        assert grid_pages.page(conn, north, grid_pages.Cut(2, offset=1)) == [shas["b"], shas["c"]]
        # a key from outside the case gives no page, not the case from its start
        assert grid_pages.page(conn, south, grid_pages.Cut(5, after=shas["b"])) == []
        [row] = grid_pages.rows(conn, north, [shas["a"]])
        assert (row["name"].endswith("a.jpg"), row["acquisitions"]) == (True, 2)
        assert "zq5" not in row["name"]


def test_the_migration_fills_the_first_arrivals_of_an_older_catalogue(
    locker: Locker, tmp_path: Path
) -> None:
    _arrived(locker, tmp_path)
    with locker.engine.connect() as conn:
        kept = _firsts_kept(conn)
    with locker.engine.connect() as conn, conn.begin():
        downgrade(conn, "0020")
        columns = {c["name"] for c in conn.dialect.get_columns(conn, "case_items")}
        assert "first_acquisition" not in columns
    path = locker.path
    locker.close()
    with Locker.open(path) as reopened:
        with reopened.engine.connect() as conn:
            assert migrate.current(conn) == migrate.head()
            assert _firsts_kept(conn) == kept == _firsts_walked(conn)
        assert verify(reopened, quick=True).ok


def test_verify_names_a_membership_moved_to_another_arrival(locker: Locker, tmp_path: Path) -> None:
    """A membership pointed at the item's later arrival (which would move it down the grid),
    or at none (which would take it off the grid), is named with the arrival it should name."""
    shas = _arrived(locker, tmp_path)
    assert verify(locker, quick=True).ok
    with locker.engine.begin() as conn:
        north, firsts = _case(conn, "North"), _firsts_walked(conn)
        members, arrivals = schema.case_items.c, schema.acquisitions.c
        later = conn.execute(
            select(arrivals.id)
            .where(arrivals.case_id == north, arrivals.item_sha256 == shas["a"])
            .order_by(arrivals.id.desc())
        ).first()
        assert later is not None and later[0] != firsts[(north, shas["a"])]
        for item, moved in ((shas["a"], later[0]), (shas["b"], None)):
            conn.execute(
                update(schema.case_items)
                .where(members.case_id == north, members.item_sha256 == item)
                .values(first_acquisition=moved)
            )
    found = sorted(str(p) for p in verify(locker, quick=True).problems)
    expected = sorted(
        f"item {item[:16]}: is listed in case 'North' as first arriving in acquisition "
        f"{moved}, but its first arrival there is acquisition {firsts[(north, item)]}"
        for item, moved in ((shas["a"], later[0]), (shas["b"], None))
    )
    assert found == expected
