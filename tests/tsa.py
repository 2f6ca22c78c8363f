"""A real RFC 3161 timestamp authority for the tests: OpenSSL's `ts -reply` behind a small
HTTP server on loopback, with its own test root and TSA certificates made by OpenSSL.

The token carries only the TSA's own certificate (no `certs` chain): OpenSSL 3.0 writes a
chain's SET OF out of DER order, which rfc3161-client's strict parser refuses."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONFIG = """
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_authority(folder: Path) -> None:
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "root.key",
        "-out",
        "root.pem",
        "-days",
        "3650",
        "-subj",
        "/CN=Docket Test Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "tsa.key",
        "-out",
        "tsa.csr",
        "-subj",
        "/CN=Docket Test TSA",
        cwd=folder,
    )
    (folder / "ext.cnf").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=critical,timeStamping\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "tsa.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-out",
        "tsa.pem",
        "-days",
        "3650",
        "-extfile",
        "ext.cnf",
        cwd=folder,
    )
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(CONFIG.format(dir=folder))


@contextmanager
def running_authority() -> Iterator[tuple[str, Path]]:
    """(URL, root certificate path) of a TSA that answers until the block ends."""
    with tempfile.TemporaryDirectory(prefix="docket-tsa-") as scratch:
        folder = Path(scratch)
        make_authority(folder)
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    (folder / "query.tsq").write_bytes(query)
                    subprocess.run(
                        [
                            "openssl",
                            "ts",
                            "-reply",
                            "-config",
                            str(folder / "tsa.cnf"),
                            "-queryfile",
                            "query.tsq",
                            "-out",
                            "reply.tsr",
                        ],
                        cwd=folder,
                        check=True,
                        capture_output=True,
                    )
                    reply = (folder / "reply.tsr").read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/", folder / "root.pem"
        finally:
            server.shutdown()
