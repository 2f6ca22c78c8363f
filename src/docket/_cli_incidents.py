"""Commands for incidents: record, list, show, link evidence, the case timeline and the
violation vocabulary (the same docket.incidents calls the web app makes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
from sqlalchemy import Connection, select

from docket import incidents, timeline
from docket._cli_common import locker_option, open_locker, print_json
from docket.catalogue import queries, schema
from docket.errors import NotFoundError
from docket.locker import default_actor
from docket.names import one_line


def _case_id(conn: Connection, name: str) -> int:
    found = conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == name)).scalar()
    if found is None:
        raise NotFoundError(f"case {name!r}: no such case")
    return int(found)


@click.group(name="incident")
def incident_group() -> None:
    """Incidents: what happened, when, where, which violations, which actors."""


@incident_group.command(name="add")
@click.argument("case")
@click.argument("title")
@click.option("--description", default="", help="What is known, in a few sentences.")
@click.option("--when", "occurred_from", help="Date or date-time, e.g. 2024-03-01T09:40.")
@click.option("--until", "occurred_to", help="End of the time range, when not one moment.")
@click.option("--place", default="", help="Where, in words.")
@click.option("--lat", "latitude", type=float, help="Latitude, decimal degrees.")
@click.option("--lon", "longitude", type=float, help="Longitude, decimal degrees.")
@click.option("--violation", "violations", multiple=True, help="A violation type (repeatable).")
@click.option("--actor", "actors", multiple=True, help="An actor involved (repeatable).")
@locker_option
def add_command(
    case: str,
    title: str,
    description: str,
    occurred_from: str | None,
    occurred_to: str | None,
    place: str,
    latitude: float | None,
    longitude: float | None,
    violations: Sequence[str],
    actors: Sequence[str],
    locker_path: Path | None,
) -> None:
    """Record an incident in CASE; prints its number."""
    incident = incidents.Incident(
        title,
        description,
        occurred_from,
        occurred_to,
        place,
        latitude,
        longitude,
        tuple(violations),
        tuple(actors),
    )
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        number = incidents.record(conn, default_actor(), _case_id(conn, case), incident)
    click.echo(f"incident {number} recorded in case {case!r}")


@incident_group.command(name="ls")
@click.argument("case")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@locker_option
def ls_command(case: str, as_json: bool, locker_path: Path | None) -> None:
    """The incidents of CASE, earliest first."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn:
        found = incidents.of_case(conn, _case_id(conn, case))
    if as_json:
        print_json(found)
        return
    for i in found:
        when = i["occurred_from"] or "date unknown"
        click.echo(
            one_line(f"{i['id']:>5}  {when:<20}  {i['title']}  [{', '.join(i['violations'])}]")
        )


@incident_group.command(name="show")
@click.argument("number", type=int)
@locker_option
def show_command(number: int, locker_path: Path | None) -> None:
    """One incident and the evidence linked to it, as JSON."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn:
        print_json(incidents.get(conn, number))


@incident_group.command(name="link")
@click.argument("number", type=int)
@click.argument("item_id")
@click.option("--annotation", type=int, help="Link this annotation of the item, not all of it.")
@locker_option
def link_command(
    number: int, item_id: str, annotation: int | None, locker_path: Path | None
) -> None:
    """Link an item (of the incident's case) to incident NUMBER."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        sha256 = queries.resolve_item(conn, item_id)
        incidents.link(conn, default_actor(), number, sha256, annotation)
    click.echo(f"item {sha256[:12]} linked to incident {number}")


@incident_group.command(name="timeline")
@click.argument("case")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@locker_option
def timeline_command(case: str, as_json: bool, locker_path: Path | None) -> None:
    """CASE day by day: incidents by date, items by capture time."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn:
        case_id = _case_id(conn, case)
        if as_json:
            print_json(timeline.case_timeline(conn, case_id).as_dict())
            return
        for day in timeline.days(conn, case_id):  # printed as read: a case may hold a million
            _print_day(day)
        click.echo(f"{timeline.undated_count(conn, case_id)} item(s) without a capture time")


def _print_day(day: timeline.Day) -> None:
    click.echo(day.day)
    for i in day.incidents:
        click.echo(one_line(f"  incident {i['id']}: {i['title']}"))
    for item in day.items:
        click.echo(
            one_line(f"  {item['captured'][11:]:<14}  {item['sha256'][:12]}  {item['name']}")
        )
    if day.item_count > len(day.items):
        click.echo(f"  and {day.item_count - len(day.items)} more item(s) captured that day")


@incident_group.command(name="types")
@click.option("--add", "added", multiple=True, help="Add a violation type (repeatable).")
@click.option("--retire", "retired", multiple=True, help="Retire a violation type (repeatable).")
@locker_option
def types_command(added: Sequence[str], retired: Sequence[str], locker_path: Path | None) -> None:
    """List the violation types; --add and --retire change them (each change is logged)."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        for name in added:
            incidents.change_vocabulary(conn, default_actor(), name, True)
        for name in retired:
            incidents.change_vocabulary(conn, default_actor(), name, False)
        names = incidents.vocabulary(conn)
    click.echo("\n".join(names))
