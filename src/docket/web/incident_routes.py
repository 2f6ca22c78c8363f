"""Incidents, the case timeline and the violation vocabulary: pages and the same under /api.

Access is decided by docket.access: anyone in the case sees its incidents; owners and
investigators record and revise them; those who may annotate link items and annotations;
only admins change the locker-wide vocabulary.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from docket import access, incidents, timeline
from docket.accounts import User
from docket.catalogue.database import reading
from docket.catalogue.queries import list_items
from docket.catalogue.records import latest_result
from docket.errors import DocketError
from docket.web.guard import (
    TEMPLATES,
    CaseId,
    IncidentId,
    ItemId,
    LinkId,
    LockerDep,
    Person,
    allowed_case,
    check_csrf,
    transaction,
)
from docket.web.offline_map import MapPoint, svg_map

router = APIRouter()


class IncidentBody(BaseModel):
    """An incident as the API takes it; times are ISO 8601 dates or date-times."""

    title: str = Field(min_length=1, max_length=incidents.MAX_TITLE)
    description: str = Field(default="", max_length=incidents.MAX_TEXT)
    occurred_from: str | None = Field(default=None, max_length=40)
    occurred_to: str | None = Field(default=None, max_length=40)
    place: str = Field(default="", max_length=incidents.MAX_TITLE)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    violations: list[str] = Field(default_factory=list, max_length=50)
    actors: list[str] = Field(default_factory=list, max_length=incidents.MAX_ACTORS)

    def incident(self) -> incidents.Incident:
        return incidents.Incident(
            **{
                **self.model_dump(),
                "violations": tuple(self.violations),
                "actors": tuple(self.actors),
            },
        )


class LinkBody(BaseModel):
    item: str = Field(pattern="^[0-9a-f]{64}$")
    annotation: int | None = Field(default=None, ge=1, le=2**62)


class VocabularyBody(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    active: bool = True


class IncidentForm(BaseModel):
    """The incident form of the pages (text fields; actors one per line)."""

    title: str
    description: str = ""
    occurred_from: str = ""
    occurred_to: str = ""
    place: str = ""
    latitude: str = ""
    longitude: str = ""
    violations: list[str] = Field(default_factory=list)
    actors: str = ""
    csrf: str = ""

    def incident(self) -> incidents.Incident:
        try:
            lat = float(self.latitude) if self.latitude.strip() else None
            lon = float(self.longitude) if self.longitude.strip() else None
        except ValueError as exc:
            raise DocketError("latitude and longitude are decimal degrees, e.g. 48.51") from exc
        return incidents.Incident(
            title=self.title,
            description=self.description,
            occurred_from=self.occurred_from.strip() or None,
            occurred_to=self.occurred_to.strip() or None,
            place=self.place,
            latitude=lat,
            longitude=lon,
            violations=tuple(self.violations),
            actors=tuple(a.strip() for a in self.actors.splitlines() if a.strip()),
        )


def _gps(conn: Connection, sha256: str) -> tuple[float, float] | None:
    found = latest_result(conn, sha256, "metadata")
    normalised = {} if found is None else found["data"].get("normalised", {})
    lat, lon = normalised.get("gps_latitude"), normalised.get("gps_longitude")
    return None if lat is None or lon is None else (float(lat), float(lon))


def _incident_view(conn: Connection, user: User, incident_id: int) -> dict[str, Any]:
    case_id = access.require_incident(conn, user, incident_id, "view")
    found = incidents.get(conn, incident_id)
    case_name, role = allowed_case(conn, user, case_id, "view")
    linked = [link["item"] for link in found["links"]]
    names = {row["sha256"]: row["name"] for row in list_items(conn, case_name, only=linked)}
    notes = {}
    for link in found["links"]:
        link["name"] = names.get(link["item"], link["item"][:12])
        if link["annotation"] is not None:
            notes[link["annotation"]] = link["item"]
    points = []
    if found["latitude"] is not None:
        points.append(
            MapPoint(found["latitude"], found["longitude"], found["title"], kind="incident")
        )
    for sha in dict.fromkeys(link["item"] for link in found["links"]):
        position = _gps(conn, sha)
        if position is not None:
            points.append(MapPoint(*position, names.get(sha, sha[:12]), f"/items/{sha}"))
    found.update(case_id=case_id, case_name=case_name, role=role, map=svg_map(points))
    return found


@router.get("/cases/{case_id}/incidents", response_class=HTMLResponse)
def incidents_page(request: Request, case_id: CaseId, who: Person, locker: LockerDep) -> Response:
    with reading(locker.engine) as conn:
        case_name, role = allowed_case(conn, who[0], case_id, "view")
        found = incidents.of_case(conn, case_id)
        vocabulary = incidents.vocabulary(conn)
    points = [
        MapPoint(i["latitude"], i["longitude"], i["title"], f"/incidents/{i['id']}", "incident")
        for i in found
        if i["latitude"] is not None
    ]
    return TEMPLATES.TemplateResponse(
        request,
        "incidents.html",
        {
            "user": who[0],
            "csrf": who[1],
            "case_id": case_id,
            "case_name": case_name,
            "may_record": role in access.ALLOWED["record"],
            "incidents": found,
            "vocabulary": vocabulary,
            "map": svg_map(points),
            "incident": None,
        },
    )


@router.post("/cases/{case_id}/incidents")
def record_page(
    case_id: CaseId,
    who: Person,
    locker: LockerDep,
    form: Annotated[IncidentForm, Form()],
) -> Response:
    check_csrf(who[1], form.csrf)
    incident = form.incident()
    with transaction(locker) as conn:
        access.require_case(conn, who[0], case_id, "record")
        incident_id = incidents.record(conn, who[0].name, case_id, incident)
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(
    request: Request, incident_id: IncidentId, who: Person, locker: LockerDep
) -> Response:
    with reading(locker.engine) as conn:
        found = _incident_view(conn, who[0], incident_id)
        vocabulary = sorted(set(incidents.vocabulary(conn)) | set(found["violations"]))
    return TEMPLATES.TemplateResponse(
        request,
        "incident.html",
        {
            "user": who[0],
            "csrf": who[1],
            "incident": found,
            "vocabulary": vocabulary,
            "may_record": found["role"] in access.ALLOWED["record"],
            "may_annotate": found["role"] in access.ALLOWED["annotate"],
        },
    )


@router.post("/incidents/{incident_id}")
def revise_page(
    incident_id: IncidentId,
    who: Person,
    locker: LockerDep,
    form: Annotated[IncidentForm, Form()],
) -> Response:
    check_csrf(who[1], form.csrf)
    incident = form.incident()
    with transaction(locker) as conn:
        access.require_incident(conn, who[0], incident_id, "record")
        incidents.revise(conn, who[0].name, incident_id, incident)
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


@router.post("/items/{sha256}/incidents")
def link_page(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    incident: Annotated[int, Form(ge=1, le=2**62)],
    annotation: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Link this item (or one of its annotations) to an incident of its case."""
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        access.require_incident(conn, who[0], incident, "annotate")
        incidents.link(conn, who[0].name, incident, sha256, annotation)
    return RedirectResponse(f"/items/{sha256}", status_code=303)


@router.post("/incidents/{incident_id}/links/{link_id}/delete")
def unlink_page(
    incident_id: IncidentId,
    link_id: LinkId,
    who: Person,
    locker: LockerDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        access.require_incident(conn, who[0], incident_id, "annotate")
        incidents.unlink(conn, who[0].name, incident_id, link_id)
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


# The last day of the timeline page before (pages are read by key: docket.timeline).
AfterDay = Annotated[str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]


@router.get("/cases/{case_id}/timeline", response_class=HTMLResponse)
def timeline_page(
    request: Request, case_id: CaseId, who: Person, locker: LockerDep, after: AfterDay = None
) -> Response:
    with reading(locker.engine) as conn:
        case_name, _ = allowed_case(conn, who[0], case_id, "view")
        found = timeline.page(conn, case_id, after)
    return TEMPLATES.TemplateResponse(
        request,
        "timeline.html",
        {
            "user": who[0],
            "csrf": who[1],
            "case_id": case_id,
            "case_name": case_name,
            "timeline": found,
        },
    )


@router.get("/vocabulary", response_class=HTMLResponse)
def vocabulary_page(request: Request, who: Person, locker: LockerDep) -> Response:
    with reading(locker.engine) as conn:
        names = incidents.vocabulary(conn)
    return TEMPLATES.TemplateResponse(
        request, "vocabulary.html", {"user": who[0], "csrf": who[1], "names": names}
    )


def _change_vocabulary(locker: LockerDep, user: User, name: str, active: bool) -> list[str]:
    if not user.is_admin:
        raise access.ForbiddenError("only an admin changes the violation vocabulary")
    with transaction(locker) as conn:
        incidents.change_vocabulary(conn, user.name, name, active)
        return incidents.vocabulary(conn)


@router.post("/vocabulary")
def vocabulary_change_page(
    who: Person,
    locker: LockerDep,
    name: Annotated[str, Form()],
    active: Annotated[bool, Form()] = True,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who[1], csrf)
    _change_vocabulary(locker, who[0], name, active)
    return RedirectResponse("/vocabulary", status_code=303)


@router.get("/api/cases/{case_id}/incidents")
def api_incidents(case_id: CaseId, who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    with reading(locker.engine) as conn:
        allowed_case(conn, who[0], case_id, "view")
        return incidents.of_case(conn, case_id)


@router.post("/api/cases/{case_id}/incidents")
def api_record(
    request: Request, case_id: CaseId, body: IncidentBody, who: Person, locker: LockerDep
) -> dict[str, Any]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    with transaction(locker) as conn:
        access.require_case(conn, who[0], case_id, "record")
        incident_id = incidents.record(conn, who[0].name, case_id, body.incident())
        return incidents.get(conn, incident_id)


@router.get("/api/incidents/{incident_id}")
def api_incident(incident_id: IncidentId, who: Person, locker: LockerDep) -> dict[str, Any]:
    with reading(locker.engine) as conn:
        access.require_incident(conn, who[0], incident_id, "view")
        return incidents.get(conn, incident_id)


@router.put("/api/incidents/{incident_id}")
def api_revise(
    request: Request, incident_id: IncidentId, body: IncidentBody, who: Person, locker: LockerDep
) -> dict[str, Any]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    with transaction(locker) as conn:
        access.require_incident(conn, who[0], incident_id, "record")
        incidents.revise(conn, who[0].name, incident_id, body.incident())
        return incidents.get(conn, incident_id)


@router.post("/api/incidents/{incident_id}/links")
def api_link(
    request: Request, incident_id: IncidentId, body: LinkBody, who: Person, locker: LockerDep
) -> dict[str, Any]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    with transaction(locker) as conn:
        access.require_incident(conn, who[0], incident_id, "annotate")
        incidents.link(conn, who[0].name, incident_id, body.item, body.annotation)
        return incidents.get(conn, incident_id)


@router.delete("/api/incidents/{incident_id}/links/{link_id}")
def api_unlink(
    request: Request, incident_id: IncidentId, link_id: LinkId, who: Person, locker: LockerDep
) -> dict[str, Any]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    with transaction(locker) as conn:
        access.require_incident(conn, who[0], incident_id, "annotate")
        incidents.unlink(conn, who[0].name, incident_id, link_id)
        return incidents.get(conn, incident_id)


@router.get("/api/cases/{case_id}/timeline")
def api_timeline(
    case_id: CaseId, who: Person, locker: LockerDep, after: AfterDay = None
) -> dict[str, Any]:
    """A page of the case's days; `next` is the `after` of the following page."""
    with reading(locker.engine) as conn:
        allowed_case(conn, who[0], case_id, "view")
        return timeline.page(conn, case_id, after).as_dict()


@router.get("/api/violation-types")
def api_vocabulary(who: Person, locker: LockerDep) -> list[str]:
    with reading(locker.engine) as conn:
        return incidents.vocabulary(conn)


@router.post("/api/violation-types")
def api_change_vocabulary(
    request: Request, body: VocabularyBody, who: Person, locker: LockerDep
) -> list[str]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    return _change_vocabulary(locker, who[0], body.name, body.active)
