"""WACZ signing as Webrecorder's "WACZ Signing and Verification" 0.1.0 describes (anonymous
mode): a real capture's WACZ is accepted by the `wacz` package's validator, by the spec's rules
written out here with the cryptography library, and by Chromium's WebCrypto doing exactly what
ReplayWeb.page 2.5.3 does (its sw.js: the publicKey imported as P-384 SPKI, the raw signature
verified with ECDSA SHA-256 over the UTF-8 of `hash`) and by ReplayWeb.page itself replaying the
capture inside Docket (a flipped signature bit makes it report the signature not matched, tried
by hand); a changed datapackage.json, a swapped key or a forged signature is refused in one
line, by the check, by `verify` and by the package checker."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import select
from test_capture import wacz_valid
from test_capture_replay import BUTTON, frames_seen, replayed_frame
from web_site import Site, serve, serve_app

from docket.capture import wacz, wacz_signing
from docket.capture.run import CaptureOptions, capture
from docket.capture.wacz_signing import WaczSignatureError
from docket.capture.warc import WarcFile
from docket.catalogue import schema
from docket.disclose import _check_wacz
from docket.disclose.check import check
from docket.disclose.package import export
from docket.errors import DocketError, VaultDamagedError
from docket.locker import Locker
from docket.vault.keys import VaultKey
from docket.verify import verify
from docket.web.app import create_app
from docket.web.replay_origin import create_replay_app, replay_directory

LOCAL = CaptureOptions(collector="tester", allow_private_network=True, timeout=20)
CHROMIUM = shutil.which("chromium")

# ReplayWeb.page's check of an anonymous signature (wabac.js verifyWACZSignature), as it runs.
REPLAYWEB_CHECK = """async ({hash, signature, publicKey}) => {
  const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey(
    "spki", b64(publicKey), {name: "ECDSA", namedCurve: "P-384"}, true, ["verify"]);
  return await crypto.subtle.verify(
    {name: "ECDSA", hash: "SHA-256"}, key, b64(signature), new TextEncoder().encode(hash));
}"""


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(path: Path, changed: dict[str, bytes]) -> None:
    """`path` with the members in `changed` replaced, the rest copied as they were."""
    kept = members(path)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in kept.items():
            archive.writestr(name, changed.get(name, data))


def spec_accepts(path: Path) -> dict[str, Any]:
    """The spec's verification written out apart from Docket's code: datapackage.json's hash,
    then the signature of that hash string by the publicKey (a P-384 SPKI; raw r||s)."""
    files = members(path)
    digest = json.loads(files["datapackage-digest.json"])
    signed = digest["signedData"]
    expected = "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest()
    assert digest["path"] == "datapackage.json"
    assert digest["hash"] == signed["hash"] == expected
    assert signed["created"] == json.loads(files["datapackage.json"])["created"]
    assert signed["software"].startswith("Docket ")
    key = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    raw = base64.b64decode(signed["signature"])
    assert len(raw) == 96
    der = encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
    key.verify(der, signed["hash"].encode(), ec.ECDSA(hashes.SHA256()))  # raises if not
    return dict(signed)


def replayweb_accepts(signed: dict[str, Any]) -> list[bool]:
    """Chromium's WebCrypto, run as ReplayWeb.page runs it, on the signature and on the same
    signature claimed for another hash (which must fail, or the check proves nothing)."""
    from playwright.sync_api import sync_playwright

    other = dict(signed, hash=signed["hash"][:-1] + ("0" if signed["hash"][-1] != "0" else "1"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            # WebCrypto needs a secure context: http://localhost is one; nothing listens there,
            # the page is answered by the route.
            page.route(
                "http://localhost/**",
                lambda route: route.fulfill(body="<p>check</p>", content_type="text/html"),
            )
            page.goto("http://localhost/")
            return [bool(page.evaluate(REPLAYWEB_CHECK, data)) for data in (signed, other)]
        finally:
            browser.close()


def small_wacz(folder: Path, key: wacz_signing.WaczKey) -> Path:
    """A WACZ packaged as a capture packages one, from a WARC written here (no browser)."""
    folder.mkdir(exist_ok=True)
    started = time.time()
    with WarcFile(folder / "capture.warc.gz", {"software": "test"}) as warc:
        warc.resource("http://velmora.test/", "text/html", b"<p>Velmora harbour</p>", started)
    page = "http://velmora.test/"
    return wacz.package(warc.path, folder / "c.wacz", page, "Velmora", "harbour", started, key)


def new_key(folder: Path) -> wacz_signing.WaczKey:
    (folder / "keys").mkdir(parents=True, exist_ok=True)
    return wacz_signing.locker_key(folder, None)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
@pytest.mark.parametrize("backend", ["sqlite"])  # signatures: no catalogue work
def test_a_captures_wacz_is_signed_as_replayweb_page_checks_it(
    backend: str, locker: Locker, site: Site, tmp_path: Path
) -> None:
    done = capture(locker, site.url("/probe.html"), LOCAL)
    path = tmp_path / "capture.wacz"
    path.write_bytes(locker.store.path(done.wacz.sha256).read_bytes())
    assert wacz_valid(path)  # the wacz package's validator, its signed `created` check too

    signed = spec_accepts(path)
    published = (locker.path / "keys/wacz-signing.pub").read_text().strip()
    assert signed["publicKey"] == published
    assert replayweb_accepts(signed) == [True, False]
    assert wacz_signing.check(path, "capture.wacz", published) == published

    with locker.engine.connect() as conn:
        details = conn.execute(
            select(schema.events.c.details).where(schema.events.c.seq == done.event)
        ).scalar_one()
    assert json.loads(details)["wacz_public_key"] == published
    key_file = (locker.path / "keys/wacz-signing.key").read_bytes()
    assert os.stat(locker.path / "keys/wacz-signing.key").st_mode & 0o077 == 0
    assert b"PRIVATE KEY" in key_file  # a plain locker's key is PEM, as keys/signing.key is

    report = verify(locker)
    assert report.ok, report.problems
    [check] = [c for c in report.checks if c.name == "WACZ signatures"]
    assert (check.passed, check.detail) == (True, "1 WACZ signatures checked")

    # The next capture is signed by the same key: it was made once.
    again = capture(locker, site.url("/probe.html"), LOCAL)
    with locker.store.plain_file(again.wacz.sha256) as second:
        assert wacz_signing.check(second, "second", published) == published


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
@pytest.mark.parametrize("backend", ["sqlite"])  # signatures: no catalogue work
def test_verify_names_a_wacz_re_signed_by_another_key_and_a_swapped_public_key(
    backend: str, locker: Locker, site: Site, tmp_path: Path
) -> None:
    done = capture(locker, site.url("/probe.html"), LOCAL)
    stored = locker.store.path(done.wacz.sha256)
    # A forger re-signs a changed datapackage.json with a key of their own and puts it back.
    forged = tmp_path / "forged.wacz"
    shutil.copyfile(stored, forged)
    files = members(forged)
    package = json.loads(files["datapackage.json"])
    package["title"] = "Nothing happened here"
    body = json.dumps(package).encode()
    theirs = new_key(tmp_path / "forger")
    digest = wacz_signing.signed_digest(body, package["created"], "Docket 0.1.0", theirs)
    rewrite(
        forged, {"datapackage.json": body, "datapackage-digest.json": json.dumps(digest).encode()}
    )
    assert spec_accepts(forged)["publicKey"] == theirs.public  # valid, but not the locker's
    os.chmod(stored, 0o644)
    shutil.copyfile(forged, stored)
    os.chmod(stored, 0o444)

    label = f"WACZ {done.wacz.sha256[:16]} (event {done.event})"
    report = verify(locker)
    found = {(p.subject, p.message) for p in report.problems}
    assert (label, "signed with another key than the locker's WACZ key") in found

    # keys/wacz-signing.pub swapped for the forger's: named, whatever the WACZ holds.
    (locker.path / "keys/wacz-signing.pub").write_text(theirs.public + "\n")
    report = verify(locker)
    messages = {str(p) for p in report.problems}
    assert f"keys/wacz-signing.pub: {label}: its key is not this file's" in messages
    with pytest.raises(DocketError, match=r"wacz-signing.pub: is not the public half"):
        wacz_signing.locker_key(locker.path, locker.vault_key)


def test_a_changed_package_another_key_or_a_forged_signature_is_refused(tmp_path: Path) -> None:
    key = new_key(tmp_path / "locker")
    original = small_wacz(tmp_path / "made", key)
    assert wacz_signing.check(original, "c.wacz", key.public) == key.public
    assert spec_accepts(original)["publicKey"] == key.public
    files = members(original)
    digest = json.loads(files["datapackage-digest.json"])
    package = json.loads(files["datapackage.json"])
    changed_package = json.dumps(package | {"title": "Another title"}).encode()
    rehashed = digest | {"hash": "sha256:" + hashlib.sha256(changed_package).hexdigest()}
    flipped = base64.b64decode(digest["signedData"]["signature"])
    flipped = flipped[:10] + bytes([flipped[10] ^ 1]) + flipped[11:]
    other = new_key(tmp_path / "other")
    cases: dict[str, tuple[dict[str, bytes], str]] = {
        "package changed": (
            {"datapackage.json": changed_package},
            "datapackage.json is not the one that was signed",
        ),
        "package changed, digest rehashed": (
            {"datapackage.json": changed_package, "datapackage-digest.json": enc(rehashed)},
            "datapackage.json is not the one that was signed",
        ),
        "signed by another key": (
            {
                "datapackage-digest.json": enc(
                    wacz_signing.signed_digest(
                        files["datapackage.json"], package["created"], "Docket 0.1.0", other
                    )
                )
            },
            "signed with another key than the locker's WACZ key",
        ),
        "signature altered": (
            {
                "datapackage-digest.json": enc(
                    digest
                    | {
                        "signedData": digest["signedData"]
                        | {"signature": base64.b64encode(flipped).decode()}
                    }
                )
            },
            "the signature does not verify (forged or altered)",
        ),
        "key swapped in the WACZ": (
            {
                "datapackage-digest.json": enc(
                    digest | {"signedData": digest["signedData"] | {"publicKey": other.public}}
                )
            },
            "the signature does not verify (forged or altered)",
        ),
        "time changed": (
            {
                "datapackage-digest.json": enc(
                    digest
                    | {"signedData": digest["signedData"] | {"created": "2020-01-01T00:00:00Z"}}
                )
            },
            "the signed time is not datapackage.json's 'created'",
        ),
        "signature removed": (
            {
                "datapackage-digest.json": enc(
                    {k: v for k, v in digest.items() if k != "signedData"}
                )
            },
            "not signed (datapackage-digest.json has no signedData)",
        ),
        "no digest": ({"datapackage-digest.json": b"[1]"}, "not signed"),
        "nested without end": (
            {"datapackage-digest.json": b"[" * 100_000 + b"]" * 100_000},
            "datapackage-digest.json or datapackage.json is not JSON",
        ),
    }
    for name, (changed, reason) in cases.items():
        path = tmp_path / f"{name}.wacz"
        shutil.copyfile(original, path)
        rewrite(path, changed)
        expected = None if name == "key swapped in the WACZ" else key.public
        with pytest.raises(WaczSignatureError) as caught:
            wacz_signing.check(path, path.name, expected)
        message = str(caught.value)
        assert message.startswith(f"{path.name}: {reason}"), (name, message)
        assert "\n" not in message
    # Signed by another key is a valid signature: only the locker's key tells it apart.
    path = tmp_path / "signed by another key.wacz"
    assert wacz_signing.check(path, path.name, None) == other.public
    (tmp_path / "junk.wacz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(WaczSignatureError, match=r"^junk.wacz: not a readable WACZ"):
        wacz_signing.check(tmp_path / "junk.wacz", "junk.wacz", key.public)


def enc(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode()


def test_the_key_is_made_once_owner_only_and_sealed_in_a_vault(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "keys").mkdir(parents=True)
    made: list[str] = []
    threads = [
        threading.Thread(target=lambda: made.append(wacz_signing.locker_key(plain, None).public))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 6 and len(set(made)) == 1  # one key, whoever made it
    assert (plain / "keys/wacz-signing.pub").read_text() == made[0] + "\n"
    assert os.stat(plain / "keys/wacz-signing.key").st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (plain / "keys").iterdir()) == [
        "wacz-signing.key",
        "wacz-signing.pub",
    ]  # no temporary file left behind

    vault = tmp_path / "vault"
    (vault / "keys").mkdir(parents=True)
    locker_key = VaultKey.generate()
    public = wacz_signing.locker_key(vault, locker_key).public
    sealed = (vault / "keys/wacz-signing.key").read_bytes()
    assert sealed.startswith(b"DKV1") and b"PRIVATE KEY" not in sealed
    assert wacz_signing.locker_key(vault, locker_key).public == public
    with pytest.raises(DocketError, match=r"wacz-signing.key: the WACZ signing key is sealed"):
        wacz_signing.locker_key(vault, None)
    with pytest.raises(VaultDamagedError, match=r"wacz-signing.key: does not authenticate"):
        wacz_signing.locker_key(vault, VaultKey.generate())
    # A sealed key changed by one bit does not open.
    (vault / "keys/wacz-signing.key").unlink()
    (vault / "keys/wacz-signing.key").write_bytes(sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with pytest.raises(VaultDamagedError):
        wacz_signing.locker_key(vault, locker_key)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
@pytest.mark.parametrize("backend", ["sqlite"])  # signatures in a package
def test_a_court_package_reader_checks_the_wacz_signature_against_the_senders_key(
    backend: str, locker: Locker, site: Site, tmp_path: Path
) -> None:
    options = CaptureOptions(
        collector="tester", allow_private_network=True, timeout=20, case="North"
    )
    done = capture(locker, site.url("/probe.html"), options)
    shot = next(p.sha256 for p in done.parts if p.kind == "screenshot")
    package = tmp_path / "court"
    export(locker, [done.wacz.sha256, shot], "court", package, "tester", case="North")
    published = (locker.path / "keys/wacz-signing.pub").read_text().strip()
    assert json.loads((package / "data/package.json").read_text())["wacz_public_key"] == published
    report = check(package, locker.public_key)
    assert report.intact, report.failures
    assert (_check_wacz.NAME, True, "1 WACZ") in report.checks

    # package.json's WACZ key swapped for another: the WACZ is named, not only the bag.
    swapped = tmp_path / "swapped"
    shutil.copytree(package, swapped)
    manifest = json.loads((swapped / "data/package.json").read_text())
    manifest["wacz_public_key"] = new_key(tmp_path / "other").public
    (swapped / "data/package.json").write_text(json.dumps(manifest, indent=2))
    report = check(swapped, locker.public_key)
    [wacz_file] = [e["file"] for e in manifest["items"] if e["item"] == done.wacz.sha256]
    assert f"{wacz_file}: signed with another key than the locker's WACZ key" in report.failures
    assert (_check_wacz.NAME, False, "1 WACZ") in report.checks


def test_a_plain_key_is_sealed_when_its_locker_has_become_a_vault(tmp_path: Path) -> None:
    folder = tmp_path / "converted"
    public = new_key(folder).public
    locker_key = VaultKey.generate()
    assert wacz_signing.locker_key(folder, locker_key).public == public
    sealed = (folder / "keys/wacz-signing.key").read_bytes()
    assert sealed.startswith(b"DKV1") and b"PRIVATE KEY" not in sealed
    assert os.stat(folder / "keys/wacz-signing.key").st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (folder / "keys").iterdir()) == [
        "wacz-signing.key",
        "wacz-signing.pub",
    ]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_a_vaults_capture_is_signed_by_its_sealed_key_and_verifies(
    tmp_path: Path, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = Locker.create(tmp_path / "vault", vault_passphrase="velmora harbour lanterns")
    done = capture(vault, site.url("/probe.html"), LOCAL)
    sealed = (vault.path / "keys/wacz-signing.key").read_bytes()
    assert sealed.startswith(b"DKV1") and b"PRIVATE KEY" not in sealed
    published = (vault.path / "keys/wacz-signing.pub").read_text().strip()
    with vault.store.plain_file(done.wacz.sha256) as path:
        assert wacz_signing.check(path, "vault WACZ", published) == published
    report = verify(vault)
    assert report.ok, report.problems
    [check] = [c for c in report.checks if c.name == "WACZ signatures"]
    assert (check.passed, check.detail) == (True, "1 WACZ signatures checked")
    vault.close()
    monkeypatch.delenv("DOCKET_PASSPHRASE_FILE", raising=False)
    with Locker.open(vault.path, writable=False) as locked:
        assert locked.locked
        report = verify(locked)
    [check] = [c for c in report.checks if c.name == "WACZ signatures"]
    assert (check.passed, check.detail) == (None, "the vault is locked")


@pytest.mark.parametrize("backend", ["sqlite"])  # the key's files: no catalogue work
def test_wacz_key_prints_the_key_captures_are_signed_with(
    backend: str, locker: Locker, cli: Any
) -> None:
    assert not (locker.path / "keys/wacz-signing.key").exists()
    first = cli("wacz-key", "--locker", locker.path, "--json")
    assert first.code == 0, first.err
    shown = json.loads(first.out)
    assert shown["publicKey"] == wacz_signing.locker_key(locker.path, locker.vault_key).public
    der = base64.b64decode(shown["publicKey"])
    assert shown["fingerprint"] == "SHA256:" + hashlib.sha256(der).hexdigest()
    again = cli("wacz-key", "--locker", locker.path)
    assert again.out == f"publicKey: {shown['publicKey']}\nfingerprint: {shown['fingerprint']}\n"


# Everything ReplayWeb.page recorded of its checks of the loaded WACZ (wabac.js keeps them in
# the "verification" store of its collection's IndexedDB, on the replay origin).
READ_VERIFICATION = """async () => {
  const done = (request) => new Promise((ok, fail) => {
    request.onsuccess = () => ok(request.result);
    request.onerror = () => fail(request.error);
  });
  const found = [];
  for (const {name} of await indexedDB.databases()) {
    const db = await done(indexedDB.open(name));
    if (db.objectStoreNames.contains("verification")) {
      const store = db.transaction("verification").objectStore("verification");
      found.push(...(await done(store.getAll())));
    }
    db.close();
  }
  return found;
}"""


@pytest.fixture
def captured(locker: Locker, made: Site) -> str:
    """The notice page (the text replayed_frame looks for) captured into case North."""
    options = CaptureOptions(
        collector="tester", case="North", allow_private_network=True, timeout=20
    )
    with serve(made.fresh()) as site:
        return capture(locker, site.url("/notice.html"), options).wacz.sha256


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
@pytest.mark.parametrize("backend", ["sqlite"])  # the browser checks the signature
def test_replaywebpage_served_by_docket_finds_the_signature_valid(
    backend: str, world: dict[str, Any], locker: Locker, captured: str
) -> None:
    """The real thing: ReplayWeb.page (vendor/replaywebpage, as `make replay` fetches it),
    replaying the capture inside Docket, checks the WACZ's signature itself."""
    from playwright.sync_api import sync_playwright

    replay_directory()  # ReplayWeb.page must be there (make replay)
    with (
        serve_app(create_replay_app(locker, ["127.0.0.1"])) as replay_url,
        serve_app(create_app(locker, replay_origin=replay_url)) as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--disable-gpu", "--no-sandbox"]
        )
        page = browser.new_page()
        page.goto(f"{url}/login")
        page.get_by_label("Name").fill("investigator-1")
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/")
        page.goto(f"{url}/items/{captured}")
        page.get_by_role("button", name=BUTTON).click()
        deadline = time.monotonic() + 60
        while (frame := replayed_frame(page)) is None and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        assert frame is not None, f"the captured page never showed: {frames_seen(page)}"
        [outer] = [f for f in page.frames if f.url.startswith(f"{replay_url}/frame/")]
        found: list[dict[str, Any]] = []
        while not any(r["id"].endswith("signature") for r in found):
            assert time.monotonic() < deadline, f"no signature check recorded: {found}"
            page.wait_for_timeout(250)
            found = outer.evaluate(READ_VERIFICATION)
        browser.close()
    checks = {r["id"].rsplit(":", 1)[-1]: r for r in found}
    assert checks["signature"]["matched"] is True, found
    published = (locker.path / "keys/wacz-signing.pub").read_text().strip()
    assert checks["publicKey"]["expected"] == published
    with locker.store.plain_file(captured) as path:
        package = members(path)["datapackage.json"]
    assert checks["datapackageHash"]["expected"] == "sha256:" + hashlib.sha256(package).hexdigest()


def test_verify_names_a_wacz_key_in_the_clear_in_a_vault_and_wacz_key_seals_it(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("velmora harbour lanterns\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(passphrase))
    path = tmp_path / "vault"
    Locker.create(path, vault_passphrase="velmora harbour lanterns").close()
    # As a plain locker's key is left by a conversion to a vault: PEM, and here mode 0644.
    public = new_key(tmp_path / "plain").public
    shutil.copyfile(tmp_path / "plain/keys/wacz-signing.key", path / "keys/wacz-signing.key")
    os.chmod(path / "keys/wacz-signing.key", 0o644)
    with Locker.open(path) as vault:
        found = {str(p) for p in verify(vault).problems}
    assert any(p.startswith("keys/wacz-signing.key: in the clear in a vault") for p in found)
    assert any(p.startswith("keys/wacz-signing.key: readable or writable by others") for p in found)
    shown = cli("wacz-key", "--locker", path, "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["publicKey"] == public
    assert (path / "keys/wacz-signing.key").read_bytes().startswith(b"DKV1")
    with Locker.open(path) as vault:
        report = verify(vault)
    assert report.ok, report.problems
