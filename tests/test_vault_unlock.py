"""Getting a vault's key (docket.vault.unlocking) and the unlock agent (`docket unlock`,
`docket lock`): a secret file, the agent while it runs, nothing after lock or timeout, nothing
for another user. The agents are real processes on a Unix socket in a private runtime folder
per test; the lockers are a docket.json and keys/vault.json only (what unlocking reads), so
these tests need no catalogue."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import vault_terminal
from conftest import docket_command

from docket.errors import DocketError, VaultLockedError, WrongPassphraseError
from docket.vault import agent, slots, unlocking

PASSPHRASE = "Invented passphrase of Dara"


@dataclass(frozen=True)
class Vault:
    path: Path
    locker_id: str
    created: slots.Created
    secret_file: Path
    env: dict[str, str]


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR, short enough for a Unix socket's path."""
    folder = Path(tempfile.mkdtemp(prefix="dk", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    monkeypatch.delenv(unlocking.PASSPHRASE_FILE, raising=False)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def vault(tmp_path: Path, runtime: Path) -> Iterator[Vault]:
    path, locker_id = tmp_path / "locker", str(uuid.uuid4())
    path.mkdir()
    config = {"format": 1, "locker_id": locker_id, "database": "sqlite:///catalogue.sqlite"}
    (path / "docket.json").write_text(json.dumps({**config, "vault": {"format": 1}}))
    created = slots.create(path, locker_id, PASSPHRASE, "Invented Dara")
    secret_file = tmp_path / "passphrase"
    secret_file.write_text(PASSPHRASE + "\n")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "PYTHONUNBUFFERED": "1"}
    env.pop(unlocking.PASSPHRASE_FILE, None)
    yield Vault(path, locker_id, created, secret_file, env)
    agent.lock(locker_id)


def docket(
    vault: Vault, *args: str, secret: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(vault.env)
    if secret is not None:
        env[unlocking.PASSPHRASE_FILE] = str(secret)
    return subprocess.run(
        [*docket_command(), *args, "--locker", str(vault.path)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def locked(vault: Vault) -> bool:
    try:
        unlocking.obtain_key(vault.path, vault.locker_id)
    except VaultLockedError:
        return True
    return False


def agent_pid(vault: Vault) -> int:
    """The agent's process: the one holding the listening socket bound to its path (found in
    /proc/net/unix and /proc/*/fd; SO_PEERCRED would name `docket unlock`, which called
    listen before it forked)."""
    path = str(agent.socket_path(vault.locker_id))
    lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    inodes = {f"socket:[{line.split()[6]}]" for line in lines if line.endswith(" " + path)}
    assert inodes, f"no socket listens at {path}"
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if os.readlink(fd) in inodes:
                return int(fd.parts[2])
        except OSError:
            continue
    raise AssertionError(f"no process holds the socket at {path}")


def gone(pid: int) -> bool:
    """Whether the process has ended (a zombie not yet reaped counts: its memory is freed)."""
    for _ in range(600):  # polled; up to a minute on a loaded machine
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_the_secret_file_opens_with_a_passphrase_a_recovery_key_or_shares(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(unlocking.PASSPHRASE_FILE, str(vault.secret_file))
    assert unlocking.obtain_key(vault.path, vault.locker_id) == vault.created.key
    vault.secret_file.write_text(vault.created.recovery_key)
    assert unlocking.obtain_key(vault.path, vault.locker_id) == vault.created.key
    _, mnemonics = slots.add_shares(vault.path, vault.created.key, 2, 3, "trustees")
    vault.secret_file.write_text(f"{mnemonics[2]}\n\n{mnemonics[0]}\n")
    assert unlocking.obtain_key(vault.path, vault.locker_id) == vault.created.key


def test_a_wrong_empty_or_missing_secret_file_is_one_clear_error(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(unlocking.PASSPHRASE_FILE, str(vault.secret_file))
    vault.secret_file.write_text(PASSPHRASE + " \n")  # a trailing space is part of it
    with pytest.raises(WrongPassphraseError, match="no slot opens with this passphrase"):
        unlocking.obtain_key(vault.path, vault.locker_id)
    vault.secret_file.write_text("\n")
    with pytest.raises(DocketError, match=r"passphrase: the passphrase file is empty"):
        unlocking.obtain_key(vault.path, vault.locker_id)
    monkeypatch.setenv(unlocking.PASSPHRASE_FILE, str(tmp_path / "absent"))
    with pytest.raises(DocketError, match=r"absent: cannot read the passphrase file"):
        unlocking.obtain_key(vault.path, vault.locker_id)
    monkeypatch.delenv(unlocking.PASSPHRASE_FILE)
    with pytest.raises(VaultLockedError, match="the vault is locked; run `docket unlock`"):
        unlocking.obtain_key(vault.path, vault.locker_id)


def test_a_new_passphrase_comes_from_the_file_and_never_empty(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(VaultLockedError, match="a new passphrase for Ayla is needed"):
        unlocking.new_passphrase("Ayla")
    monkeypatch.setenv(unlocking.PASSPHRASE_FILE, str(vault.secret_file))
    assert unlocking.new_passphrase("Ayla") == PASSPHRASE
    with pytest.raises(VaultLockedError):
        unlocking.new_passphrase("Ayla", from_env=False)
    other = tmp_path / "other"
    other.write_text("another one\r\n")
    assert unlocking.new_passphrase("Ayla", other, from_env=False) == "another one"
    other.write_text("")
    with pytest.raises(DocketError, match="empty"):
        unlocking.new_passphrase("Ayla", other)


def test_unlock_holds_the_key_until_lock(vault: Vault, runtime: Path) -> None:
    assert locked(vault)
    done = docket(vault, "unlock", "--for", "10m", secret=vault.secret_file)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"unlocked {vault.path} until ")
    assert PASSPHRASE not in done.stdout + done.stderr
    assert unlocking.obtain_key(vault.path, vault.locker_id) == vault.created.key
    sock = agent.socket_path(vault.locker_id)
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    pid = agent_pid(vault)
    assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "RSD"
    # The key is held in memory only: no file of the runtime folder or the locker holds it.
    master = vault.created.key.master
    for folder in (runtime, vault.path):
        for file in folder.rglob("*"):
            if file.is_file():
                data = file.read_bytes()
                assert master not in data and master.hex().encode() not in data
    done = docket(vault, "lock")
    assert (done.returncode, done.stdout.strip()) == (0, f"locked {vault.path}")
    assert locked(vault)
    assert not sock.exists()
    assert gone(pid), "the agent still runs after lock"
    done = docket(vault, "lock")
    assert (done.returncode, done.stdout.strip()) == (
        0,
        f"{vault.path} was not unlocked; nothing held",
    )


def test_the_agent_forgets_the_key_at_its_time(vault: Vault) -> None:
    done = docket(vault, "unlock", "--for", "2s", secret=vault.secret_file)
    assert done.returncode == 0, done.stderr
    try:
        pid: int | None = agent_pid(vault)
    except AssertionError:
        pid = None  # its time already ran out on a slow machine
    listening = agent.socket_path(vault.locker_id)
    for _ in range(600):  # polled; up to a minute on a loaded machine
        # Past its time the agent refuses the key at once, then removes its socket as it exits.
        if locked(vault) and not listening.exists():
            break
        time.sleep(0.1)
    assert locked(vault)
    assert not listening.exists()
    assert pid is None or gone(pid), "the agent still runs after its time"


def test_unlock_with_a_wrong_passphrase_starts_nothing(vault: Vault, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("Invented wrong guess\n")
    done = docket(vault, "unlock", secret=wrong)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "no slot opens with this passphrase" in done.stderr
    assert "Invented wrong guess" not in done.stdout + done.stderr
    assert not agent.socket_path(vault.locker_id).exists()
    done = docket(vault, "unlock")
    assert done.returncode == 1
    assert "the vault is locked; run `docket unlock` or set DOCKET_PASSPHRASE_FILE" in done.stderr


def test_a_second_unlock_replaces_the_first_agent(vault: Vault) -> None:
    for _ in range(2):
        done = docket(vault, "unlock", "--for", "10m", secret=vault.secret_file)
        assert done.returncode == 0, done.stderr
    assert unlocking.obtain_key(vault.path, vault.locker_id) == vault.created.key
    assert agent.lock(vault.locker_id)
    assert not agent.lock(vault.locker_id)
    assert locked(vault)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_the_agent_answers_no_other_user(vault: Vault, runtime: Path) -> None:
    """The folder and socket opened to everyone (as a mistake or an attack might): a client
    running as `nobody` still gets nothing, while one of the agent's own user does."""
    done = docket(vault, "unlock", "--for", "10m", secret=vault.secret_file)
    assert done.returncode == 0, done.stderr
    sock = agent.socket_path(vault.locker_id)
    client = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.connect(sys.argv[1])\n"
        "data = b''\n"
        "try:\n"
        "    s.sendall(b'key\\n')\n"
        "    while chunk := s.recv(64): data += chunk\n"
        "except (ConnectionResetError, BrokenPipeError): pass\n"  # refused: closed unread
        "print(len(data))\n"
    )
    for folder in (runtime, sock.parent):
        folder.chmod(0o711)
    sock.chmod(0o666)
    try:
        other = subprocess.run(  # the system's Python: the virtualenv's is under /root
            [shutil.which("python3", path="/usr/bin:/bin") or "python3", "-c", client, str(sock)],
            user=65534,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=60,
        )
        own = subprocess.run(
            [sys.executable, "-c", client, str(sock)], capture_output=True, text=True, timeout=60
        )
    finally:
        for folder in (runtime, sock.parent):
            folder.chmod(0o700)
    assert (other.returncode, other.stdout.strip()) == (0, "0"), other.stderr
    assert own.stdout.strip() == "32"
    assert unlocking.obtain_key(vault.path, vault.locker_id) == vault.created.key


def test_an_agents_folder_open_to_others_is_refused(runtime: Path) -> None:
    folder = runtime / "docket"
    folder.mkdir(mode=0o700)
    folder.chmod(0o755)
    with pytest.raises(DocketError, match="refused as the unlock agents' folder"):
        agent.socket_path(str(uuid.uuid4()))
    folder.rmdir()
    folder.symlink_to(runtime)
    with pytest.raises(DocketError, match="not a link"):
        agent.socket_path(str(uuid.uuid4()))


def test_unlock_refuses_a_plain_locker(vault: Vault) -> None:
    config = json.loads((vault.path / "docket.json").read_text())
    del config["vault"]
    (vault.path / "docket.json").write_text(json.dumps(config))
    done = docket(vault, "unlock", secret=vault.secret_file)
    assert done.returncode == 1
    assert "not a vault locker" in done.stderr


def on_terminal(vault: Vault, args: list[str], answers: list[str]) -> tuple[int, str]:
    return vault_terminal.run([*args, "--locker", str(vault.path)], vault.env, answers)


def test_unlock_asks_on_the_terminal_and_never_shows_the_passphrase(vault: Vault) -> None:
    code, shown = on_terminal(vault, ["unlock", "--for", "10m"], ["Invented guess", PASSPHRASE])
    assert code == 0, shown
    assert shown.count("Passphrase, recovery key or a share for") == 2
    assert "unlocked" in shown
    assert PASSPHRASE not in shown and "Invented guess" not in shown
    assert unlocking.obtain_key(vault.path, vault.locker_id) == vault.created.key


def test_three_wrong_answers_on_the_terminal_are_refused(vault: Vault) -> None:
    code, shown = on_terminal(vault, ["unlock"], ["one", "two", "three", PASSPHRASE])
    assert code == 1, shown
    assert shown.count("Passphrase, recovery key or a share for") == 3
    assert "docket: " in shown and "no slot opens with this passphrase" in shown
    assert locked(vault)


def test_trustees_type_their_shares_on_the_terminal(vault: Vault) -> None:
    _, mnemonics = slots.add_shares(vault.path, vault.created.key, 2, 3, "trustees")
    code, shown = on_terminal(vault, ["unlock", "--for", "10m"], [mnemonics[2], mnemonics[0]])
    assert code == 0, shown
    assert "Share 2 of the 2 needed" in shown
    for mnemonic in (mnemonics[0], mnemonics[2]):
        words = mnemonic.split()
        assert not any(" ".join(words[i : i + 3]) in shown for i in range(len(words) - 2))
    assert unlocking.obtain_key(vault.path, vault.locker_id) == vault.created.key


def test_an_unsafe_agents_folder_is_not_asked_and_unlock_says_why(
    vault: Vault, runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (runtime / "docket").mkdir(mode=0o700)
    (runtime / "docket").chmod(0o777)  # anyone could have put a socket here
    monkeypatch.setenv(unlocking.PASSPHRASE_FILE, str(vault.secret_file))
    assert unlocking.obtain_key(vault.path, vault.locker_id) == vault.created.key
    done = docket(vault, "unlock", secret=vault.secret_file)
    assert done.returncode == 1
    assert "refused as the unlock agents' folder" in done.stderr
    (runtime / "docket").chmod(0o700)


def memory_of(pid: int) -> bytes:
    """Every readable mapping of a process's memory (root reads it despite not-dumpable)."""
    found = []
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as memory:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            span, perms = line.split()[:2]
            if "r" not in perms or line.endswith("[vvar]"):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                memory.seek(start)
                found.append(memory.read(end - start))
            except OSError:
                continue
    return b"".join(found)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to read another process's memory")
def test_the_agents_memory_holds_the_key_but_not_the_passphrase(vault: Vault) -> None:
    """The agent is a fresh interpreter fed the key alone: the passphrase that `docket
    unlock` read from its file is nowhere in the agent's memory (the key is: the scan works)."""
    done = docket(vault, "unlock", "--for", "10m", secret=vault.secret_file)
    assert done.returncode == 0, done.stderr
    memory = memory_of(agent_pid(vault))
    assert vault.created.key.master in memory
    assert PASSPHRASE.encode() not in memory
    assert (
        PASSPHRASE.encode("utf-16-le") not in memory
        and PASSPHRASE.encode("utf-32-le") not in memory
    )


def test_a_bad_duration_is_refused_before_anything_is_asked(vault: Vault) -> None:
    for bad in ("0", "0s", "2x", "h", "-5m", "1.5h"):
        done = docket(vault, "unlock", "--for", bad, secret=vault.secret_file)
        assert done.returncode == 2, (bad, done.stderr)
        assert "a duration" in done.stderr
    assert not agent.socket_path(vault.locker_id).exists()
