"""Review work from the command line: tag and annotate items, set their workflow status, list
cases, their members and their audit (docket.audit: who revealed, exported or changed what).

Each command calls the library the web app calls (docket.review, docket.access), through the
same scope rule (docket.scope): the person at the command line holds the locker, and their work
is recorded in the case named (or the item's only case), never in one that does not hold it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
from sqlalchemy import func, select

from docket import access, audit, review, scope, search
from docket._cli_common import locker_option, open_locker, print_json
from docket.accounts import User
from docket.catalogue import queries, schema
from docket.locker import default_actor
from docket.names import one_line

_CASE_HELP = "The case it is recorded in (needed when several cases hold the item)."


def _operator() -> User:
    """The locker's holder acts as an admin, under their own name in the custody log."""
    return User(0, default_actor(), "admin")


def _region(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    try:
        x, y, w, h = (int(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give x,y,width,height in pixels") from None
    return x, y, w, h


@click.command(name="tag")
@click.argument("item_id")
@click.argument("tags", nargs=-1, required=True)
@click.option("--case", help=_CASE_HELP)
@locker_option
def tag_command(
    item_id: str, tags: tuple[str, ...], case: str | None, locker_path: Path | None
) -> None:
    """Tag an item (ID: a unique prefix of its SHA-256) with one or more TAGS."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        sha256 = queries.resolve_item(conn, item_id)
        view = scope.for_locker(conn, sha256, case)
        for tag in tags:
            review.add_tag(conn, default_actor(), sha256, tag, view)
        now = review.tags_of(conn, sha256, view)
    where = f" in {view.case}" if view.case else ""
    click.echo(one_line(f"item {sha256[:12]} tagged{where}: {', '.join(now)}"))


@click.command(name="annotate")
@click.argument("item_id")
@click.argument("text")
@click.option("--region", metavar="X,Y,W,H", help="A region of the picture, in pixels.")
@click.option("--from", "start", type=float, help="Start of a span of the video, in seconds.")
@click.option("--to", "end", type=float, help="End of the span, in seconds.")
@click.option("--case", help=_CASE_HELP)
@locker_option
def annotate_command(
    item_id: str,
    text: str,
    region: str | None,
    start: float | None,
    end: float | None,
    case: str | None,
    locker_path: Path | None,
) -> None:
    """Annotate an item: a note, a region of a picture (--region) or a span of a video
    (--from/--to)."""
    box = _region(region)
    kind = (
        "region" if box is not None else "span" if start is not None or end is not None else "note"
    )
    note = review.Annotation(kind, text, box, start, end)
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        sha256 = queries.resolve_item(conn, item_id)
        view = scope.for_locker(conn, sha256, case)
        number = review.annotate(conn, default_actor(), sha256, note, view)
    click.echo(f"item {sha256[:12]}: {kind} annotation {number} recorded")


@click.command(name="status")
@click.argument("item_id")
@click.argument("status", type=click.Choice(review.STATUSES))
@click.option("--case", help=_CASE_HELP)
@click.option("--assign", metavar="USER", help="Assign it to a member of the case ('' for nobody).")
@click.option("--comment", help="Why: kept with the change and its custody event.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a line.")
@locker_option
def status_command(
    item_id: str,
    status: str,
    case: str | None,
    assign: str | None,
    comment: str | None,
    as_json: bool,
    locker_path: Path | None,
) -> None:
    """Set an item's workflow STATUS in its case (new, in review, verified, disputed,
    excluded), with an assignee and a comment."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        sha256 = queries.resolve_item(conn, item_id)
        view = scope.for_locker(conn, sha256, case)
        now = review.set_status(conn, default_actor(), sha256, view, status, assign, comment)
    if as_json:
        print_json({"item": sha256, "case": view.case, **now.__dict__})
        return
    who = f", assigned to {now.assignee}" if now.assignee else ""
    click.echo(f"item {sha256[:12]} in {view.case}: {now.status}{who}")


@click.command(name="search")
@click.argument("words", nargs=-1, required=True)
@click.option("--case", help="Only this case's items and records.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@locker_option
def search_command(
    words: tuple[str, ...], case: str | None, as_json: bool, locker_path: Path | None
) -> None:
    """Items that WORDS find: in names, notes, sources, URLs of origin, tags, annotations,
    incidents and metadata (every word must match; the same search as `ls --search`)."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        rows = queries.list_items(conn, case)
        found = set(search.find_in_locker(conn, [r["sha256"] for r in rows], " ".join(words), case))
        rows = [row for row in rows if row["sha256"] in found]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("nothing found")
    for row in rows:
        click.echo(one_line(f"{row['sha256'][:12]}  {row['media_type']:<20} {row['name']}"))


@click.group(name="case")
def case_group() -> None:
    """Cases: their items and members (make one by ingesting with --case)."""


@case_group.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@locker_option
def case_ls(as_json: bool, locker_path: Path | None) -> None:
    """Every case: name, when it was made, its items and members."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        items: dict[int, int] = dict(
            conn.execute(
                select(schema.case_items.c.case_id, func.count()).group_by(
                    schema.case_items.c.case_id
                )
            ).all()
        )
        members: dict[int, int] = dict(
            conn.execute(
                select(schema.memberships.c.case_id, func.count()).group_by(
                    schema.memberships.c.case_id
                )
            ).all()
        )
        created = dict(conn.execute(select(schema.cases.c.id, schema.cases.c.created_at)).all())
        cases = [
            {
                "name": name,
                "created": created[case_id],
                "items": int(items.get(case_id, 0)),
                "members": int(members.get(case_id, 0)),
            }
            for case_id, name, _role in access.visible_cases(conn, _operator())
        ]
    if as_json:
        print_json(cases)
        return
    if not cases:
        click.echo("no cases yet (make one: docket ingest --case NAME FILES)")
    for c in cases:
        click.echo(
            one_line(
                f"{c['name']:<24} {c['created']}  {c['items']:>7} items  {c['members']} members"
            )
        )


@case_group.command(name="members")
@click.argument("case")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@locker_option
def case_members(case: str, as_json: bool, locker_path: Path | None) -> None:
    """The members of CASE and their roles."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        members = access.list_members(conn, _operator(), queries.case_id_of(conn, case))
    if as_json:
        print_json(members)
        return
    if not members:
        click.echo(f"{case} has no members (add one: docket member add {case} NAME ROLE)")
    for m in members:
        click.echo(
            one_line(f"{m['name']:<24} {m['role']}{'  (disabled)' if m['disabled'] else ''}")
        )


@case_group.command(name="audit")
@click.argument("case")
@click.option("--kind", type=click.Choice(list(audit.KINDS)), help="Only events of this kind.")
@click.option("--actor", default="", help="Only what this person did.")
@click.option("--before", type=click.IntRange(min=1), help="Only events below this log position.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=audit.PAGE, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@locker_option
def case_audit(
    case: str,
    kind: str | None,
    actor: str,
    before: int | None,
    limit: int,
    as_json: bool,
    locker_path: Path | None,
) -> None:
    """Who revealed, exported or changed what in CASE, newest first, from the custody log:
    only CASE's own events (the same list as the web app's audit page)."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        view = scope.of_case(conn, _operator(), queries.case_id_of(conn, case), "view")
        page = audit.case_audit(conn, view, kind or "", actor, before, limit)
    if as_json:
        print_json({"entries": [asdict(e) for e in page.entries], "next_before": page.next_before})
        return
    if not page.entries:
        click.echo(f"nothing recorded in {case} that these filters keep")
    for e in page.entries:
        what = "; ".join(f"{k}: {v}" for k, v in e.details.items())
        item = e.item[:12] if e.item else "-"
        # Web-written comments and tags: one line each, no escape sequence reaches the terminal.
        click.echo(one_line(f"{e.seq:>7}  {e.time}  {e.actor:<16} {e.kind:<11} {item:<12}  {what}"))
    if page.next_before is not None:
        click.echo(f"(older: --before {page.next_before})")
