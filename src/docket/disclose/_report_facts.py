"""What the package report says, for its HTML and its PDF alike: each fact read from what the
package proves (an item's metadata.json, whose metadata is the logged result of an included
event, and the included custody events), put in the words a clerk reads.

The verification aids' fixed words (their findings, statuses and names) are shown in the
report's language (AID_WORDS, with the same catalogues as the web app); what an aid recorded
(a finding's summary and explanation) is evidence, and stays as recorded, in English."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from docket.custody.events import Event
from docket.disclose import prior
from docket.disclose.check import fingerprint
from docket.locale import N_

Words = Callable[[str], str]  # gettext of the report's language

# The words of docket.aids a reader sees: findings (docket.aids.signals), a run's status
# (docket.aids.results), the aid steps' names and their signals' names.
AID_WORDS = frozenset(
    (
        *(N_("signal"), N_("no signal"), N_("not checked"), N_("for review")),
        *(N_("ok"), N_("failed"), N_("not run")),
        *(N_("picture-signals"), N_("picture-forensics"), N_("metadata-signals")),
        *(N_("content-credentials"), N_("proofmode"), N_("video-signals"), N_("shadow-places")),
        *(N_("capture-vs-modify"), N_("offset-vs-position"), N_("gps-time-vs-capture")),
        *(N_("container-vs-stream-time"), N_("camera-identity"), N_("error-levels")),
        *(N_("double-compression"), N_("nearest-places"), N_("proof-vs-media")),
        *(N_("jpeg-quantisation"), N_("editing-software"), N_("sun-position")),
        *(N_("exif-thumbnail"), N_("video-encoders"), N_("re-encoding"), N_("creation-times")),
        N_("shadow and stated place"),
    )
)


AS_RECORDED = N_(
    "What each aid found is shown as the tool recorded it, in English: it is part of the "
    "evidence, and stays as recorded."
)


def as_is(text: str) -> str:
    """The English words (the msgids themselves)."""
    return text


def aid_word(word: str, _: Words) -> str:
    """One of AID_WORDS in the report's language; any other word as recorded."""
    return _(word) if word in AID_WORDS else word


METHODS = {
    "upload": N_("browser upload"),
    "package": N_("imported package"),
}


@dataclass(frozen=True)
class Acquisition:
    when: str
    collector: str
    source: str
    method: str
    name: str
    note: str
    event: int


@dataclass(frozen=True)
class Incident:
    number: int
    title: str
    when: str
    place: str
    violations: str
    linked_in: int
    described_in: int


@dataclass(frozen=True)
class ItemFacts:
    item: str
    file: str
    names: list[str]
    media_type: str
    size: str
    capture_time: str
    place: str
    device: str
    sha256: str
    sha512: str
    acquisitions: list[Acquisition] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    annotations: list[tuple[int, str]] = field(default_factory=list)
    custody: str = ""


def _name(raw: str) -> str:
    return PurePosixPath(raw).name or raw


def _method(acq: dict[str, Any], arrival: dict[str, Any] | None, _: Words) -> str:
    details = (arrival or {}).get("details") or {}
    package = (details.get("acquisition") or {}).get("package")
    if acq.get("method") == "package" and isinstance(package, dict):
        origin = str(package.get("sender_origin"))
        key = fingerprint(bytes.fromhex(str(package.get("sender_public_key"))))
        said = _("imported package from %(origin)s (its key %(key)s, %(name)s)") % {
            "origin": origin,
            "key": key,
            "name": package.get("sender_key"),
        }
        kept = package.get(prior.PRIOR_CUSTODY)
        if isinstance(kept, str):
            path = prior.path_of(kept, origin)
            said += _("; the sender's custody is in %(path)s") % {"path": path}
        return said
    if acq.get("method") == "import":
        if acq.get("path_in_container"):
            zipped = _name(str(acq.get("original_path") or ""))
            return _("from a zip (%(name)s)") % {"name": zipped}
        return _("ingest from a folder")
    method = str(acq.get("method") or "")
    return _(METHODS[method]) if method in METHODS else method or _("not recorded")


def _acquisition(acq: dict[str, Any], arrival: dict[str, Any] | None, _: Words) -> Acquisition:
    inner = acq.get("path_in_container")
    return Acquisition(
        when=str(acq.get("acquired_at") or ""),
        collector=str(acq.get("collector") or _("not recorded")),
        source=str(acq.get("source") or _("not recorded")),
        method=_method(acq, arrival, _),
        name=str(inner) if inner else _name(str(acq.get("original_path") or "")),
        note=str(acq.get("note") or ""),
        event=int(acq.get("event") or 0),
    )


def _place(facts: dict[str, Any], _: Words) -> str:
    lat, lon = facts.get("gps_latitude"), facts.get("gps_longitude")
    if not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
        return _("not recorded in the file")
    place = f"{lat:.5f}, {lon:.5f}"
    altitude = facts.get("gps_altitude")
    if isinstance(altitude, (int, float)):
        place += " " + _("(altitude %(metres)s m)") % {"metres": f"{altitude:g}"}
    return place


def _capture_time(facts: dict[str, Any], _: Words) -> str:
    when = facts.get("capture_time")
    if not when:
        return _("not recorded in the file")
    if facts.get("capture_time_has_offset"):
        return str(when)
    return _("%(when)s (the file gives no time-zone offset)") % {"when": when}


def _custody(events: list[dict[str, Any]], _: Words) -> str:
    if not events:
        return _("no custody events in this package")
    first, last = events[0], events[-1]
    said = _(
        "%(count)s event(s), from event %(first)s (%(first_action)s, %(first_time)s) "
        "to event %(last)s (%(last_action)s, %(last_time)s)"
    )
    return said % {
        "count": len(events),
        "first": first["seq"],
        "first_action": first["action"],
        "first_time": first["time"],
        "last": last["seq"],
        "last_action": last["action"],
        "last_time": last["time"],
    }


def item_facts(item: dict[str, Any], _: Words = as_is) -> ItemFacts:
    """The facts of one item of the package, their fixed words in the words of `_`."""
    meta = item["metadata"]
    proven = meta.get("metadata") or {}
    facts = (proven.get("normalised") or {}) if isinstance(proven, dict) else {}
    arrivals = {e["seq"]: e for e in item["events"] if e["action"] == "item.acquired"}
    acquisitions = [
        _acquisition(a, arrivals.get(a.get("event")), _) for a in meta.get("acquisitions", [])
    ]
    names = list(dict.fromkeys(a.name for a in acquisitions if a.name))
    if "made_by" in meta:  # a publication copy: where it came from stays home
        names = [
            _("%(kind)s copy of item %(item)s")
            % {"kind": meta["made_by"], "item": str(meta.get("derived_from"))[:16]}
        ]
    device = " ".join(str(facts[k]) for k in ("make", "model") if facts.get(k))
    events = item["events"]
    annotations = [
        (int(e["seq"]), str(e["details"].get("text") or ""))
        for e in events
        if e["action"] == "item.annotated"
    ]
    return ItemFacts(
        item=item["item"],
        file=item["file"],
        names=names or [_("not recorded")],
        media_type=str(meta.get("media_type") or ""),
        size=_("%(size)s bytes") % {"size": f"{meta['size']:,}"}
        if isinstance(meta.get("size"), int)
        else "",
        capture_time=_capture_time(facts, _),
        place=_place(facts, _),
        device=device or _("not recorded in the file"),
        sha256=str(meta.get("sha256") or meta.get("file_sha256") or ""),
        sha512=str(meta.get("sha512") or ""),
        acquisitions=acquisitions,
        incidents=list(item.get("incidents", [])),
        annotations=annotations,
        custody=_custody(events, _),
    )


def first_page(
    package: dict[str, Any], items: list[dict[str, Any]], _: Words = as_is
) -> dict[str, str]:
    key = fingerprint(bytes.fromhex(package["public_key"]))
    return {
        "case": package.get("case") or _("items chosen one by one (no case)"),
        "count": str(len(items)),
        "profile": package["profile"],
        "recipient": package.get("recipient") or _("an unnamed recipient"),
        "origin": package["origin"],
        "fingerprint": key,
        "prepared": package["exported_at"],
    }


def verify_steps(fingerprint_text: str, _: Words = as_is) -> list[str]:
    run = _(
        "Run the verifier that ships inside the package, with only Python 3: %(command)s "
        "(or, where Docket is installed: %(check)s)."
    )
    read = _(
        "Read its verdict: it names every problem it finds, and prints the time of the signed "
        "export checkpoint (%(checkpoint)s) and, when a timestamp authority stamped it, "
        "that authority and its time (%(token)s)."
    )
    compare = _(
        "Compare the key fingerprint it prints with the one the sender published "
        "(apart from this package): %(fingerprint)s."
    )
    return [
        run
        % {
            "command": "python3 data/verify_package.py PACKAGE",
            "check": f"docket-check --key {fingerprint_text} PACKAGE",
        },
        read % {"checkpoint": "custody/checkpoint.txt", "token": "custody/checkpoint.tsr"},
        compare % {"fingerprint": fingerprint_text},
    ]


DESCRIBED = ("incident.recorded", "incident.updated")  # the events that describe an incident


def linked_incidents(item_events: list[Event], events: list[Event]) -> list[Incident]:
    """The incidents an item's included events link it to (links later undone left out),
    each as described by its latest recorded or updated event among the package's `events`:
    what the report says of an incident is proven by an event the package carries."""
    undone = {e.details.get("linked_in") for e in item_events if e.action == "incident.unlinked"}
    found = []
    for link in item_events:
        if link.action != "incident.linked" or link.seq in undone:
            continue
        number = link.details.get("incident")
        described = [
            e for e in events if e.action in DESCRIBED and e.details.get("incident") == number
        ]
        if not described or not isinstance(number, int):
            continue
        facts = described[-1].details
        when = " to ".join(str(facts[k]) for k in ("occurred_from", "occurred_to") if facts.get(k))
        found.append(
            Incident(
                number=number,
                title=str(facts.get("title") or ""),
                when=when or "not recorded",
                place=str(facts.get("place") or "not recorded"),
                violations=", ".join(str(v) for v in facts.get("violations") or []),
                linked_in=link.seq,
                described_in=described[-1].seq,
            )
        )
    return found
