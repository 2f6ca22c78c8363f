"""Property: a real exported package, mutated at random (file bytes, JSON values and types,
manifests, notes, files added, removed or renamed, zip structure) and its bag's manifests
regenerated as a forger would, is either byte-identical to what was exported and intact, or
fails with named reasons. Never an exception, never "intact" for anything else."""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bagit
import pytest
from conftest import photo, take
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docket.disclose import prior, verify_package
from docket.disclose.check import check
from docket.disclose.importer import import_package
from docket.disclose.package import export, items_of_case
from docket.locker import Locker

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
ADDED = [
    "data/extra.bin",
    "data/custody/tsa-root.pem",
    "data/custody/checkpoint.tsr",
    "extra.txt",
    "fetch.txt",
    "manifest-md5.txt",
    "tagmanifest-sha1.txt",
    "data/items/copy.jpg",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, bytes]]:
    """A court package that carries a previous export's checkpoint and consistency proof, and
    the prior custody of an item imported from another locker."""
    base = tmp_path_factory.mktemp("fuzz")
    with Locker.create(base / "sender") as sender:
        sent = take(sender, photo(base / "in3", "c.jpg", 3)).outcomes[0].sha256 or ""
        export(sender, [sent], "court", base / "sent", "tester")
        sender_key = sender.public_key
    with Locker.create(base / "locker") as locker:
        first = take(locker, photo(base / "in", "a.jpg", 1), case="North", source="W-17")
        export(locker, [first.outcomes[0].sha256 or ""], "court", base / "first", "tester")
        second = take(locker, photo(base / "in2", "b.jpg", 2), case="North")
        import_package(locker, base / "sent", "tester", "North", sender_key)
        items = [o.sha256 or "" for o in (*first.outcomes, *second.outcomes)] + [sent]
        export(locker, items, "court", base / "court", "tester", recipient="Tribunal")
        assert list((base / "court" / "data" / "custody" / "prior").rglob("*.json"))
        yield base / "court", locker.public_key


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes; a tag manifest's lines in sorted order, since their order says
    nothing (bagit-python, which the forger's rebag uses, lists them in the file system's
    order; Docket sorts them)."""
    return {
        p.relative_to(folder).as_posix(): _sorted_lines(p.read_bytes())
        if p.name.startswith("tagmanifest-")
        else p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _sorted_lines(text: bytes) -> bytes:
    return b"".join(sorted(text.splitlines(keepends=True)))


def json_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from json_paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from json_paths(inner, (*path, index))


def mutate_json(data: st.DataObject, text: bytes) -> bytes:
    try:
        value = json.loads(text)
    except ValueError:
        return text  # an earlier mutation already broke it
    path = data.draw(st.sampled_from(list(json_paths(value))))
    new = data.draw(JSON)
    if not path:
        value = new
    else:
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = new
    indent = data.draw(st.sampled_from([None, 1, 2]))
    return json.dumps(value, indent=indent).encode()


def mutate_note(data: st.DataObject, text: bytes) -> bytes:
    lines = text.decode("utf-8", "surrogateescape").split("\n")
    index = data.draw(st.integers(0, len(lines) - 1))
    how = data.draw(st.sampled_from(["zero", "plus", "char", "duplicate", "swap", "drop"]))
    if how == "zero":
        lines[index] = "0" + lines[index]
    elif how == "plus":
        lines[index] = "+" + lines[index]
    elif how == "char" and lines[index]:
        at = data.draw(st.integers(0, len(lines[index]) - 1))
        lines[index] = (
            lines[index][:at] + data.draw(st.characters(codec="utf-8")) + lines[index][at + 1 :]
        )
    elif how == "duplicate":
        lines.insert(index, lines[index])
    elif how == "swap":
        other = data.draw(st.integers(0, len(lines) - 1))
        lines[index], lines[other] = lines[other], lines[index]
    else:
        del lines[index]
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def mutate(data: st.DataObject, bag: Path) -> None:
    files = sorted(snapshot(bag))
    target = bag / data.draw(st.sampled_from(files))
    content = target.read_bytes()
    kind = data.draw(
        st.sampled_from(["flip", "cut", "append", "delete", "add", "rename", "json", "note"])
    )
    if kind == "flip" and content:
        at = data.draw(st.integers(0, len(content) - 1))
        bit = 1 << data.draw(st.integers(0, 7))
        target.write_bytes(content[:at] + bytes([content[at] ^ bit]) + content[at + 1 :])
    elif kind == "cut":
        target.write_bytes(content[: data.draw(st.integers(0, max(len(content) - 1, 0)))])
    elif kind == "append":
        target.write_bytes(content + data.draw(st.binary(min_size=1, max_size=16)))
    elif kind == "delete":
        target.unlink()
    elif kind == "add":
        added = bag / data.draw(st.sampled_from(ADDED))
        added.parent.mkdir(parents=True, exist_ok=True)
        added.write_bytes(data.draw(st.binary(max_size=64)))
    elif kind == "rename":
        target.rename(target.with_name(target.name + data.draw(st.sampled_from([".bak", "~"]))))
    elif kind == "json" and target.suffix == ".json":
        target.write_bytes(mutate_json(data, content))
    elif kind == "note" and target.name.endswith("checkpoint.txt"):
        target.write_bytes(mutate_note(data, content))


def rebag(bag: Path) -> None:
    """A forger's regenerated manifests; a bag too broken for bagit stays as it is."""
    try:
        bagit.Bag(str(bag)).save(manifests=True)
    except (bagit.BagError, OSError, ValueError, UnicodeError):
        return


def packed(data: st.DataObject, bag: Path, scratch: Path) -> tuple[Path, bool]:
    """The package as checked, and whether its zip (if any) holds exactly the bag."""
    shape = data.draw(st.sampled_from(["folder", "zip", "flat", "extra", "nested"]))
    if shape == "folder":
        return bag, True
    package = scratch / "package.zip"
    with zipfile.ZipFile(package, "w") as bundle:
        for path in sorted(bag.rglob("*")):
            if path.is_file():
                relative = path.relative_to(bag).as_posix()
                name = {"flat": relative, "nested": f"outer/court/{relative}"}.get(
                    shape, f"court/{relative}"
                )
                bundle.write(path, name)
        if shape == "extra":
            bundle.writestr("readme.txt", "planted beside the package")
    return package, shape == "zip"


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_packages_fail_with_a_reason_or_are_identical(
    exported: tuple[Path, bytes], data: st.DataObject
) -> None:
    original, key = exported
    expected = snapshot(original)
    with tempfile.TemporaryDirectory(prefix="docket-fuzz-") as scratch:
        bag = Path(scratch) / "court"
        shutil.copytree(original, bag)
        for path in bag.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        for _ in range(data.draw(st.integers(0, 3))):
            mutate(data, bag)
        rebag(bag)
        package, whole = packed(data, bag, Path(scratch))
        report = check(package, key)
        code, problems, *_ = verify_package.verify(package, key.hex())
        if whole and snapshot(bag) == expected:
            assert report.intact, report.failures
            assert code == 0, problems
        else:
            assert not report.ok, "a changed package was called intact"
            assert report.failures and all(isinstance(f, str) and f for f in report.failures)
            assert code == 1 and problems, "the verifier inside the package disagrees"


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, bytes, bytes]]:
    """A timestamp-free court package of two items, its sender's key and its honest bundle."""
    base = tmp_path_factory.mktemp("sent")
    with Locker.create(base / "sender") as sender:
        first = take(sender, photo(base / "in", "a.jpg", 1)).outcomes[0].sha256 or ""
        export(sender, [first], "court", base / "first", "tester")  # a previous export
        items = [first, take(sender, photo(base / "in", "b.jpg", 2)).outcomes[0].sha256 or ""]
        export(sender, items, "court", base / "sent", "tester")
        manifest = json.loads((base / "sent" / "data" / "package.json").read_text())
        yield base / "sent", sender.public_key, prior.bundle(base / "sent", manifest)


def mutate_bundle(data: st.DataObject, honest: bytes) -> bytes:
    """What an insider of the receiving locker might keep instead of the sender's custody."""
    value = json.loads(honest)
    for _ in range(data.draw(st.integers(1, 2))):
        kept = value.get("files") if isinstance(value, dict) else None
        if not isinstance(kept, dict) or not kept or data.draw(st.booleans()):
            value = json.loads(mutate_json(data, json.dumps(value).encode()))
            continue
        name = data.draw(st.sampled_from(sorted(kept)))
        inner = base64.b64decode(kept[name])
        how = data.draw(st.sampled_from(["json", "note", "drop", "add"]))
        if how == "json":
            kept[name] = base64.b64encode(mutate_json(data, inner)).decode()
        elif how == "note":
            kept[name] = base64.b64encode(mutate_note(data, inner)).decode()
        elif how == "drop":
            del kept[name]
        else:
            kept[data.draw(st.sampled_from(["custody/extra.json", f"{name}.bak"]))] = kept[name]
    return json.dumps(value, indent=1, sort_keys=True).encode()


@settings(
    max_examples=int(os.environ.get("DOCKET_PRIOR_LEG_EXAMPLES", "10")),  # more by hand
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_prior_leg_kept_otherwise_is_never_intact(
    sent: tuple[Path, bytes, bytes], data: st.DataObject
) -> None:
    package, sender_key, honest = sent
    kept = mutate_bundle(data, honest)
    with (
        tempfile.TemporaryDirectory(prefix="docket-fuzz-") as scratch,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(prior, "bundle", lambda root, manifest: kept)
        with Locker.create(Path(scratch) / "receiver") as receiver:
            import_package(receiver, package, "clerk", "Received", sender_key)
            with receiver.engine.connect() as conn:
                items = items_of_case(conn, "Received")
            again = Path(scratch) / "again"
            export(receiver, items, "court", again, "clerk", case="Received")
            key = receiver.public_key
        report = check(again, key)
        code, problems, *_ = verify_package.verify(again, key.hex())
    if kept == honest:
        assert report.intact and code == 0, (report.failures, problems)
    else:
        assert not report.ok, "a prior leg kept otherwise was called intact"
        assert all(isinstance(f, str) and f for f in report.failures)
        assert code == 1 and problems, "the verifier inside the package disagrees"
