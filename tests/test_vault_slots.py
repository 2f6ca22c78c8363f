"""Key slots of a vault (docket.vault.slots): each kind opens, nothing else does, damage is
named, the last slot stays, and no secret is ever written to keys/vault.json."""

from __future__ import annotations

import base64
import itertools
import json
import unicodedata
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from docket.errors import DocketError, VaultDamagedError, WrongPassphraseError
from docket.vault import slot_file, slots
from docket.vault.keys import VaultKey
from docket.vault.slot_file import NAME

PASSPHRASE = "correct horse Ünïcode battery"
LABEL = "Invented Person Ayla"


def make(tmp_path: Path) -> tuple[Path, str, slots.Created]:
    locker, locker_id = tmp_path / "locker", str(uuid.uuid4())
    locker.mkdir(parents=True)
    return locker, locker_id, slots.create(locker, locker_id, PASSPHRASE, LABEL)


def test_a_new_vault_opens_with_its_passphrase_and_its_recovery_key(tmp_path: Path) -> None:
    locker, locker_id, created = make(tmp_path)
    assert slots.open_with_passphrase(locker, locker_id, PASSPHRASE) == created.key
    assert slots.open_with_recovery_key(locker, locker_id, created.recovery_key) == created.key
    sloppy = created.recovery_key.lower().replace("-", " ").replace("o", "0")
    assert slots.open_with_recovery_key(locker, locker_id, sloppy) == created.key
    assert slots.open_with_secret(locker, locker_id, created.recovery_key) == created.key
    assert slots.open_with_secret(locker, locker_id, PASSPHRASE) == created.key
    listed = slots.list_slots(locker, locker_id, created.key)
    assert [(s.id, s.kind, s.label) for s in listed] == [
        (0, "passphrase", LABEL),
        (1, "recovery", "recovery key"),
    ]
    assert [s.label for s in slots.list_slots(locker, locker_id)] == [None, None]


def test_the_same_passphrase_in_another_unicode_form_opens(tmp_path: Path) -> None:
    locker, locker_id, created = make(tmp_path)
    decomposed = unicodedata.normalize("NFD", PASSPHRASE)
    assert decomposed != PASSPHRASE
    assert slots.open_with_passphrase(locker, locker_id, decomposed) == created.key


def test_a_wrong_secret_of_each_kind_is_refused(tmp_path: Path) -> None:
    locker, locker_id, created = make(tmp_path)
    for wrong in ("correct horse Unicode battery", PASSPHRASE + " ", "x"):
        with pytest.raises(WrongPassphraseError, match=r"vault\.json: no slot opens"):
            slots.open_with_passphrase(locker, locker_id, wrong)
    other = slots.create(tmp_path, str(uuid.uuid4()), PASSPHRASE, LABEL).recovery_key
    with pytest.raises(WrongPassphraseError, match="recovery key"):
        slots.open_with_recovery_key(locker, locker_id, other)
    with pytest.raises(WrongPassphraseError, match="52 letters"):
        slots.open_with_recovery_key(locker, locker_id, created.recovery_key[:-2])
    with pytest.raises(DocketError, match="empty passphrase"):
        slots.open_with_passphrase(locker, locker_id, "")
    # The right secrets of another locker do not open this one, nor this one's another.
    with pytest.raises(VaultDamagedError, match="belongs to locker"):
        slots.open_with_passphrase(locker, str(uuid.uuid4()), PASSPHRASE)


def test_k_of_n_shares_open_and_fewer_or_foreign_ones_do_not(tmp_path: Path) -> None:
    locker, locker_id, created = make(tmp_path)
    info, mnemonics = slots.add_shares(locker, created.key, 2, 3, "trustees")
    assert (info.kind, info.shares, info.label) == ("shares", (2, 3), "trustees")
    assert len(set(mnemonics)) == 3
    for pair in itertools.combinations(mnemonics, 2):
        assert slots.open_with_shares(locker, locker_id, list(pair)) == created.key
        assert slots.open_with_secret(locker, locker_id, "\n".join(pair) + "\n") == created.key
    with pytest.raises(WrongPassphraseError, match="do not combine"):
        slots.open_with_shares(locker, locker_id, mnemonics[:1])
    words = mnemonics[0].split()
    words[5] = "academic" if words[5] != "academic" else "acid"
    with pytest.raises(WrongPassphraseError, match="do not combine"):
        slots.open_with_shares(locker, locker_id, [" ".join(words), mnemonics[1]])
    other_locker, _, other = make(tmp_path / "other")
    _, others = slots.add_shares(other_locker, other.key, 2, 3, "trustees")
    with pytest.raises(WrongPassphraseError, match="no slot opens with this set of shares"):
        slots.open_with_shares(locker, locker_id, others[:2])
    for k, n in ((1, 3), (3, 2), (2, 17)):
        with pytest.raises(DocketError, match="need 2 <= k <= n"):
            slots.add_shares(locker, created.key, k, n, "x")


def test_a_slot_is_added_only_with_this_vaults_key(tmp_path: Path) -> None:
    locker, _, _ = make(tmp_path)
    with pytest.raises(WrongPassphraseError, match="not this vault's"):
        slots.add_passphrase(locker, VaultKey.generate(), "another one", "intruder")


def test_a_removed_slot_no_longer_opens_and_the_last_one_stays(tmp_path: Path) -> None:
    locker, locker_id, created = make(tmp_path)
    added = slots.add_passphrase(locker, created.key, "second passphrase", "Invented Bo")
    assert added.id == 2
    assert slots.open_with_passphrase(locker, locker_id, "second passphrase") == created.key
    assert slots.remove_slot(locker, created.key, 2).label == "Invented Bo"
    with pytest.raises(WrongPassphraseError):
        slots.open_with_passphrase(locker, locker_id, "second passphrase")
    slots.remove_slot(locker, created.key, 0)
    with pytest.raises(WrongPassphraseError):
        slots.open_with_passphrase(locker, locker_id, PASSPHRASE)
    with pytest.raises(DocketError, match="slot 1 is the last one"):
        slots.remove_slot(locker, created.key, 1)
    with pytest.raises(DocketError, match="no slot 7"):
        slots.remove_slot(locker, created.key, 7)
    assert slots.open_with_recovery_key(locker, locker_id, created.recovery_key) == created.key
    # Ids are never reused: a slot added now is not mistaken in the log for the removed one.
    assert slots.add_passphrase(locker, created.key, "third", "Invented Cy").id == 3


def test_a_changed_passphrase_opens_and_the_old_one_does_not(tmp_path: Path) -> None:
    locker, locker_id, created = make(tmp_path)
    old, new = slots.change_passphrase(locker, created.key, 0, "a new passphrase")
    assert (old.id, new.id, new.label) == (0, 2, LABEL)
    assert slots.open_with_passphrase(locker, locker_id, "a new passphrase") == created.key
    with pytest.raises(WrongPassphraseError):
        slots.open_with_passphrase(locker, locker_id, PASSPHRASE)
    with pytest.raises(DocketError, match="no passphrase slot 1"):
        slots.change_passphrase(locker, created.key, 1, "recovery is not a passphrase")


def test_no_secret_is_written_to_the_slot_file(tmp_path: Path) -> None:
    locker, _, created = make(tmp_path)
    _, mnemonics = slots.add_shares(locker, created.key, 2, 3, "Invented Trustees")
    data = (locker / NAME).read_bytes()
    master = created.key.master
    needles = [
        PASSPHRASE.encode(),
        LABEL.encode(),
        b"Invented Trustees",
        master,
        master.hex().encode(),
        base64.b64encode(master),
        base64.b32encode(master).rstrip(b"="),
        created.recovery_key.encode(),
        created.recovery_key.replace("-", "").encode(),
        # Four words of each share in a row: one word alone may be a word of the file's own
        # ("kind" is a share word and a field name; the test failed by that now and then).
        *(" ".join(m.split()[4:8]).encode() for m in mnemonics),
    ]
    for needle in needles:
        assert needle not in data
    assert json.loads(data)["slots"][0]["kdf"] == {
        "name": "argon2id",
        "salt": json.loads(data)["slots"][0]["kdf"]["salt"],
        "iterations": 3,
        "memory_kib": 65536,
        "lanes": 4,
    }
    assert (locker / NAME).stat().st_mode & 0o077 == 0


def test_every_flipped_bit_of_the_slot_file_is_refused_or_harmless(tmp_path: Path) -> None:
    """Each byte of keys/vault.json flipped in turn: the vault opens with the right key (the
    flip hit a slot not used, or JSON's white space) or is refused as damaged, naming the
    file; never a wrong key, never another error."""
    locker, locker_id, created = make(tmp_path)
    original = (locker / NAME).read_bytes()
    outcomes = {"opened": 0, "damaged": 0}
    for position in range(len(original)):
        flipped = bytearray(original)
        flipped[position] ^= 0x01
        (locker / NAME).write_bytes(bytes(flipped))
        try:
            key = slots.open_with_recovery_key(locker, locker_id, created.recovery_key)
        except VaultDamagedError as exc:
            assert str(exc).startswith(str(locker / NAME) + ": ")
            assert "\n" not in str(exc)
            outcomes["damaged"] += 1
        else:
            assert key == created.key
            outcomes["opened"] += 1
    assert outcomes["damaged"] > len(original) // 2
    (locker / NAME).write_bytes(original)
    assert slots.open_with_recovery_key(locker, locker_id, created.recovery_key) == created.key


def test_a_cut_slot_file_is_refused_as_damaged(tmp_path: Path) -> None:
    locker, locker_id, created = make(tmp_path)
    original = (locker / NAME).read_bytes()
    for length in range(0, len(original) - 1, 7):
        (locker / NAME).write_bytes(original[:length])
        with pytest.raises(VaultDamagedError, match=r"vault\.json: "):
            slots.open_with_recovery_key(locker, locker_id, created.recovery_key)
    (locker / NAME).unlink()
    with pytest.raises(VaultDamagedError, match="missing"):
        slots.open_with_recovery_key(locker, locker_id, created.recovery_key)


def test_a_damaged_slot_is_named_and_the_others_still_open(tmp_path: Path) -> None:
    locker, locker_id, created = make(tmp_path)
    document = json.loads((locker / NAME).read_bytes())
    wrapped = bytearray(base64.b64decode(document["slots"][0]["wrapped"]))
    wrapped[20] ^= 0x80
    document["slots"][0]["wrapped"] = base64.b64encode(bytes(wrapped)).decode()
    (locker / NAME).write_text(json.dumps(document))
    with pytest.raises(VaultDamagedError, match=r"damaged: 0 \(its checksum does not match"):
        slots.open_with_passphrase(locker, locker_id, PASSPHRASE)
    assert slots.open_with_recovery_key(locker, locker_id, created.recovery_key) == created.key
    listed = slots.list_slots(locker, locker_id, created.key)
    assert [(s.id, s.kind) for s in listed] == [(1, "recovery"), (0, "damaged")]
    # The damaged slot is kept through other changes, and can be removed.
    slots.add_passphrase(locker, created.key, "replacement", "Invented Ayla")
    assert "wrapped" in json.loads((locker / NAME).read_bytes())["slots"][2]
    assert slots.remove_slot(locker, created.key, 0).kind == "damaged"
    assert [s.kind for s in slots.list_slots(locker, locker_id)] == ["recovery", "passphrase"]


def test_a_wrapped_key_changed_with_its_checksum_rewritten_still_never_opens(
    tmp_path: Path,
) -> None:
    """Someone who edits a slot and recomputes its checksum gets a refusal, not a key: the
    AES-GCM tag (bound to the locker and slot ids) is the defence."""
    locker, locker_id, created = make(tmp_path)
    vault = slot_file.read(locker, locker_id)
    recovery_slot = vault.slots[1]
    for change in (
        {"wrapped": recovery_slot.wrapped[:-1] + bytes([recovery_slot.wrapped[-1] ^ 1])},
        {"wrapped": recovery_slot.wrapped[:-16]},
        {"id": 5},
    ):
        forged = replace(
            vault, next_slot=6, slots=(vault.slots[0], replace(recovery_slot, **change))
        )
        slot_file.write(locker, forged)
        with pytest.raises(WrongPassphraseError):
            slots.open_with_recovery_key(locker, locker_id, created.recovery_key)


def test_problems_name_each_damaged_slot_for_verify(tmp_path: Path) -> None:
    locker, locker_id, created = make(tmp_path)
    assert slots.problems(locker, locker_id) == []
    assert slots.problems(locker, locker_id, created.key) == []
    document = json.loads((locker / NAME).read_bytes())
    document["slots"][1]["created"] = "2020-01-01T00:00:00.000000Z"  # check no longer fits
    (locker / NAME).write_text(json.dumps(document))
    assert slots.problems(locker, locker_id) == [
        f"{locker / NAME}: slot 1 is damaged: its checksum does not match (the slot was "
        "changed or damaged)"
    ]
    assert slots.problems(locker, locker_id, VaultKey.generate())[1:] == [
        f"{locker / NAME}: its key check does not fit the locker key"
    ]
    (locker / NAME).write_bytes(b"{")
    [problem] = slots.problems(locker, locker_id)
    assert problem.startswith(f"{locker / NAME}: damaged, not JSON")


def test_a_forged_slot_with_huge_argon2_parameters_is_refused_unrun(tmp_path: Path) -> None:
    """The checksum recomputed, as a forger would: 1 TiB of memory or a million passes are
    refused as damaged before Argon2id runs; the recovery slot still opens."""
    locker, locker_id, created = make(tmp_path)
    vault = slot_file.read(locker, locker_id)
    first = vault.slots[0]
    assert isinstance(first.kdf, slot_file.Argon2idParams)
    for forged_kdf in (
        replace(first.kdf, memory_kib=1 << 30),
        replace(first.kdf, iterations=1_000_000),
        replace(first.kdf, lanes=0),
        replace(first.kdf, memory_kib=8),
        replace(first.kdf, salt=b""),
    ):
        slot_file.write(
            locker, replace(vault, slots=(replace(first, kdf=forged_kdf), vault.slots[1]))
        )
        with pytest.raises(VaultDamagedError, match=r"damaged: 0 \(Argon2id parameters out of"):
            slots.open_with_passphrase(locker, locker_id, PASSPHRASE)
        assert slots.open_with_recovery_key(locker, locker_id, created.recovery_key) == created.key


def test_the_slot_file_is_bounded(tmp_path: Path) -> None:
    locker, locker_id, created = make(tmp_path)
    for _ in range(slot_file.MOST_SLOTS - 2):
        slots.add_recovery_key(locker, created.key, "spare")
    with pytest.raises(DocketError, match="already 64 slots; remove one first"):
        slots.add_recovery_key(locker, created.key, "one too many")
    document = json.loads((locker / NAME).read_bytes())
    document["slots"].append(document["slots"][-1])
    (locker / NAME).write_text(json.dumps(document))
    with pytest.raises(VaultDamagedError, match="more than 64 slots"):
        slots.open_with_recovery_key(locker, locker_id, created.recovery_key)
    (locker / NAME).write_bytes(b" " * (slot_file.MOST_BYTES + 1))
    with pytest.raises(VaultDamagedError, match="larger than"):
        slots.open_with_recovery_key(locker, locker_id, created.recovery_key)
