"""The incident state machine, merge and split. Every status change goes through
`incident_transition` or the merge/split services here, and each one is recorded."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.events import event_publish_on_commit
from incidents.exceptions import Conflict, InvalidTransition, ValidationFailed
from incidents.models import (
    CLUSTERABLE_STATUSES,
    OPEN_STATUSES,
    Incident,
    IncidentUpdate,
    Report,
    Status,
)
from incidents.priority import priority_score

logger = logging.getLogger(__name__)
S = Status
ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.NEW: (S.VERIFIED, S.REJECTED, S.MERGED, S.REFERRED),
    S.VERIFIED: (S.ASSIGNED, S.REJECTED, S.MERGED, S.REFERRED),
    S.ASSIGNED: (S.EN_ROUTE, S.ON_SITE, S.VERIFIED, S.REFERRED),
    S.EN_ROUTE: (S.ON_SITE, S.ASSIGNED, S.VERIFIED),
    # on_site → verified is "cannot fix": back to dispatch, e.g. other equipment needed.
    S.ON_SITE: (S.RESOLVED, S.VERIFIED),
    S.RESOLVED: (S.CLOSED, S.REOPENED),
    S.CLOSED: (S.REOPENED,),
    S.REOPENED: (S.VERIFIED, S.ASSIGNED, S.REJECTED, S.MERGED, S.REFERRED),
    S.REJECTED: (S.VERIFIED,),
    S.MERGED: (),
    # Referred to an outside agency (incidents.services.referrals, which needs the agency):
    # their fix resolves it; the city takes it back (verified) or drops it with a reason.
    S.REFERRED: (S.RESOLVED, S.CLOSED, S.REJECTED, S.VERIFIED),
}
# Moves that must say why: the reporter and the next dispatcher need the reason.
REASON_REQUIRED = {(S.NEW, S.REJECTED), (S.VERIFIED, S.REJECTED), (S.REOPENED, S.REJECTED),
                   (S.ON_SITE, S.VERIFIED), (S.RESOLVED, S.REOPENED), (S.CLOSED, S.REOPENED),
                   (S.REFERRED, S.VERIFIED), (S.REFERRED, S.REJECTED), (S.REFERRED, S.CLOSED)}


# An incident this urgent, once verified, re-plans the crews on shift that could take it.
URGENT_PRIORITY = 70.0


def _send_task(name: str, **kwargs) -> None:
    from celery import current_app

    try:
        current_app.send_task(name, kwargs=kwargs)
    except Exception:
        logger.warning("task %s not queued", name, exc_info=True)


def allowed_transitions(status: str) -> list[str]:
    return [s for s in ALLOWED_TRANSITIONS.get(status, ()) if s != S.MERGED]


def _lock(incident_id: int) -> Incident:
    # of=self: the joined category row must not be locked, or every change in a category
    # would wait for every other.
    return (Incident.objects.select_for_update(of=("self",)).select_related("category")
            .get(pk=incident_id))


def _mirror_reports(incident: Incident) -> None:
    Report.objects.filter(incident=incident).exclude(status=incident.status).update(
        status=incident.status, updated_at=timezone.now())


def _after_status_change(incident: Incident, update: IncidentUpdate) -> None:
    """Side effects of a status change, all scheduled for after the commit."""
    event_publish_on_commit(kind="incident.status", incident_id=incident.pk,
                            status=incident.status, version=incident.version,
                            lon=incident.location.x, lat=incident.location.y,
                            category=incident.category.code, priority=incident.priority,
                            update_id=update.pk)
    from incidents.services.notify import notifications_queue_for_update
    from incidents.services.survey import surveys_cancel_unsent, surveys_schedule

    notifications_queue_for_update(incident=incident, update=update)
    # Reporters are asked how it went some hours after it is resolved; not if reopened.
    if incident.status == S.RESOLVED:
        surveys_schedule(incident=incident)
    elif incident.status == S.REOPENED:
        surveys_cancel_unsent(incident=incident)
    if incident.status in (S.VERIFIED, S.REOPENED) and incident.priority >= URGENT_PRIORITY:
        # Crews on shift are re-planned around urgent work (crews.tasks). By name: incidents
        # does not import crews.
        incident_id = incident.pk
        transaction.on_commit(lambda: _send_task("crews.tasks.dispatch_urgent_task",
                                                 incident_id=incident_id))


@transaction.atomic
def incident_transition(*, incident: Incident, to: str, by=None, note: str = "",
                        public: bool = True, expected_version: int | None = None,
                        agency=None) -> Incident:
    """Move an incident to `to`, recording who, when, from, to and why.

    Locks the incident row. Refuses moves not in ALLOWED_TRANSITIONS (InvalidTransition,
    409), a stale `expected_version` (Conflict), and merges (use incident_merge). A move to
    `referred` needs the `agency` (use incidents.services.referrals.incident_refer).
    """
    if to not in S.values:
        raise ValidationFailed({"to": [_("“%(to)s” is not a status.") % {"to": to}]})
    current = _lock(incident.pk)
    if expected_version is not None and expected_version != current.version:
        raise Conflict(_("The incident changed since you loaded it (now version %(v)s, status "
                         "“%(s)s”). Reload and try again.") % {"v": current.version,
                                                               "s": current.status})
    if to == S.MERGED:
        raise InvalidTransition(current.status, to, allowed_transitions(current.status))
    if to not in ALLOWED_TRANSITIONS[current.status]:
        raise InvalidTransition(current.status, to, allowed_transitions(current.status))
    if to == S.REFERRED and agency is None:
        raise ValidationFailed({"agency": [_("Choose the outside agency to refer the incident "
                                             "to (the refer action).")]})
    note = (note or "").strip()
    if (current.status, to) in REASON_REQUIRED and not note:
        raise ValidationFailed({"note": [_("Say why: a reason is required to move from "
                                           "“%(from)s” to “%(to)s”.")
                                         % {"from": current.status, "to": to}]})
    update = IncidentUpdate.objects.create(incident=current, from_status=current.status,
                                           to_status=to, by=by, note=note, public=public)
    now = timezone.now()
    fields = ["status", "version", "updated_at"]
    if to == S.VERIFIED and current.verified_at is None:
        current.verified_at = now
        fields.append("verified_at")
    if to == S.REFERRED:
        current.referred_to = agency
        current.referred_at = now
        fields += ["referred_to", "referred_at"]
    if to == S.RESOLVED:
        current.resolved_at = now
        fields.append("resolved_at")
    if to == S.CLOSED:
        current.closed_at = now
        fields.append("closed_at")
    if to == S.REOPENED:
        current.resolved_at = None
        current.closed_at = None
        current.priority = priority_score(
            severity=current.severity, report_count=current.report_count,
            first_reported_at=current.first_reported_at, sla_hours=current.category.sla_hours,
            now=now, reopened=True)
        fields += ["resolved_at", "closed_at", "priority"]
    if to == S.REJECTED:
        Report.objects.filter(incident=current).update(rejected_reason=note)
    elif current.status == S.REJECTED:
        # No longer rejected: the reason stays in the timeline, not on the live reports.
        Report.objects.filter(incident=current).update(rejected_reason="")
    current.status = to
    current.version += 1
    current.save(update_fields=fields)
    _mirror_reports(current)
    _after_status_change(current, update)
    return current


# Moves whose only side fields are the status, version and verified_at.
BULK_TARGETS = {S.VERIFIED, S.ASSIGNED, S.EN_ROUTE, S.ON_SITE}


@dataclass(frozen=True)
class Move:
    incident_id: int
    to: str
    note: str = ""
    public: bool = True
    expected_version: int | None = None


@transaction.atomic
def incidents_transition_bulk(*, moves: list[Move], by=None) -> list[Incident]:
    """Many status changes in one transaction, with the same rules and records as
    `incident_transition` (one IncidentUpdate per incident, reports mirrored, reporters'
    messages queued, live events), in a handful of queries instead of a dozen per incident.

    Rows are locked in id order; any refused move (stale version, illegal move, missing
    reason) refuses them all. Does not trigger the urgent re-plan: the caller is a plan.
    """
    if not moves:
        return []
    special = [m for m in moves if m.to not in BULK_TARGETS]
    if special:
        raise ValueError(f"bulk moves go to {sorted(BULK_TARGETS)} only, not {special[0].to}")
    by_id = {m.incident_id: m for m in moves}
    incidents = list(Incident.objects.select_for_update(of=("self",))
                     .select_related("category").filter(pk__in=list(by_id)).order_by("pk"))
    now = timezone.now()
    updates = []
    for incident in incidents:
        move = by_id[incident.pk]
        if move.expected_version is not None and move.expected_version != incident.version:
            raise Conflict(_("Incident #%(id)s changed meanwhile (now version %(v)s, status "
                             "“%(s)s”).") % {"id": incident.pk, "v": incident.version,
                                             "s": incident.status})
        if move.to == S.MERGED or move.to not in ALLOWED_TRANSITIONS[incident.status]:
            raise InvalidTransition(incident.status, move.to,
                                    allowed_transitions(incident.status))
        if (incident.status, move.to) in REASON_REQUIRED and not move.note.strip():
            raise ValidationFailed({"note": [_("Say why: a reason is required to move from "
                                               "“%(from)s” to “%(to)s”.")
                                             % {"from": incident.status, "to": move.to}]})
        updates.append(IncidentUpdate(incident=incident, from_status=incident.status,
                                      to_status=move.to, by=by, note=move.note.strip(),
                                      public=move.public))
        if move.to == S.VERIFIED and incident.verified_at is None:
            incident.verified_at = now
        incident.status = move.to
        incident.version += 1
        incident.updated_at = now
    IncidentUpdate.objects.bulk_create(updates)
    Incident.objects.bulk_update(incidents, ["status", "version", "verified_at", "updated_at"])
    for status in {i.status for i in incidents}:
        Report.objects.filter(incident__in=[i.pk for i in incidents if i.status == status]
                              ).update(status=status, updated_at=now)
    for incident, update in zip(incidents, updates, strict=True):
        event_publish_on_commit(kind="incident.status", incident_id=incident.pk,
                                status=incident.status, version=incident.version,
                                lon=incident.location.x, lat=incident.location.y,
                                category=incident.category.code, priority=incident.priority,
                                update_id=update.pk)
    from incidents.services.notify import notifications_queue_for_updates

    notifications_queue_for_updates(pairs=list(zip(incidents, updates, strict=True)))
    return incidents


@transaction.atomic
def incident_note_add(*, incident: Incident, by, note: str, public: bool) -> IncidentUpdate:
    note = (note or "").strip()
    if not note:
        raise ValidationFailed({"note": [_("The note is empty.")]})
    current = _lock(incident.pk)
    current.version += 1
    current.save(update_fields=["version", "updated_at"])
    return IncidentUpdate.objects.create(incident=current, from_status="", to_status="", by=by,
                                         note=note, public=public)


def incident_refresh_from_reports(incident: Incident) -> Incident:
    """Recompute location (mean of report points), counts and priority from the reports."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Collect(location::geometry)) c "
            "FROM incidents_report WHERE incident_id = %s) t",
            [incident.pk],
        )
        lon, lat = cursor.fetchone()
    stats = Report.objects.filter(incident=incident).aggregate(
        n=Count("pk"), first=Min("created_at"), last=Max("created_at"))
    incident.location = Point(lon, lat, srid=4326)
    incident.report_count = stats["n"]
    incident.first_reported_at = stats["first"]
    incident.last_reported_at = stats["last"]
    # The SLA runs from the first report (as at intake), which a merge or split may change.
    incident.sla_due_at = stats["first"] + timedelta(hours=incident.category.sla_hours)
    incident.priority = priority_score(
        severity=incident.severity, report_count=stats["n"],
        first_reported_at=stats["first"], sla_hours=incident.category.sla_hours,
        now=timezone.now(), reopened=incident.status == S.REOPENED)
    incident.version += 1
    incident.save(update_fields=["location", "report_count", "first_reported_at",
                                 "last_reported_at", "sla_due_at", "priority", "version",
                                 "updated_at"])
    return incident


@transaction.atomic
def incident_merge(*, source: Incident, target: Incident, by=None, note: str = "") -> Incident:
    """Move every report of `source` into `target`; `source` becomes `merged` for good.

    Locks both rows in id order so two opposite merges cannot deadlock.
    """
    if source.pk == target.pk:
        raise ValidationFailed({"target": [_("An incident cannot be merged into itself.")]})
    first, second = sorted([source.pk, target.pk])
    locked = {first: _lock(first), second: _lock(second)}
    source, target = locked[source.pk], locked[target.pk]
    for incident in (source, target):
        if incident.status not in OPEN_STATUSES:
            raise Conflict(_("Incident #%(id)s is %(status)s; only open incidents can be merged.")
                           % {"id": incident.pk, "status": incident.status})
    if source.status not in CLUSTERABLE_STATUSES:
        # A crew has it on a route: merging it away would leave the crew a dead stop.
        raise Conflict(_("Incident #%(id)s is %(status)s, on a crew's route; merge the other "
                         "incident into it instead.") % {"id": source.pk, "status": source.status})
    if source.category_id != target.category_id:
        raise ValidationFailed({"target": [_("Only incidents of the same category can be "
                                             "merged (#%(a)s is %(ca)s, #%(b)s is %(cb)s).")
                                           % {"a": source.pk, "ca": source.category.code,
                                              "b": target.pk, "cb": target.category.code}]})
    now = timezone.now()
    Report.objects.filter(incident=source).update(incident=target, status=target.status,
                                                  updated_at=now)
    text = note or _("Merged into #%(id)s") % {"id": target.pk}
    update = IncidentUpdate.objects.create(incident=source, from_status=source.status,
                                           to_status=S.MERGED, by=by, note=text, public=True)
    source.status = S.MERGED
    source.merged_into = target
    source.report_count = 0
    source.version += 1
    source.save(update_fields=["status", "merged_into", "report_count", "version", "updated_at"])
    IncidentUpdate.objects.create(incident=target, by=by, public=False,
                                  note=_("Merged #%(id)s into this incident.") % {"id": source.pk})
    incident_refresh_from_reports(target)
    _after_status_change(source, update)
    event_publish_on_commit(kind="incident.updated", incident_id=target.pk,
                            status=target.status, lon=target.location.x,
                            lat=target.location.y, category=target.category.code,
                            report_count=target.report_count, priority=target.priority)
    return target


@transaction.atomic
def incident_split(*, incident: Incident, report_ids: list[int], by=None,
                   note: str = "") -> Incident:
    """Move the given reports out into a new incident of the same category; return it."""
    current = _lock(incident.pk)
    if current.status not in OPEN_STATUSES:
        raise Conflict(_("Incident #%(id)s is %(status)s; only open incidents can be split.")
                       % {"id": current.pk, "status": current.status})
    wanted = set(report_ids)
    if not wanted:
        raise ValidationFailed({"report_ids": [_("Choose at least one report to split off.")]})
    mine = set(Report.objects.filter(incident=current).values_list("pk", flat=True))
    stray = sorted(wanted - mine)
    if stray:
        raise ValidationFailed({"report_ids": [_("Reports %(ids)s are not in incident #%(id)s.")
                                               % {"ids": ", ".join(map(str, stray)),
                                                  "id": current.pk}]})
    if wanted == mine:
        raise ValidationFailed({"report_ids": [_("Leave at least one report in the incident; "
                                                 "a split needs reports on both sides.")]})
    now = timezone.now()
    status = S.NEW if current.status == S.NEW else S.VERIFIED
    first_report = Report.objects.filter(pk__in=wanted).order_by("created_at").first()
    new = Incident.objects.create(
        category=current.category, area=current.area, district=first_report.district,
        department=first_report.department, location=first_report.location, status=status,
        severity=current.severity, report_count=len(wanted),
        first_reported_at=first_report.created_at, last_reported_at=now,
        sla_due_at=current.sla_due_at, verified_at=now if status == S.VERIFIED else None,
    )
    Report.objects.filter(pk__in=wanted).update(incident=new, status=status, updated_at=now)
    IncidentUpdate.objects.create(incident=new, from_status="", to_status=status, by=by,
                                  public=True,
                                  note=note or _("Split from #%(id)s") % {"id": current.pk})
    IncidentUpdate.objects.create(incident=current, by=by, public=False,
                                  note=_("Reports %(ids)s split off into #%(new)s.")
                                  % {"ids": ", ".join(map(str, sorted(wanted))), "new": new.pk})
    incident_refresh_from_reports(current)
    incident_refresh_from_reports(new)
    for changed in (current, new):
        event_publish_on_commit(kind="incident.updated", incident_id=changed.pk,
                                status=changed.status, lon=changed.location.x,
                                lat=changed.location.y, category=changed.category.code,
                                report_count=changed.report_count, priority=changed.priority)
    return new
