"""The capture's own proxy (docket.capture.egress), tried as an attacker would: a page that
sends its parts into the capturing machine's network past the first hop. The cases
(tests/egress_cases.py) need a "public" site that is still on this machine, so they run in
a network namespace of their own (`unshare --net`, as a user namespace's root): there a
global address is put on loopback, and /etc/hosts (bind-mounted) names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import unshare_works

# A global address (Python's ipaddress counts it so); in the namespace it is only ours.
PUBLIC = "100.128.0.7"
HERE = Path(__file__).parent


def test_no_part_of_a_page_reaches_the_private_network(tmp_path: Path) -> None:
    if not unshare_works("--net", "--mount"):
        pytest.skip("this machine cannot make a network namespace (unshare --user --net)")
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{PUBLIC} velmora.test\n127.0.0.1 inside.velmora.test\n")
    setup = (
        f"ip link set lo up && ip addr add {PUBLIC}/32 dev lo && "
        f'mount --bind {hosts} /etc/hosts && exec "$0" "$@"'
    )
    done = subprocess.run(
        [
            "unshare", "--user", "--map-root-user", "--net", "--mount", "sh", "-c", setup,
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            f"--basetemp={tmp_path / 'inner'}", str(HERE / "egress_cases.py"),
        ],
        capture_output=True,
        text=True,
        timeout=540,
        cwd=HERE.parent,
        env={**os.environ, "DOCKET_TEST_PUBLIC_ADDRESS": PUBLIC},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "7 passed" in done.stdout, done.stdout[-2000:]
