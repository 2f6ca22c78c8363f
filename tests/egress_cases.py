"""Captures without --allow-private-network or --proxy, the way a capture from the web app runs:
through the capture's own proxy (docket.capture.egress). Not collected by the suite: run by
tests/test_capture_egress.py inside a network namespace of its own, where the "outside" site
listens on a global address (PUBLIC, on that namespace's loopback: nobody's but the test's),
the "inside" site on 127.0.0.1, and /etc/hosts names both (velmora.test, inside.velmora.test).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_capture import blob, by_kind, warc_records
from web_site import Site, self_signed, serve

from docket.capture.guard import CaptureRefusedError
from docket.capture.run import CaptureOptions, capture
from docket.custody import log
from docket.locker import Locker
from docket.verify import verify

PUBLIC = os.environ["DOCKET_TEST_PUBLIC_ADDRESS"]
FROM_THE_APP = CaptureOptions(collector="tester", timeout=20)


@pytest.fixture
def outside(made: Site) -> Iterator[Site]:
    with serve(made.fresh(), host=PUBLIC) as served:
        yield served


@pytest.fixture
def inside(made: Site) -> Iterator[Site]:
    with serve(made.fresh()) as served:
        yield served


def reached(site: Site) -> tuple[list[str], int]:
    return site.paths(), site.connections


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("host", ["127.0.0.1", "inside.velmora.test"])
def test_nothing_a_page_does_reaches_inside(
    backend: str, locker: Locker, outside: Site, inside: Site, host: str
) -> None:
    """Redirected images, video and script fetches, a preconnect and a DNS prefetch: inside
    sees not one connection, and the capture names what it refused."""
    page = outside.url(f"/reach-inside.html?inside={host}:{inside.port}")
    done = capture(locker, page, FROM_THE_APP)
    assert done.status == 200
    assert reached(inside) == ([], 0)
    refused = " ".join(note for note in done.notes if note.startswith("not loaded:"))
    assert f"{host}:{inside.port}/img/chelsea.jpg" in refused
    assert f"{host}:{inside.port}/secret" in refused
    assert set(by_kind(done, "image")) == {outside.url("/img/astronaut.jpg")}
    assert by_kind(done, "video") == {}
    assert "/reach-inside.html" in outside.paths()
    [page_record] = [
        r
        for r in warc_records(blob(locker, done.wacz.sha256))
        if r.rec_type == "response" and r.rec_headers.get_header("WARC-Target-URI") == page
    ]
    assert page_record.rec_headers.get_header("WARC-IP-Address") == PUBLIC
    assert verify(locker).ok


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_page_that_redirects_inside_is_refused_and_records_nothing(
    backend: str, locker: Locker, outside: Site, inside: Site
) -> None:
    page = outside.url(f"/redirect-to?to=http://127.0.0.1:{inside.port}/gallery.html")
    with pytest.raises(CaptureRefusedError, match=f"127.0.0.1:{inside.port}/gallery.html"):
        capture(locker, page, FROM_THE_APP)
    assert reached(inside) == ([], 0)
    with locker.engine.connect() as conn:
        assert not [e for e in log.events(conn) if e.action == "capture.made"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_name_outside_over_https_is_captured_through_the_proxy_with_its_address(
    backend: str, locker: Locker, made: Site, inside: Site, tmp_path: Path
) -> None:
    """The tunnel (CONNECT) path: a site named in /etc/hosts, over TLS; its parts arrive and
    the WARC names the address the proxy connected to, not the proxy's."""
    cert, key, _der = self_signed(tmp_path / "tls")
    with serve(made.fresh(), tls=(cert, key), host=PUBLIC) as site:
        page = f"https://velmora.test:{site.port}/gallery.html"
        done = capture(locker, page, FROM_THE_APP)
    assert done.status == 200
    assert len(by_kind(done, "image")) == 3 and by_kind(done, "video")
    addresses = {
        r.rec_headers.get_header("WARC-IP-Address")
        for r in warc_records(blob(locker, done.wacz.sha256))
        if r.rec_type == "response"
    }
    assert addresses == {PUBLIC}
    assert reached(inside) == ([], 0)
