"""Running docket on a real pseudo-terminal, for the tests of what it asks there (getpass
reads the controlling terminal, not standard input): test_vault_unlock, test_vault_slots_cli."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import termios

from conftest import docket_command

# What docket's prompts start with (docket.vault.unlocking).
PROMPTS = (b"Passphrase", b"Share ", b"New passphrase", b"The same passphrase again")


def run(args: list[str], env: dict[str, str], answers: list[str]) -> tuple[int, str]:
    """Run docket with a new pseudo-terminal as its controlling terminal, answering each
    prompt in turn; its exit code and everything the terminal showed."""
    main, secondary = os.openpty()
    process = subprocess.Popen(
        [*docket_command(), *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(secondary)
    shown, answered = b"", 0
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        assert ready, f"no output from the terminal; so far: {shown!r}"
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO: the process has gone and the terminal closed
            break
        if not chunk:
            break
        shown += chunk
        prompts = sum(shown.count(prompt) for prompt in PROMPTS)
        if answered < len(answers) and prompts > answered:
            os.write(main, answers[answered].encode() + b"\n")
            answered += 1
    os.close(main)
    return process.wait(timeout=120), shown.decode(errors="replace")
