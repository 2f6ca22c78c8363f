"""The offline map: a self-contained, escaped SVG whose geometry matches the ground."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from docket.web.offline_map import MapPoint, svg_map

SVG = "http://www.w3.org/2000/svg"
NS = {"s": SVG}
R = 6_371_008.8


def q(tag: str) -> str:
    return f"{{{SVG}}}{tag}"


def render(points: list[MapPoint]) -> ET.Element:
    svg = svg_map(points)
    assert svg is not None
    return ET.fromstring(svg)


def view_box(root: ET.Element) -> tuple[float, float]:
    _, _, w, h = (float(v) for v in root.attrib["viewBox"].split())
    return w, h


def marker_positions(root: ET.Element) -> list[tuple[float, float]]:
    """Centres of all markers in document order (items, then incidents)."""
    out = [(float(c.attrib["cx"]), float(c.attrib["cy"])) for c in root.iter(q("circle"))]
    for poly in root.iter(q("polygon")):
        xy = [tuple(map(float, pair.split(","))) for pair in poly.attrib["points"].split()]
        out.append((sum(p[0] for p in xy) / len(xy), sum(p[1] for p in xy) / len(xy)))
    return out


def test_no_valid_points_gives_none() -> None:
    assert svg_map([]) is None
    bad = [
        MapPoint(91.0, 0.0, "too far north"),
        MapPoint(0.0, -180.5, "too far west"),
        MapPoint(math.nan, 10.0, "nan"),
        MapPoint(10.0, math.inf, "inf"),
    ]
    assert svg_map(bad) is None


def test_invalid_points_are_skipped_not_fatal() -> None:
    root = render([MapPoint(math.nan, 0.0, "bad"), MapPoint(10.0, 20.0, "good")])
    assert len(marker_positions(root)) == 1
    assert root.attrib["aria-label"] == "Map of 1 place"


def test_east_is_right_and_north_is_up() -> None:
    west_south = MapPoint(48.80, 2.30, "a")
    east_north = MapPoint(48.90, 2.45, "b")
    root = render([west_south, east_north])
    (x1, y1), (x2, y2) = marker_positions(root)
    assert x2 > x1
    assert y2 < y1
    w, h = view_box(root)
    for x, y in [(x1, y1), (x2, y2)]:
        assert 0 < x < w and 0 < y < h


def test_single_point_is_centred() -> None:
    root = render([MapPoint(-33.86, 151.21, "Sydney", kind="incident")])
    w, h = view_box(root)
    [(x, y)] = marker_positions(root)
    assert math.isclose(x, w / 2, abs_tol=0.5)
    assert math.isclose(y, h / 2, abs_tol=0.5)


def test_identical_points_are_centred() -> None:
    root = render([MapPoint(5.0, 5.0, "a"), MapPoint(5.0, 5.0, "b")])
    w, h = view_box(root)
    for x, y in marker_positions(root):
        assert math.isclose(x, w / 2, abs_tol=0.5) and math.isclose(y, h / 2, abs_tol=0.5)


def test_labels_are_escaped() -> None:
    label = "<script>alert(1)</script> & \"quotes\" 'too'"
    svg = svg_map([MapPoint(1.0, 1.0, label, href="/items/a?x=1&y=2")])
    assert svg is not None
    assert "<script" not in svg.lower()
    root = ET.fromstring(svg)  # parses: escaping is well-formed
    assert not list(root.iter(q("script")))
    titles = [t.text for t in root.iter(q("title"))]
    assert label in titles  # the tooltip round-trips the full label exactly
    [link] = root.iter(q("a"))
    assert link.attrib["href"] == "/items/a?x=1&y=2"


def test_long_labels_are_truncated_but_tooltip_is_full() -> None:
    label = "x" * 80
    root = render([MapPoint(1.0, 1.0, label)])
    [text] = [t for t in root.iter(q("text")) if t.attrib.get("class") == "label"]
    assert text.text is not None and len(text.text) <= 30
    assert label in [t.text for t in root.iter(q("title"))]


def test_only_relative_app_links_are_emitted() -> None:
    hrefs = [
        "https://evil.example/x",
        "javascript:alert(1)",
        "//evil.example/x",
        "/\\evil.example/x",
        "/\t/evil.example",
        "/items/abc",
    ]
    points = [MapPoint(10.0 + i * 0.01, 10.0, f"p{i}", href=h) for i, h in enumerate(hrefs)]
    root = render(points)
    assert [a.attrib["href"] for a in root.iter(q("a"))] == ["/items/abc"]
    assert len(marker_positions(root)) == len(hrefs)  # unlinked points are still drawn


def test_no_external_resources() -> None:
    points = [
        MapPoint(33.5, 36.28, "incident", href="https://tiles.example/1", kind="incident"),
        MapPoint(33.51, 36.29, "item", href="/items/1"),
    ]
    svg = svg_map(points)
    assert svg is not None
    without_xmlns = svg.replace('xmlns="http://www.w3.org/2000/svg"', "", 1)
    assert "http" not in without_xmlns.lower()
    assert "url(" not in svg
    root = ET.fromstring(svg)
    for tag in ("image", "script", "foreignObject", "style", "use"):
        assert not list(root.iter(q(tag)))


def test_scale_bar_is_a_round_distance_of_the_right_length() -> None:
    a, b = MapPoint(50.00, 10.00, "a"), MapPoint(50.05, 10.10, "b")  # about 10 km apart
    root = render([a, b])
    (x1, _), (x2, _) = marker_positions(root)
    px_per_deg_lon = (x2 - x1) / (b.longitude - a.longitude)

    [bar] = [g for g in root.iter(q("g")) if g.attrib.get("class") == "scale-bar"]
    label = bar.find("s:text", NS)
    assert label is not None and label.text is not None
    match = re.fullmatch(r"(\d+) (m|km)", label.text)
    assert match, label.text
    metres = int(match[1]) * (1000 if match[2] == "km" else 1)
    mantissa = metres / 10 ** math.floor(math.log10(metres))
    assert mantissa in (1, 2, 5)

    line = bar.find("s:line", NS)
    assert line is not None
    bar_px = float(line.attrib["x2"]) - float(line.attrib["x1"])
    mid_lat = math.radians((a.latitude + b.latitude) / 2)
    ground_m = R * math.radians(bar_px / px_per_deg_lon) * math.cos(mid_lat)
    assert math.isclose(ground_m, metres, rel_tol=0.02)


def test_aspect_ratio_is_kept_at_high_latitude() -> None:
    lat0, lon0, side = 60.0, 25.0, 1000.0
    dlat = math.degrees(side / R)
    dlon = math.degrees(side / (R * math.cos(math.radians(lat0 + dlat / 2))))
    corners = [(lat0, lon0), (lat0 + dlat, lon0), (lat0, lon0 + dlon), (lat0 + dlat, lon0 + dlon)]
    root = render([MapPoint(lat, lon, "c") for lat, lon in corners])
    xs = [x for x, _ in marker_positions(root)]
    ys = [y for _, y in marker_positions(root)]
    x_extent, y_extent = max(xs) - min(xs), max(ys) - min(ys)
    assert x_extent > 50
    assert math.isclose(x_extent, y_extent, rel_tol=0.02)


def test_graticule_labels_name_hemispheres() -> None:
    root = render([MapPoint(-12.5, -3.25, "a"), MapPoint(-12.0, -3.0, "b")])
    [labels] = [g for g in root.iter(q("g")) if g.attrib.get("class") == "graticule-labels"]
    texts = [t.text or "" for t in labels.iter(q("text"))]
    assert any(re.fullmatch(r"\d+(\.\d+)?°S", t) for t in texts), texts
    assert any(re.fullmatch(r"\d+(\.\d+)?°W", t) for t in texts), texts
