"""`docket shadow-places ITEM`: where a shadow measured on an item's picture fits at the
claimed time (docket.aids.shadow_places), printed as latitude bands and known towns, and
recorded as the item's analysis with its custody event."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from docket._cli_common import locker_option, open_locker, print_json
from docket.errors import DocketError
from docket.locker import default_actor

if TYPE_CHECKING:
    from docket.aids.shadow_places import Fit


def _latitude(value: float) -> str:
    return f"{abs(value):g}°{'N' if value > 0 else 'S' if value < 0 else ''}"


def _longitude(value: float) -> str:
    return f"{abs(value):g}°{'E' if value > 0 else 'W' if value < 0 else ''}"


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise DocketError(f"--at {text!r}: give an ISO 8601 time with its offset") from exc


@click.command(name="shadow-places")
@click.argument("item_id")
@click.option(
    "--ratio",
    type=float,
    required=True,
    help="Shadow length / object height, measured on the picture.",
)
@click.option(
    "--shadow-azimuth",
    type=float,
    default=None,
    help="The direction the shadow points, degrees clockwise from true north, when known.",
)
@click.option(
    "--at",
    "at_text",
    default=None,
    help="The moment to test, ISO 8601 with offset (default: the item's stated capture time).",
)
@click.option(
    "--tolerance", type=float, default=1.0, show_default=True, help="Degrees of sun elevation."
)
@click.option(
    "--azimuth-tolerance",
    type=float,
    default=10.0,
    show_default=True,
    help="Degrees of sun direction, with --shadow-azimuth.",
)
@click.option("--case", help="The case the fit is work of (needed when several cases hold it).")
@click.option("--json", "as_json", is_flag=True)
@locker_option
def shadow_places_command(
    item_id: str,
    ratio: float,
    shadow_azimuth: float | None,
    at_text: str | None,
    tolerance: float,
    azimuth_tolerance: float,
    case: str | None,
    as_json: bool,
    locker_path: Path | None,
) -> None:
    """Print where on Earth a shadow of RATIO times its object's height (pointing to
    --shadow-azimuth, when known) fits at the item's claimed time: the latitude bands, the
    known towns there, and whether the item's stated position is among them. Recorded as
    the item's analysis; a signal to weigh, never a verdict."""
    from docket import scope
    from docket.aids import shadow_places
    from docket.aids._time import position
    from docket.aids.consistency import utc_capture
    from docket.catalogue import queries
    from docket.catalogue.records import latest_result

    with open_locker(locker_path) as locker:
        with locker.engine.connect() as conn:
            sha256 = queries.resolve_item(conn, item_id)
            view = scope.for_locker(conn, sha256, case)
            found = latest_result(conn, sha256, "metadata")
        record = dict((found or {}).get("data", {}).get("raw") or {}) if found else {}
        when = _when(at_text) or utc_capture(record)
        if when is None:
            raise DocketError(
                f"item {sha256[:12]} states no capture time with a known offset: give --at"
            )
        fit = shadow_places.fit(
            ratio, when, shadow_azimuth, position(record), tolerance, azimuth_tolerance
        )
        with locker.engine.connect() as conn, conn.begin():
            event = shadow_places.record(conn, default_actor(), sha256, fit, view.case)
    if as_json:
        print_json({"item": sha256, "event": event.seq, **fit.as_dict()})
        return
    _show(fit, event.seq)


def _show(fit: Fit, event: int) -> None:
    from docket.aids.shadow_places import GRID_STEP, UNCERTAINTY

    short, long = fit.ratio_range
    click.echo(f"places where the shadow fits at {fit.when.isoformat()} (signals, not a verdict)")
    click.echo(
        f"shadow ratio {fit.ratio:g}: sun elevation {fit.elevation:.1f}° ± {fit.tolerance:g}° "
        f"(ratios {short:.3f} to {long:.3f})"
    )
    if fit.shadow_azimuth is not None:
        click.echo(
            f"shadow pointing {fit.shadow_azimuth:g}°: sun azimuth "
            f"{(fit.shadow_azimuth + 180) % 360:g}° ± {fit.azimuth_tolerance:g}°"
        )
    if fit.stated is not None and fit.stated_sun is not None:
        verdict = "fits" if fit.stated_fits else "does not fit"
        click.echo(
            f"stated position {fit.stated.latitude:.4f}, {fit.stated.longitude:.4f} {verdict}: "
            f"the sun there at elevation {fit.stated_sun[1]:.1f}°, azimuth {fit.stated_sun[0]:.1f}°"
        )
    click.echo(f"\nlatitude bands ({GRID_STEP:g}° cells; longitudes west to east):")
    for strip in fit.strips:
        spans = "; ".join(f"{_longitude(w)} to {_longitude(e)}" for w, e in strip.spans)
        click.echo(f"  {_latitude(strip.south)} to {_latitude(strip.north)}: {spans}")
    if not fit.strips:
        click.echo("  none: nowhere did the sun stand so at that moment")
    order = "nearest first" if fit.stated is not None else "largest first"
    click.echo(f"\nknown towns where it fits ({order}):")
    for p in fit.places:
        far = "" if p.km is None else f", {p.km:g} km away"
        click.echo(
            f"  {p.name} ({p.country}) {p.latitude:.2f}, {p.longitude:.2f}{far}: "
            f"sun at elevation {p.elevation:.1f}°, azimuth {p.azimuth:.1f}°"
        )
    if not fit.places:
        click.echo("  none of GeoNames' towns of 15,000 people or more")
    click.echo(f"\nrecorded as shadow-places (event {event})")
    click.echo(UNCERTAINTY)
