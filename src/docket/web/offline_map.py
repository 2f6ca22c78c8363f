"""Maps drawn as inline SVG on the server, from coordinates alone.

The app runs offline on investigators' laptops, and fetching map tiles would both fail there
and tell a tile server which places are under investigation. So points are drawn on a plain
latitude/longitude grid with a scale bar: no tiles, no scripts, no external resources at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

EARTH_RADIUS_M = 6_371_008.8
MIN_SPAN_DEG = 0.01  # about 1 km: a single point (or identical points) still gets a sane map
PADDING = 0.10
LABEL_CHARS = 30
CAPTION = "No map tiles: positions drawn on a latitude/longitude grid"

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Relative app links only: "/x" yes; "//host", "/\host", whitespace/control tricks no.
_SAFE_HREF = re.compile(r"/(?![/\\])[^\s\\\x00-\x1f\x7f]*")


@dataclass(frozen=True)
class MapPoint:
    latitude: float
    longitude: float
    label: str
    href: str | None = None
    kind: str = "item"  # "incident" or "item"


def _valid(p: MapPoint) -> bool:
    lat, lon = p.latitude, p.longitude
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


def _text(s: str) -> str:
    return escape(_INVALID_XML.sub("", s))


def _attr(s: str) -> str:
    return quoteattr(_INVALID_XML.sub("", s))


def _safe_href(href: str | None) -> str | None:
    return href if href is not None and _SAFE_HREF.fullmatch(href) else None


def _nice(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= value."""
    base = 10.0 ** math.floor(math.log10(value))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= value * (1 - 1e-9))


def _nice_floor(value: float) -> float:
    """The largest of 1, 2, 5 x 10^k that is <= value."""
    base = 10.0 ** math.floor(math.log10(value))
    return next(m * base for m in (5, 2, 1) if m * base <= value * (1 + 1e-9))


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def _degrees(value: float, step: float, pos: str, neg: str) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    hemisphere = pos if value >= 0 else neg
    return f"{abs(value):.{decimals}f}°{hemisphere if round(value, decimals) else ''}"


def _distance(metres: float) -> str:
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:g} km"


def svg_map(points: Sequence[MapPoint], width: int = 640, height: int = 360) -> str | None:
    """An <svg> map of the points with valid coordinates, or None if there are none.

    Every piece of text is XML-escaped, so the result may be embedded with Jinja's |safe.
    Points straddling the antimeridian are drawn as if the map ran the long way round.
    """
    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    valid = [p for p in points if _valid(p)]
    if not valid:
        return None
    lats = [p.latitude for p in valid]
    lons = [p.longitude for p in valid]
    mid_lat = (min(lats) + max(lats)) / 2
    ref_lat = max(-89.0, min(89.0, mid_lat))  # keeps the projection sane at the poles
    k = math.cos(math.radians(ref_lat))  # local equirectangular: x = lon * cos(mid latitude)
    span_x = max((max(lons) - min(lons)) * k, MIN_SPAN_DEG) * (1 + 2 * PADDING)
    span_y = max(max(lats) - min(lats), MIN_SPAN_DEG) * (1 + 2 * PADDING)
    scale = min(width / span_x, height / span_y)  # pixels per projected degree, both axes
    centre_lon = (min(lons) + max(lons)) / 2

    def px(lon: float) -> float:
        return width / 2 + (lon - centre_lon) * k * scale

    def py(lat: float) -> float:
        return height / 2 - (lat - mid_lat) * scale

    n = len(valid)
    name = f"Map of {n} place{'' if n == 1 else 's'}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label={_attr(name)} '
        'font-family="sans-serif" class="map">',
        f"<title>{_text(name)}</title>",
        f'<rect class="background" x="0" y="0" width="{width}" height="{height}" '
        'fill="#f7f7f4" stroke="#bbb"/>',
        '<g class="graticule" stroke="#d4d4d4" stroke-width="1">',
    ]
    labels: list[str] = []
    lon_lo = centre_lon - width / 2 / (k * scale)
    lon_hi = centre_lon + width / 2 / (k * scale)
    lat_lo, lat_hi = mid_lat - height / 2 / scale, mid_lat + height / 2 / scale
    lon_step, lat_step = _nice((lon_hi - lon_lo) / 5), _nice((lat_hi - lat_lo) / 4)
    for i in range(math.ceil(lon_lo / lon_step), math.floor(lon_hi / lon_step) + 1):
        lon = i * lon_step
        if -180 <= lon <= 180:
            x = px(lon)
            out.append(f'<line x1="{x:.2f}" y1="0" x2="{x:.2f}" y2="{height}"/>')
            labels.append(
                f'<text x="{x + 3:.2f}" y="11">{_degrees(lon, lon_step, "E", "W")}</text>'
            )
    for i in range(math.ceil(lat_lo / lat_step), math.floor(lat_hi / lat_step) + 1):
        lat = i * lat_step
        if -90 <= lat <= 90:
            y = py(lat)
            out.append(f'<line x1="0" y1="{y:.2f}" x2="{width}" y2="{y:.2f}"/>')
            labels.append(f'<text x="3" y="{y - 3:.2f}">{_degrees(lat, lat_step, "N", "S")}</text>')
    out.append("</g>")
    out.append('<g class="graticule-labels" font-size="10" fill="#777">')
    out.extend(labels)
    out.append("</g>")

    # Scale bar: measure a quarter of the width along the mid parallel, round down to nice.
    quarter = width / 4
    quarter_m = haversine_m(ref_lat, centre_lon, ref_lat, centre_lon + quarter / (k * scale))
    bar_m = _nice_floor(quarter_m)
    bar_px = quarter * bar_m / quarter_m
    x0, y0 = 12.0, height - 12.0
    out += [
        f'<g class="scale-bar" data-metres="{bar_m:g}" stroke="#333" stroke-width="2">',
        f'<line x1="{x0:.2f}" y1="{y0:.2f}" x2="{x0 + bar_px:.2f}" y2="{y0:.2f}"/>',
        f'<line x1="{x0:.2f}" y1="{y0 - 4:.2f}" x2="{x0:.2f}" y2="{y0:.2f}"/>',
        f'<line x1="{x0 + bar_px:.2f}" y1="{y0 - 4:.2f}" x2="{x0 + bar_px:.2f}" y2="{y0:.2f}"/>',
        f'<text x="{x0:.2f}" y="{y0 - 6:.2f}" font-size="11" fill="#333" stroke="none">'
        f"{_distance(bar_m)}</text>",
        "</g>",
        f'<text class="caption" x="{width - 6}" y="{height - 6}" font-size="10" fill="#777" '
        f'text-anchor="end">{_text(CAPTION)}</text>',
    ]

    # Incidents last so they sit on top of the items around them.
    for p in sorted(valid, key=lambda p: p.kind == "incident"):
        x, y = px(p.longitude), py(p.latitude)
        if p.kind == "incident":
            r = 8.0
            corners = (
                f"{x:.2f},{y - r:.2f} {x + r:.2f},{y:.2f} {x:.2f},{y + r:.2f} {x - r:.2f},{y:.2f}"
            )
            shape = (
                f'<polygon class="marker incident" points="{corners}" fill="#8b0000" '
                'stroke="#fff" stroke-width="1.5">'
            )
            end, gap = "</polygon>", r + 3
        else:
            shape = (
                f'<circle class="marker item" cx="{x:.2f}" cy="{y:.2f}" r="4.5" fill="#1f5fbf" '
                'stroke="#fff" stroke-width="1.5">'
            )
            end, gap = "</circle>", 7.0
        label = p.label if len(p.label) <= LABEL_CHARS else p.label[: LABEL_CHARS - 1] + "…"
        on_left = x > width * 0.65  # keep long labels near the right edge inside the map
        tx, anchor = (x - gap, "end") if on_left else (x + gap, "start")
        href = _safe_href(p.href)
        out.append(f"<a href={_attr(href)}>" if href else "<g>")
        out.append(f"{shape}<title>{_text(p.label)}</title>{end}")
        out.append(
            f'<text class="label" x="{tx:.2f}" y="{y + 4:.2f}" font-size="11" fill="#222" '
            f'text-anchor="{anchor}" stroke="#fff" stroke-width="3" paint-order="stroke">'
            f"{_text(label)}</text>"
        )
        out.append("</a>" if href else "</g>")
    out.append("</svg>")
    return "\n".join(out)
