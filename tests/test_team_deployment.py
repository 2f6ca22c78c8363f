"""The team deployment of deploy/ (docs/how-to/team-deployment.md), run whole on loopback:
a PostgreSQL catalogue, the bucket on moto's S3 server, two `docket worker` processes and
`docket serve` started with the command lines of deploy/systemd/'s units and the variables of
deploy/docket.env.example, and nginx with deploy/nginx/docket.conf, its TLS certificate made
here. Through nginx, over HTTPS: sign in, make a case, upload a synthetic picture, see a worker
analyse it and the item in the case's list; then `docket verify` passes and everything stops
cleanly. Only the machine-specific values are changed: ports, paths, the host name, the
certificate. Skipped only without DOCKET_TEST_POSTGRES_URL; without nginx it fails."""

from __future__ import annotations

import configparser
import datetime
import ipaddress
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import s3_server
from conftest import POSTGRES_URL, docket_command, fresh_database
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from media import jpeg, sample

from docket.analyse.steps import builtin_steps

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None,
    reason="the team deployment's catalogue is PostgreSQL: set "
    "DOCKET_TEST_POSTGRES_URL (scripts/with-postgres.sh does)",
)
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
PASSWORD = "correct horse battery"
PATIENCE = 120.0  # seconds before a wait is called stuck (a bound, not a measure)
JPEG_STEPS = {step.name for step in builtin_steps() if step.applies_to("image/jpeg")}


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail(
            "install nginx (apt-get install nginx): the team deployment's smoke test needs it"
        )
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Ports:
    web: int
    replay: int
    http: int
    https: int
    replay_https: int


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as the site's TLS files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "docket smoke test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def replaced(text: str, changes: dict[str, str], source: str) -> str:
    for old, new in changes.items():
        assert old in text, f"{source} no longer has {old!r}: update this test with it"
        text = text.replace(old, new)
    return text


def nginx_config(folder: Path, ports: Ports, cert: Path, key: Path) -> Path:
    """deploy/nginx/docket.conf on this machine's ports and certificate, IPv4 loopback only,
    inside the http block Debian's /etc/nginx/nginx.conf would give it, with every path that
    nginx writes in `folder` (so it runs as any user)."""
    site = replaced(
        (DEPLOY / "nginx" / "docket.conf").read_text(),
        {
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{ports.web};",
            "server 127.0.0.1:8001;": f"server 127.0.0.1:{ports.replay};",
            "listen 80;": f"listen 127.0.0.1:{ports.http};",
            "listen 443 ssl;": f"listen 127.0.0.1:{ports.https} ssl;",
            "listen 8443 ssl;": f"listen 127.0.0.1:{ports.replay_https} ssl;",
            "/etc/ssl/docket/fullchain.pem": str(cert),
            "/etc/ssl/docket/privkey.pem": str(key),
        },
        "deploy/nginx/docket.conf",
    )
    site = "\n".join(line for line in site.splitlines() if "listen [::]:" not in line)
    (folder / "docket.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = ""
    if os.geteuid() == 0:  # nginx's workers would otherwise be nobody, locked out of tmp_path
        user = "user root root;\n"
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\nevents {{ worker_connections 64; }}\nhttp {{\n"
        f"    access_log {folder / 'access.log'};\n{temp}\n"
        f"    include {folder / 'docket.conf'};\n}}\n"
    )
    return conf


def environment(locker: Path, database: str, ports: Ports) -> dict[str, str]:
    """deploy/docket.env.example with this machine's values, as systemd would read it."""
    example: dict[str, str] = {}
    for line in (DEPLOY / "docket.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            example[name.strip()] = value.strip()
    ours = {
        "DOCKET_LOCKER": str(locker),
        "DOCKET_DATABASE_URL": database,
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],  # moto's invented ones
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "DOCKET_HOST": "127.0.0.1",
        "DOCKET_WEB_PORT": str(ports.web),
        "DOCKET_REPLAY_PORT": str(ports.replay),
        "DOCKET_REPLAY_ORIGIN": f"https://127.0.0.1:{ports.replay_https}",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    missing = sorted(set(ours) - set(example))
    assert not missing, f"deploy/docket.env.example does not set {missing}"
    return {**os.environ, **example, **ours, "PYTHONUNBUFFERED": "1"}


def exec_start(unit: str, env: dict[str, str]) -> list[str]:
    """The unit's ExecStart, its ${VARIABLES} expanded as systemd does, run by this Python."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / unit)
    line = re.sub(r"\$\{(\w+)\}", lambda found: env[found.group(1)], parser["Service"]["ExecStart"])
    program, *args = shlex.split(line)
    assert program == "/srv/docket/.venv/bin/docket", program
    return [*docket_command(), *args]


class Processes:
    """What the test starts, each with its output in a file; all stopped however it ends."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.out").open("wb") as out:
            self.started[name] = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=self.env
            )
        return self.started[name]

    def output(self, name: str) -> str:
        return (self.folder / f"{name}.out").read_text(errors="replace")

    def stop(self, name: str, how: signal.Signals = signal.SIGTERM) -> int:
        process = self.started.pop(name)
        process.send_signal(how)
        return process.wait(timeout=PATIENCE)

    def kill_the_rest(self) -> None:
        for process in self.started.values():
            process.kill()
            process.wait()

    def docket(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [*docket_command(), *args], input=stdin, capture_output=True, text=True, env=self.env
        )
        assert done.returncode == 0, f"docket {' '.join(args)}: {done.stderr}"
        return done.stdout


def wait_for(what: str, ready: Callable[[], bool], processes: Processes) -> None:
    deadline = time.monotonic() + PATIENCE
    while not ready():
        for name, process in processes.started.items():
            assert process.poll() is None, f"{name} ended: {processes.output(name)}"
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.1)


def listening(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    return ready


@pytest.fixture
def deployment(
    tmp_path: Path, moto_endpoint: s3_server.Endpoint
) -> Iterator[tuple[Processes, Ports]]:
    nginx = nginx_binary()
    ports = Ports(*(free_port() for _ in range(5)))
    with fresh_database("postgresql") as database:
        assert database is not None
        env = environment(tmp_path / "locker", database, ports)
        processes = Processes(tmp_path, env)
        processes.docket("init", "--store", moto_endpoint.locked_url(), "--retention-days", "1")
        processes.docket(
            "user", "add", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD
        )
        site = tmp_path / "nginx"
        site.mkdir()
        conf = nginx_config(site, ports, *certificate(site))
        started = f"daemon off; pid {site / 'nginx.pid'}; error_log {site / 'error.log'};"
        command = [nginx, "-p", str(site), "-c", str(conf), "-g", started]
        tested = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stderr
        try:
            for number in (1, 2):
                processes.start(f"worker{number}", exec_start("docket-worker@.service", env))
            processes.start("web", exec_start("docket-web.service", env))
            processes.start("nginx", command)
            for port in (ports.web, ports.https):
                wait_for(f"port {port}", listening(port), processes)
            yield processes, ports
        finally:
            processes.kill_the_rest()


def client(ports: Ports, cert: Path) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{ports.https}",
        verify=ssl.create_default_context(cafile=str(cert)),
        headers={"Origin": f"https://127.0.0.1:{ports.https}", "Accept": "application/json"},
        timeout=PATIENCE,
    )


def test_sign_in_upload_analysis_by_a_worker_and_verify_through_nginx(
    deployment: tuple[Processes, Ports], tmp_path: Path
) -> None:
    processes, ports = deployment
    plain = httpx.get(f"http://127.0.0.1:{ports.http}/login", follow_redirects=False)
    assert plain.status_code == 301 and plain.headers["location"].startswith("https://")
    with client(ports, tmp_path / "nginx" / "fullchain.pem") as web:
        # A wrong password, from a client claiming another address: nginx replaces the claim,
        # so the sign-in throttle counts the address nginx saw.
        spoofed = {"X-Forwarded-For": "203.0.113.9"}
        refused = web.post("/login", data={"name": "ada", "password": "wrong"}, headers=spoofed)
        assert refused.status_code in (401, 403, 200) and "set-cookie" not in refused.headers
        signed = web.post(
            "/login", data={"name": "ada", "password": PASSWORD}, follow_redirects=False
        )
        assert signed.status_code == 303, signed.text
        cookie = signed.headers["set-cookie"].lower()
        assert "; secure" in cookie  # docket saw HTTPS in nginx's X-Forwarded-Proto
        assert "strict-transport-security" in signed.headers
        throttled = str(web.get("/api/throttles").json())
        assert "127.0.0.1" in throttled and "203.0.113.9" not in throttled, throttled
        found = re.search(r'name="csrf" value="([^"]+)"', web.get("/").text)
        assert found is not None
        csrf = found.group(1)
        made = web.post("/cases", data={"name": "North", "csrf": csrf}, follow_redirects=False)
        assert made.status_code == 303, made.text
        [case] = [c for c in web.get("/api/cases").json() if c["name"] == "North"]
        uploaded = web.post(
            f"/cases/{case['id']}/upload",
            data={"csrf": csrf, "source": "W-12"},
            files=[("files", ("harbour.jpg", jpeg(sample("rocket")), "image/jpeg"))],
        )
        assert uploaded.status_code == 200, uploaded.text
        [outcome] = uploaded.json()["outcomes"]
        assert outcome["status"] == "new"
        item = outcome["sha256"]

        def analysed() -> bool:
            detail = web.get(f"/api/items/{item}").json()
            return {r["step"] for r in detail["analysis"] if r["status"] == "ok"} >= JPEG_STEPS

        wait_for("the worker's analysis", analysed, processes)
        events = web.get(f"/api/items/{item}").json()["events"]
        actors = {
            e["action"].split(".")[0]: e["actor"] for e in events if ".recorded" in e["action"]
        }
        # Metadata read in the web process before the answer, the rest by a worker (its log,
        # below), all recorded as the uploader's: the analysis of ada's arrival (docket.scope).
        assert set(actors) == JPEG_STEPS and set(actors.values()) == {"ada"}, actors
        listed = web.get(f"/api/cases/{case['id']}/items").json()
        assert item in [row["sha256"] for row in listed]
        forged = web.post(
            "/cases",
            data={"name": "South", "csrf": csrf},
            follow_redirects=False,
            headers={"Origin": "https://elsewhere.example"},
        )
        assert forged.status_code == 403  # a post from another origin, through the proxy
    assert processes.stop("worker1") == 0 and processes.stop("worker2") == 0
    done_by = [
        name
        for name in ("worker1", "worker2")
        if f"analyse {item[:12]}: done" in processes.output(name)
    ]
    assert len(done_by) == 1, {n: processes.output(n) for n in ("worker1", "worker2")}
    # uvicorn shuts down gracefully, then raises the signal again: systemd counts it clean.
    assert processes.stop("web") in (0, -signal.SIGTERM), processes.output("web")
    assert "Traceback" not in processes.output("web"), processes.output("web")
    assert processes.stop("nginx", signal.SIGQUIT) == 0, processes.output("nginx")
    # The checkpoint timer's service signs what the web app and the workers logged since the
    # newest checkpoint, and then, with nothing new, adds nothing.
    timer = exec_start("docket-checkpoint.service", processes.env)[len(docket_command()) :]
    checkpointed = processes.docket(*timer)
    assert checkpointed.startswith("checkpoint "), checkpointed
    assert "none made" in processes.docket(*timer)
    verified = processes.docket("verify")
    assert "FAILED" not in verified, verified
    jobs = processes.docket("jobs")
    assert jobs.splitlines()[0] == "1 done", jobs
    # The daily clean-up (docket-clean.timer's service) runs as written: the job is recent
    cleaned = processes.docket(
        *exec_start("docket-clean.service", processes.env)[len(docket_command()) :]
    )
    assert "removed 0 job(s) that finished more than 30 day(s) ago" in cleaned, cleaned
