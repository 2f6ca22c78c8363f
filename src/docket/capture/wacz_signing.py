"""Signing a WACZ the way Webrecorder's "WACZ Signing and Verification" 0.1.0 describes, in its
anonymous mode, with a key of the locker's own; and checking such a signature.

datapackage-digest.json carries `signedData` beside its `path` and `hash`: the same `hash`
string ("sha256:" and the hex SHA-256 of datapackage.json's bytes), `created` (datapackage.json's
own, which py-wacz's validator requires), `software`, `signature` and `publicKey`. The
signature is ECDSA with SHA-256 over the UTF-8 bytes of `hash`, in the raw r||s form WebCrypto
makes and reads (not DER), base64; `publicKey` is the base64 of the key's DER
SubjectPublicKeyInfo. The curve is P-384: ArchiveWeb.page signs with P-384 and ReplayWeb.page
(wabac.js, the version Docket serves) imports an anonymous `publicKey` as a P-384 key, so a
P-256 key would not verify there, whatever the spec's prose leaves open.

The key is the locker's: keys/wacz-signing.key (PKCS#8 PEM, mode 0600; in a vault sealed like
keys/signing.key, under a key derived for this purpose alone) and keys/wacz-signing.pub (the
`publicKey` string, one line), made on first need. The key file is written whole under a
temporary name and linked into place, so a process killed while making it leaves no half key,
and two processes making it at once end with one. Each capture's custody event names the
`publicKey` it was signed with, so the signature is checked against what the signed log says,
not only against the key the WACZ carries.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from docket.errors import DocketError
from docket.vault import envelope
from docket.vault.keys import VaultKey

PRIVATE_FILE = Path("keys/wacz-signing.key")
PUBLIC_FILE = Path("keys/wacz-signing.pub")
SEALED_AS = str(PRIVATE_FILE).encode()  # the associated data of a vault's sealed key
PURPOSE = "wacz-signing-key"  # the vault key derived to seal it (docket.vault.keys)
DIGEST_NAME = "datapackage-digest.json"
PACKAGE_NAME = "datapackage.json"
_CURVE = ec.SECP384R1()
_HALF = 48  # bytes of r and of s on P-384
MAX_PACKAGE = 64 * 2**20  # datapackage.json larger than this is not read


class WaczSignatureError(DocketError):
    """A WACZ whose signature is missing, malformed, by another key, or does not verify."""


@dataclass(frozen=True)
class WaczKey:
    """The locker's WACZ signing key and its `publicKey` string."""

    private: ec.EllipticCurvePrivateKey
    public: str

    def sign(self, text: str) -> str:
        """Base64 of the raw r||s ECDSA P-384 / SHA-256 signature of `text`'s UTF-8 bytes."""
        r, s = decode_dss_signature(self.private.sign(text.encode(), ec.ECDSA(hashes.SHA256())))
        return base64.b64encode(r.to_bytes(_HALF, "big") + s.to_bytes(_HALF, "big")).decode()


def public_string(key: ec.EllipticCurvePublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _stored_form(key: ec.EllipticCurvePrivateKey, vault_key: VaultKey | None) -> bytes:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem if vault_key is None else envelope.seal(vault_key.derive(PURPOSE), pem, SEALED_AS)


def _read(path: Path, vault_key: VaultKey | None) -> ec.EllipticCurvePrivateKey:
    data = path.read_bytes()
    if vault_key is not None:
        data = envelope.unseal(vault_key.derive(PURPOSE), data, SEALED_AS, str(path))
    elif envelope.is_sealed(data):
        raise DocketError(f"{path}: the WACZ signing key is sealed; this locker is a vault")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise DocketError(f"{path}: cannot read the WACZ signing key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != _CURVE.name:
        raise DocketError(f"{path}: the WACZ signing key is not an ECDSA P-384 key")
    return key


def _write(path: Path, data: bytes, replace: bool = False) -> None:
    """`data` as the file `path` (mode 0600), whole or not at all. A new file (`replace`
    false) never replaces one another process made first: theirs is kept."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)  # mode 0600, a name of its own even for threads of one process
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if replace:
        tmp.replace(path)
    else:
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _publish(locker_path: Path, public: str) -> None:
    """keys/wacz-signing.pub, written whole (renamed into place) when missing; one that is
    not the key's public half is refused, never replaced."""
    target = locker_path / PUBLIC_FILE
    with contextlib.suppress(FileNotFoundError):
        if target.read_text().strip() != public:
            raise DocketError(f"{target}: is not the public half of {PRIVATE_FILE}")
        return
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        out.write(public + "\n")
    os.chmod(name, 0o644)
    os.rename(name, target)


def seal_plain_key(locker_path: Path, vault_key: VaultKey) -> None:
    """Seal a plain locker's WACZ key in place as the locker becomes a vault (a key already
    sealed, or none at all, is left as it is): renamed over the plain one, whole."""
    path = locker_path / PRIVATE_FILE
    if path.exists() and not envelope.is_sealed(path.read_bytes()):
        _write(path, _stored_form(_read(path, None), vault_key), replace=True)


def locker_key(locker_path: Path, vault_key: VaultKey | None) -> WaczKey:
    """The locker's WACZ signing key, made (and its public key published) on first need; in
    a vault, a key still in the clear (the locker was converted) is sealed first."""
    path = locker_path / PRIVATE_FILE
    try:
        if not path.exists():
            fresh = ec.generate_private_key(_CURVE)
            _write(path, _stored_form(fresh, vault_key))
        elif vault_key is not None:  # a vault converted before its WACZ key was sealed
            seal_plain_key(locker_path, vault_key)
        private = _read(path, vault_key)
        public = public_string(private.public_key())
        _publish(locker_path, public)
    except OSError as exc:
        reason = exc.strerror or exc
        raise DocketError(f"{path}: cannot make or read the WACZ signing key ({reason})") from exc
    return WaczKey(private, public)


def fingerprint(public: str) -> str:
    """ "SHA256:" and the hex SHA-256 of the key's SubjectPublicKeyInfo (`public` decoded)."""
    return "SHA256:" + hashlib.sha256(base64.b64decode(public)).hexdigest()


def published_key(locker_path: Path) -> str | None:
    """keys/wacz-signing.pub's `publicKey` string, or None when the locker has none yet."""
    try:
        return (locker_path / PUBLIC_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DocketError(f"{locker_path / PUBLIC_FILE}: cannot be read ({exc.strerror})") from exc


def signed_digest(package: bytes, created: str, software: str, key: WaczKey) -> dict[str, Any]:
    """datapackage-digest.json's content for datapackage.json's bytes `package`, signed."""
    digest = "sha256:" + hashlib.sha256(package).hexdigest()
    signed = {
        "hash": digest,
        "created": created,
        "software": software,
        "signature": key.sign(digest),
        "publicKey": key.public,
    }
    return {"path": PACKAGE_NAME, "hash": digest, "signedData": signed}


def _member(archive: zipfile.ZipFile, name: str, label: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise WaczSignatureError(f"{label}: no {name}") from None
    if info.file_size > MAX_PACKAGE:
        raise WaczSignatureError(f"{label}: {name} is larger than {MAX_PACKAGE // 2**20} MB")
    return archive.read(info)


def _verify_raw(public: str, signature: str, text: str) -> bool:
    try:
        key = serialization.load_der_public_key(base64.b64decode(public, validate=True))
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey) or len(raw) != 2 * _HALF:
        return False
    r, s = int.from_bytes(raw[:_HALF], "big"), int.from_bytes(raw[_HALF:], "big")
    try:
        key.verify(encode_dss_signature(r, s), text.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def check(wacz: Path | IO[bytes], label: str, expected: str | None) -> str:
    """The `publicKey` a WACZ is signed with, once its signature checks (datapackage.json's
    hash, `created`, the signature) and, when `expected` is given, the key is that one; else
    WaczSignatureError, one line starting with `label`."""
    try:
        with zipfile.ZipFile(wacz) as archive:
            package = _member(archive, PACKAGE_NAME, label)
            digest_file = _member(archive, DIGEST_NAME, label)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise WaczSignatureError(f"{label}: not a readable WACZ ({exc})") from exc
    try:
        digest = json.loads(digest_file)
        created = json.loads(package).get("created")
    except (ValueError, AttributeError, RecursionError) as exc:
        raise WaczSignatureError(f"{label}: {DIGEST_NAME} or {PACKAGE_NAME} is not JSON") from exc
    signed = digest.get("signedData") if isinstance(digest, dict) else None
    if not isinstance(signed, dict):
        raise WaczSignatureError(f"{label}: not signed ({DIGEST_NAME} has no signedData)")
    actual = "sha256:" + hashlib.sha256(package).hexdigest()
    if digest.get("hash") != actual or signed.get("hash") != actual:
        raise WaczSignatureError(f"{label}: {PACKAGE_NAME} is not the one that was signed")
    if signed.get("created") != created:
        raise WaczSignatureError(f"{label}: the signed time is not {PACKAGE_NAME}'s 'created'")
    public, signature = signed.get("publicKey"), signed.get("signature")
    if not isinstance(public, str) or not isinstance(signature, str):
        raise WaczSignatureError(f"{label}: signedData has no publicKey or signature")
    if expected is not None and public != expected:
        raise WaczSignatureError(f"{label}: signed with another key than the locker's WACZ key")
    if not _verify_raw(public, signature, actual):
        raise WaczSignatureError(f"{label}: the signature does not verify (forged or altered)")
    return public
