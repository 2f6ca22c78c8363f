"""The web app against attack (issue 10): each test is named after a finding and failed before
its fix. Originals never act in our origin; every response carries the security headers;
sign-in is slowed per account and client, never locked, and takes the same time for unknown
names; writes from other sites are refused; no body is read before its sender is known;
uploads are capped and stream into the locker's tmp/; odd inputs answer 4xx, never 500;
`serve` answers only its host names."""

from __future__ import annotations

import errno
import io
import re
import time
import typing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import argon2
import pytest
from conftest import PASSWORD, sign_in, take
from fastapi.testclient import TestClient
from media import slideshow

import docket.web
from docket import accounts
from docket.locker import Locker
from docket.web import throttle
from docket.web.app import create_app

SCRIPTED_HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SCRIPTED_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>'


def _headers_keep_it_inert(answer: Any, inline: bool) -> None:
    assert answer.headers["x-content-type-options"] == "nosniff"
    policy = answer.headers["content-security-policy"]
    assert policy.startswith("sandbox;") and "default-src 'none'" in policy
    assert "allow-scripts" not in policy
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("inline" if inline else "attachment"), disposition
    assert answer.headers["cache-control"] == "no-store"
    if not inline:
        assert answer.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(
    "name, content", [("page.html", SCRIPTED_HTML), ("icon.svg", SCRIPTED_SVG)]
)
@pytest.mark.parametrize("backend", ["sqlite"])  # response headers: no catalogue work
def test_revealing_an_html_or_svg_file_sends_it_as_a_sandboxed_attachment(
    backend: str, world: dict[str, Any], locker: Locker, tmp_path: Path, name: str, content: bytes
) -> None:
    evidence = tmp_path / name
    evidence.write_bytes(content)
    sha = take(locker, evidence, case="North").outcomes[0].sha256
    client = world["client"]
    csrf = sign_in(client, "owner-1")
    page = client.post(f"/items/{sha}/reveal", data={"csrf": csrf})
    link = re.search(r'<a href="([^"]+)" rel="noopener">Download the original</a>', page.text)
    assert link is not None and "<iframe" not in page.text and "<object" not in page.text
    for answer in (
        client.get(link.group(1).replace("&amp;", "&")),
        client.post(f"/api/items/{sha}/reveal", headers={"x-csrf-token": csrf}),
    ):
        assert answer.status_code == 200 and answer.content == content
        _headers_keep_it_inert(answer, inline=False)
    shown = client.post(f"/items/{world['north']}/reveal", data={"csrf": csrf})
    picture = re.search(r'<img src="([^"]+)"', shown.text)
    assert picture is not None
    photo = client.get(picture.group(1).replace("&amp;", "&"))
    assert photo.headers["content-type"] == "image/jpeg"
    _headers_keep_it_inert(photo, inline=True)
    preview = client.get(f"/items/{world['north']}/safe-preview")
    _headers_keep_it_inert(preview, inline=True)


@pytest.mark.parametrize("backend", ["sqlite"])  # response headers: no catalogue work
def test_a_video_s_player_file_and_keyframes_are_sandboxed_too(
    backend: str, world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    video = slideshow(tmp_path / "video", ["astronaut", "coffee"], seconds=1.0)
    sha = take(locker, video, case="North").outcomes[0].sha256
    client = world["client"]
    csrf = sign_in(client, "reviewer-1")
    page = client.post(f"/items/{sha}/reveal", data={"csrf": csrf})
    source = re.search(r'<source src="([^"]+)"', page.text)
    assert source is not None
    _headers_keep_it_inert(client.get(source.group(1).replace("&amp;", "&")), inline=True)
    keyframe_page = client.post(f"/items/{sha}/keyframes/0/reveal", data={"csrf": csrf})
    shown = re.search(r'<img src="([^"]+)"', keyframe_page.text)
    assert keyframe_page.status_code == 200 and shown is not None
    keyframe = client.get(shown.group(1).replace("&amp;", "&"))
    assert keyframe.status_code == 200
    _headers_keep_it_inert(keyframe, inline=True)
    api = client.post(f"/api/items/{sha}/keyframes/0/reveal", headers={"x-csrf-token": csrf})
    assert api.content == keyframe.content
    _headers_keep_it_inert(api, inline=True)


@pytest.mark.parametrize("backend", ["sqlite"])  # response headers: no catalogue work
def test_no_security_headers_anywhere(backend: str, world: dict[str, Any]) -> None:
    client, north = world["client"], world["north"]
    login = client.get("/login")
    sign_in(client, "reviewer-1")
    answers = [
        login,
        client.get("/"),
        client.get(f"/cases/{world['cases']['North']}"),
        client.get(f"/items/{north}"),
        client.get("/api/cases"),
        client.get(f"/items/{'0' * 64}"),
    ]
    for answer in answers:
        headers = answer.headers
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    for page in answers[:4]:
        nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
        assert nonce is not None
        # Inline style and script only with this response's nonce; no attributes that run.
        for tag in re.findall(r"<(?:style|script)\b[^>]*>", page.text):
            assert f'nonce="{nonce.group(1)}"' in tag, tag
        assert not re.search(r"\s(style|on[a-z]+)\s*=", page.text), page.url
    nonces = {
        re.findall(r"'nonce-([^']+)'", a.headers["content-security-policy"])[0] for a in answers
    }
    assert len(nonces) == len(answers)  # fresh for every response
    docs = client.get("/docs")  # Docket's own page: the strict policy, nothing from elsewhere
    policy = docs.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "http" not in policy
    assert "/api/cases/{case_id}/bulk" in docs.text and 'href="/openapi.json"' in docs.text
    loaded = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", docs.text)
    assert loaded and all(url.startswith(("/", "#")) for url in loaded), loaded


def test_no_template_holds_inline_style_or_script_without_the_nonce() -> None:
    """The strict page policy blocks them; every template is read, so a new page is too."""
    folder = Path(docket.web.__file__).parent / "templates"
    for template in folder.glob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<(?:style|script)\b[^>]*>", text):
            assert 'nonce="{{ request.state.csp_nonce }}"' in tag, (template.name, tag)
        assert not re.search(r"\s(style|on[a-z]+)\s*=", text), template.name


def _client(world: dict[str, Any], address: str) -> TestClient:
    return TestClient(world["client"].app, client=(address, 40000))


@pytest.mark.parametrize("backend", ["sqlite"])  # the throttle lives in memory
def test_five_wrong_passwords_lock_any_account(backend: str, world: dict[str, Any]) -> None:
    """A person hammering another's account from one client cannot stop its owner."""
    hammer = _client(world, "198.51.100.66")
    answers = [
        hammer.post("/login", data={"name": "ada", "password": f"guess {n}"}).status_code
        for n in range(throttle.FREE_PER_ACCOUNT + 3)
    ]
    assert answers[: throttle.FREE_PER_ACCOUNT] == [401] * throttle.FREE_PER_ACCOUNT
    assert answers[-1] == 429  # the hammering client is slowed...
    slowed = hammer.post("/login", data={"name": "ada", "password": PASSWORD})
    assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) >= 1
    owner = _client(world, "192.0.2.10")  # ...while the owner signs in from their machine
    sign_in(owner, "ada")
    # Admins see the throttles and clear them; the hammering client may then try again.
    listed = owner.get("/api/throttles").json()
    assert {(e["name"], e["client"]) for e in listed} == {
        ("ada", "198.51.100.66"),
        (None, "198.51.100.66"),
    }
    assert "198.51.100.66" in owner.get("/throttles").text
    csrf = sign_in(owner, "ada")
    cleared = owner.delete(
        "/api/throttles", params={"client": "198.51.100.66"}, headers={"x-csrf-token": csrf}
    )
    assert cleared.json() == {"cleared": 2}
    sign_in(hammer, "ada")
    sign_in(hammer, "viewer-1")
    assert hammer.get("/api/throttles").status_code == 403  # not an admin


def test_a_client_spraying_many_names_is_slowed() -> None:
    now = [1000.0]
    slow = throttle.Throttle(clock=lambda: now[0])
    for n in range(throttle.FREE_PER_CLIENT):  # each try counted as it begins
        assert slow.begin(f"name-{n}", "203.0.113.5").wait == 0
    assert slow.begin("someone-new", "203.0.113.5").wait == 1.0
    assert slow.begin("someone-new", "203.0.113.6").wait == 0
    now[0] += 1.0
    assert slow.begin("someone-new", "203.0.113.5").wait == 0
    assert slow.begin("someone-new", "203.0.113.5").wait == 2.0  # growing
    now[0] += throttle.FORGET_SECONDS + 1
    assert slow.begin("someone-new", "203.0.113.5").wait == 0  # forgotten after a quiet hour
    assert throttle.client_key("2001:db8::1") == throttle.client_key("2001:db8::2")


def test_a_good_try_leaves_the_client_as_it_was() -> None:
    """A try counts as failed from its start; a good one gives back the client's count and
    the time of its last failure: an office behind one address, slowed by earlier failures,
    is not made to wait again because one person signed in, nor remembered longer."""
    now = [1000.0]
    slow = throttle.Throttle(clock=lambda: now[0])
    office = "203.0.113.7"
    for n in range(throttle.FREE_PER_CLIENT + 2):  # earlier failures: a 4 s delay at 1000
        assert slow.begin(f"typo-{n}", office).wait == 0 or n >= throttle.FREE_PER_CLIENT
        now[0] += 10.0
    before = {(e["name"], e["failures"]) for e in slow.entries()}
    ada = slow.begin("ada", office)
    assert ada.wait == 0
    slow.succeeded("ada", office, ada)
    assert {(e["name"], e["failures"]) for e in slow.entries()} == before
    bob = slow.begin("bob", office)
    assert bob.wait == 0  # nobody is made to wait again
    slow.succeeded("bob", office, bob)
    now[0] += throttle.FORGET_SECONDS - 5.0  # an hour after the failures before ada's...
    carol = slow.begin("carol", office)
    slow.succeeded("carol", office, carol)
    now[0] += 10.0
    assert slow.entries() == []  # ...they are forgotten as they would have been
    fresh = throttle.Throttle()
    for _ in range(throttle.FREE_PER_CLIENT + 5):  # one's own account, again and again
        attempt = fresh.begin("ada", "203.0.113.8")
        assert attempt.wait == 0
        fresh.succeeded("ada", "203.0.113.8", attempt)
    assert fresh.entries() == []


@pytest.mark.parametrize("backend", ["sqlite"])  # the throttle lives in memory
def test_tries_sent_at_once_get_no_more_than_tries_one_after_another(
    backend: str, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prober sends guesses in parallel, each held up in Argon2 while the others arrive:
    no more of them reach the password check than the account's free tries."""
    checks: list[str] = []
    real = accounts.authenticate

    def slow_check(conn: Any, name: str, password: str) -> Any:
        checks.append(password)
        time.sleep(0.5)  # long enough that the other tries arrive meanwhile
        return real(conn, name, password)

    monkeypatch.setattr(accounts, "authenticate", slow_check)
    hammer = _client(world, "198.51.100.77")
    tries = throttle.FREE_PER_ACCOUNT + 5
    with ThreadPoolExecutor(tries) as pool:
        answers = list(
            pool.map(
                lambda n: hammer.post("/login", data={"name": "ada", "password": f"g{n}"}),
                range(tries),
            )
        )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [401] * throttle.FREE_PER_ACCOUNT + [429] * 5
    assert len(checks) == throttle.FREE_PER_ACCOUNT


@pytest.mark.real_argon2  # their subject is Argon2's cost itself
@pytest.mark.parametrize("backend", ["sqlite"])  # sign-in's Argon2 work
def test_known_and_unknown_names_do_the_same_argon2_work(
    backend: str, world: dict[str, Any], locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Known and unknown names take the same time, counted rather than timed (the house keeps
    timings out of tests: shared machines are noisy): a failed sign-in of a known and
    of an unknown name each run one Argon2 check, with the same parameters (memory, time,
    lanes), so neither the answer nor the work tells which names exist."""
    checked: list[argon2.Parameters] = []

    class Counting(argon2.PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> typing.Literal[True]:
            checked.append(argon2.extract_parameters(str(hash)))
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "_HASHER", Counting())
    tries = 6  # a known name tried again and again from other clients, as a prober would:
    for n in range(tries):  # no lock ever answers without doing the work
        answer = _client(world, f"10.0.9.{n}").post("/login", data={"name": "ada", "password": n})
        assert answer.status_code == 401 and "wrong name or password" in answer.text
    client = _client(world, "192.0.2.44")
    for name in ("ada", "nobody-in-particular", "viewer-1"):
        answer = client.post("/login", data={"name": name, "password": "not it"})
        assert answer.status_code == 401 and "wrong name or password" in answer.text
    assert len(checked) == tries + 3 and all(check == checked[0] for check in checked)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://elsewhere.example"},
        {"Origin": "null"},
        {"Referer": "https://elsewhere.example/page"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed evidence file
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-site"},
    ],
)
@pytest.mark.parametrize("backend", ["sqlite"])  # the origin check: no catalogue work
def test_sign_in_accepts_posts_from_other_sites(
    backend: str, world: dict[str, Any], headers: dict[str, str]
) -> None:
    client = world["client"]
    forged = client.post(
        "/login",
        data={"name": "ada", "password": PASSWORD},
        headers=headers,
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "docket_session" not in forged.headers.get(
        "set-cookie", ""
    )
    csrf = sign_in(client, "owner-1")
    body = {"user": "outsider-1", "role": "owner"}
    refused = client.post(
        f"/api/cases/{world['cases']['North']}/members",
        json=body,
        headers={**headers, "x-csrf-token": csrf},
    )
    assert refused.status_code == 403
    for own_headers in (
        {"Origin": "http://testserver", "Referer": "http://testserver/login"},
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # our forms under no-referrer
    ):
        own = client.post(
            "/login",
            data={"name": "ada", "password": PASSWORD},
            headers=own_headers,
            follow_redirects=False,
        )
        assert own.status_code == 303


def test_bearer_token_calls_need_no_origin(world: dict[str, Any], locker: Locker) -> None:
    with locker.engine.connect() as conn, conn.begin():
        token = accounts.issue_token(conn, world["users"]["reviewer"])
    answer = world["client"].post(
        f"/api/items/{world['north']}/flag",
        json={"flag": "graphic"},
        headers={"Authorization": f"Bearer {token}", "Origin": "https://tool.example"},
    )
    assert answer.status_code == 200


def _asgi_post(
    app: Any, path: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, bool]:
    """POST through the ASGI interface: the status, and whether the app read the body."""
    asked: list[int] = []
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        asked.append(1)
        more = len(asked) < len(chunks)
        return {"type": "http.request", "body": chunks[len(asked) - 1], "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    return status[0], bool(asked)


@pytest.mark.parametrize("backend", ["sqlite"])  # the ASGI layer: no catalogue work
def test_request_bodies_are_read_before_sign_in_is_checked(
    backend: str, world: dict[str, Any]
) -> None:
    app, north_id = world["client"].app, world["cases"]["North"]
    body = [b"x" * 65536] * 4
    for path in (f"/cases/{north_id}/upload", f"/api/cases/{north_id}/members", "/cases"):
        headers = {"host": "testserver", "content-type": "multipart/form-data; boundary=b"}
        assert _asgi_post(app, path, headers, body) in ((303, False), (401, False)), path
        headers["cookie"] = "docket_session=forged"
        assert _asgi_post(app, path, headers, body) in ((303, False), (401, False)), path
    login = {"host": "testserver", "content-length": str(300 << 20)}
    assert _asgi_post(app, "/login", login, body) == (413, False)  # by its declared length


@pytest.mark.parametrize("backend", ["sqlite"])  # spooling: no catalogue work
def test_uploads_have_no_size_limit_and_spool_to_the_system_temp(
    backend: str, world: dict[str, Any], locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    capped = TestClient(create_app(locker, max_upload=100_000))
    north_id = world["cases"]["North"]
    csrf = sign_in(capped, "investigator-1")
    big = [("files", ("big.bin", b"\0" * 200_000, "application/octet-stream"))]
    assert (
        capped.post(f"/cases/{north_id}/upload", data={"csrf": csrf}, files=big).status_code == 413
    )

    def chunks() -> Any:  # no declared length: counted as it arrives
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="s.bin"\r\n\r\n'
        for _ in range(20):
            yield b"\0" * 10_000

    streamed = capped.post(
        f"/cases/{north_id}/upload",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert streamed.status_code == 413
    assert list((locker.path / "tmp").iterdir()) == []  # the scratch went with the request

    seen: list[Path] = []
    from docket.ingest.run import ingest as real_ingest

    def watched(locker_: Locker, paths: list[bytes], options: Any) -> Any:
        seen.extend(Path(p.decode()) for p in paths)
        assert all(p.is_dir() for p in seen)
        return real_ingest(locker_, paths, options)

    monkeypatch.setattr("docket.web.case_routes.ingest", watched)
    small = [("files", ("note.txt", b"statement of a witness", "text/plain"))]
    answer = capped.post(f"/cases/{north_id}/upload", data={"csrf": csrf}, files=small)
    assert answer.status_code == 200, answer.text
    assert all(p.parent == locker.path / "tmp" and not p.exists() for p in seen), seen


@pytest.mark.parametrize("backend", ["sqlite"])  # spooling: no catalogue work
def test_a_full_disk_during_an_upload_answers_507_and_leaves_nothing(
    backend: str, world: dict[str, Any], locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docket.web import uploads

    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uploads, "open", lambda *args: Full(), raising=False)
    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    answer = client.post(
        f"/cases/{north_id}/upload",
        data={"csrf": csrf},
        files=[("files", ("note.txt", b"statement of a witness", "text/plain"))],
    )
    assert answer.status_code == 507 and "full" in answer.json()["detail"]
    assert list((locker.path / "tmp").iterdir()) == []


@pytest.mark.parametrize("backend", ["sqlite"])  # the scratch folder: no catalogue work
def test_the_web_export_works_in_the_system_temp(
    backend: str, world: dict[str, Any], locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Path] = []
    from docket.disclose.package import export as real_export

    def watched(
        locker_: Locker, items: Any, profile: str, package: Path, *rest: Any, **named: Any
    ) -> Any:
        seen.append(package)
        return real_export(locker_, items, profile, package, *rest, **named)

    monkeypatch.setattr("docket.web.case_routes.export", watched)
    client = world["client"]
    csrf = sign_in(client, "owner-1")
    answer = client.post(
        f"/cases/{world['cases']['North']}/export", data={"csrf": csrf, "profile": "court"}
    )
    assert answer.status_code == 200
    [package] = seen
    assert package.parent.parent == locker.path / "tmp" and not package.parent.exists()


@pytest.mark.parametrize(
    "name", ["witness\0statement.txt", "ش" * 150 + ".txt", "a" * 300 + ".txt", "../.."]
)
def test_odd_upload_names_gave_500(world: dict[str, Any], name: str) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    body = (  # the name as a browser sends it: raw UTF-8, control characters and all
        b'--b\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n'
        + csrf.encode()
        + b'\r\n--b\r\nContent-Disposition: form-data; name="files"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: text/plain\r\n\r\na statement\r\n--b--\r\n'
    )
    answer = client.post(
        f"/cases/{north_id}/upload",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert answer.status_code == 200, answer.text
    [outcome] = answer.json()["outcomes"]
    assert outcome["status"] in ("new", "held")
    assert len(outcome["name"].encode()) <= 255 and "\0" not in outcome["name"]


@pytest.mark.parametrize("backend", ["sqlite"])  # refused before any query
def test_a_50000_character_query_gave_500(backend: str, world: dict[str, Any]) -> None:
    client = world["client"]
    sign_in(client, "viewer-1")
    answer = client.get(f"/api/cases/{world['cases']['North']}/items", params={"q": "x" * 50_000})
    assert answer.status_code == 414


def test_adding_an_existing_member_again_gave_500(world: dict[str, Any]) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "owner-1")
    again = client.post(
        f"/api/cases/{north_id}/members",
        json={"user": "viewer-1", "role": "owner"},
        headers={"x-csrf-token": csrf},
    )
    assert again.status_code == 400 and "already" in again.json()["detail"]


@pytest.mark.parametrize("backend", ["sqlite"])  # the listener: no catalogue work
def test_serve_on_all_interfaces_warns_and_answers_any_host(
    backend: str, cli: Any, locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` answers only its host names (loopback by default) and warns when it listens
    beyond loopback without TLS; the replay origin listens beside it (docket.web.replay_origin)."""
    import uvicorn

    served: dict[int, Any] = {}  # port: the app that `serve` would listen with there

    def listen(server: uvicorn.Server) -> None:
        served[server.config.port] = server.config.app

    monkeypatch.setattr(uvicorn.Server, "run", listen)
    result = cli("serve", "--host", "0.0.0.0", "--locker", locker.path)
    assert result.code == 0 and "WARNING" in result.err and "TLS" in result.err
    assert "replay of captured pages is off" in result.err and "--replay-origin" in result.err
    assert list(served) == [8000] and served[8000].state.replay is None
    loopback = TestClient(served[8000], base_url="http://127.0.0.1:8000")
    assert loopback.get("/api/health").status_code == 200
    assert loopback.get("/api/health", headers={"Host": "evil.example"}).status_code == 400
    served.clear()
    result = cli(
        "serve",
        "--allowed-host",
        "docket.example.org",
        "--max-upload",
        "1000",
        "--locker",
        locker.path,
    )
    assert result.code == 0 and "WARNING" not in result.err
    app, replay = served[8000], served[8001]
    named = TestClient(app, base_url="https://docket.example.org")
    assert named.get("/api/health").status_code == 200
    assert app.state.max_upload == 1000 and app.state.replay == "http://127.0.0.1:8001"
    assert TestClient(app).get("/api/health").status_code == 400
    assert (
        TestClient(replay, base_url="http://127.0.0.1:8001").get("/api/health").status_code == 404
    )
    monkeypatch.setenv("DOCKET_MAX_UPLOAD_BYTES", "5000")
    served.clear()
    assert cli("serve", "--no-replay", "--locker", locker.path).code == 0
    assert list(served) == [8000] and served[8000].state.max_upload == 5000
    served.clear()
    proxied = ("--replay-port", "9100", "--replay-origin", "https://replay.example.org")
    assert cli("serve", *proxied, "--locker", locker.path).code == 0
    assert served[8000].state.replay == "https://replay.example.org" and 9100 in served
    refused = cli(
        "serve", "--replay-origin", "https://replay.example.org/path", "--locker", locker.path
    )
    assert refused.code != 0 and "replay origin is scheme://host:port" in refused.err
