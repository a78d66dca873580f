"""Referral of incidents to outside agencies.

A dispatcher refers an incident to an agency (`incident_refer`): the incident moves to
`referred` (its reporters hear which agency has it and since when) and a Referral row is
written in the same transaction; a worker then sends it (`referral_send`) by email, or as an
Open311 GeoReport v2 client (POST requests.json, form-encoded; a token is resolved with
GET tokens/{token}.json). Beat polls the agencies' `servicerequestupdates.json` (the
extension FixMyStreet uses: update_id, service_request_id, status, updated_datetime,
description, media_url), or each request's `requests/{id}.json` where an agency lacks the
extension; each answer is recorded once (`referral_answer_record`) as a public
update that flows back to the reporters, and a closed/fixed answer resolves the incident.
An agency late to answer (`answer_due_days` working days of the city's calendar) is chased
once per overdue period (`referrals_chase_due`).

Retries never make two requests at the agency: the worker holds the referral's row lock
while it POSTs, and every POST carries our own `attribute[rasad_reference]`, the same on
every attempt, by which the agency recognises a request it already has.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from incidents.exceptions import ValidationFailed
from incidents.models import (
    Agency,
    Incident,
    IncidentUpdate,
    Photo,
    Referral,
    ReferralAnswer,
    ReferralChase,
    Report,
    Status,
)
from incidents.services.notify import notifications_queue_for_update, task_enqueue
from incidents.services.workflow import incident_note_add, incident_transition

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
HTTP_TIMEOUT_S = 15
# A poll starts this long before the previous one ended: an update the agency stamped late
# is still seen (and one seen twice is recorded once).
POLL_OVERLAP = timedelta(minutes=10)
# Agency statuses (GeoReport v2 `closed`, FixMyStreet's `fixed` states) that mean it is done.
RESOLVING_STATUSES = {"closed", "fixed", "fixed - council", "fixed - user"}


class AgencyUnavailable(Exception):
    """The agency's server or mail could not be reached; try again later."""


class AgencyRefused(Exception):
    """The agency's endpoint refused the request (a 4xx with GeoReport v2 errors)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# -- referring ---------------------------------------------------------------------------

@transaction.atomic
def incident_refer(*, incident: Incident, agency: Agency, by=None, note: str = "",
                   expected_version: int | None = None) -> Referral:
    """Refer the incident to `agency`: status `referred` (recorded and announced like any
    change) and a Referral to send after the commit. Refuses an inactive agency or one with
    no way to reach it (nothing stored)."""
    if not agency.active:
        raise ValidationFailed({"agency": [_("The agency “%(agency)s” is no longer active.")
                                           % {"agency": agency.name_in()}]})
    if not agency.has_contact:
        raise ValidationFailed({"agency": [_("The agency “%(agency)s” has no email address and "
                                             "no Open311 endpoint; add one in the admin before "
                                             "referring incidents to it.")
                                           % {"agency": agency.name_in()}]})
    incident = incident_transition(incident=incident, to=Status.REFERRED, by=by, note=note,
                                   public=True, expected_version=expected_version,
                                   agency=agency)
    # No crew goes to it now: off the routes it was on (crews depends on incidents).
    from crews.services.dispatch import incident_stops_withdraw

    incident_stops_withdraw(incident_id=incident.pk)
    referral = Referral.objects.create(
        incident=incident, agency=agency, by=by, note=(note or "").strip(),
        method=Referral.Method.OPEN311 if agency.uses_open311 else Referral.Method.EMAIL,
        referred_at=incident.referred_at, next_attempt_at=incident.referred_at)
    from incidents.tasks import referral_send_task

    referral_id = referral.pk
    transaction.on_commit(lambda: task_enqueue(referral_send_task, referral_id=referral_id))
    return referral


# -- sending -----------------------------------------------------------------------------

def _public_url(path: str) -> str:
    return path if path.startswith("http") else f"{settings.RASAD_PUBLIC_URL}{path}"


def _photo_urls(incident: Incident) -> list[str]:
    photos = Photo.objects.filter(report__incident=incident, state=Photo.State.READY
                                  ).exclude(image="").order_by("pk")[:10]
    return [_public_url(p.image.url) for p in photos]


def referral_answer_url(referral: Referral) -> str:
    return f"{settings.RASAD_PUBLIC_URL}/api/v1/referrals/answer/{referral.reference}/"


def _descriptions(incident: Incident) -> list[str]:
    # What citizens wrote, never who they are: no names, phones or emails leave the city.
    return [d for d in Report.objects.filter(incident=incident).order_by("created_at")
            .values_list("description", flat=True)[:5] if d]


def _email_body(referral: Referral) -> tuple[str, str]:
    incident, agency = referral.incident, referral.agency
    lon, lat = incident.location.x, incident.location.y
    address = (Report.objects.filter(incident=incident).exclude(address="")
               .values_list("address", flat=True).first() or "")
    subject = _("[%(reference)s] Referral of incident #%(id)s: %(category)s") % {
        "reference": referral.reference, "id": incident.pk,
        "category": incident.category.name_in()}
    lines = [
        _("The city refers this problem to %(agency)s, which is responsible for it.")
        % {"agency": agency.name_in()},
        "",
        _("Incident: #%(id)s, %(category)s, first reported %(date)s.") % {
            "id": incident.pk, "category": incident.category.name_in(),
            "date": timezone.localtime(incident.first_reported_at).strftime("%Y-%m-%d %H:%M")},
        _("Place: %(lat).6f, %(lon)s (https://www.openstreetmap.org/?mlat=%(lat).6f&mlon="
          "%(lon)s#map=18/%(lat).6f/%(lon)s)") % {"lat": lat, "lon": f"{lon:.6f}"},
    ]
    if address:
        lines.append(_("Address: %(address)s") % {"address": address})
    if incident.district_id:
        lines.append(_("District: %(district)s") % {"district": incident.district.name_in()})
    lines.append(_("Reports: %(count)s") % {"count": incident.report_count})
    if referral.note:
        lines += ["", _("Note from the dispatcher: %(note)s") % {"note": referral.note}]
    descriptions = _descriptions(incident)
    if descriptions:
        lines += ["", _("What residents wrote:"), *[f"- {d}" for d in descriptions]]
    photos = _photo_urls(incident)
    if photos:
        lines += ["", _("Photos:"), *photos]
    lines += ["", _("Please answer within %(days)s working days by posting your answer "
                    "(status open or closed, and a description) to %(url)s ; it reaches the "
                    "residents who reported the problem. Replies to this message go to the "
                    "city's %(department)s department.") % {
        "days": agency.answer_due_days, "url": referral_answer_url(referral),
        "department": incident.department.name_in()}]
    return subject, "\n".join(lines)


def _reply_to(referral: Referral) -> list[str]:
    # A person reads replies: the department's address where it has one.
    return [referral.incident.department.email or settings.DEFAULT_FROM_EMAIL]


def _send_email(referral: Referral) -> None:
    with translation.override(settings.LANGUAGE_CODE):
        subject, body = _email_body(referral)
    message = EmailMessage(subject=subject, body=body, to=[referral.agency.email],
                           reply_to=_reply_to(referral),
                           headers={"X-Rasad-Referral": referral.reference,
                                    "Auto-Submitted": "auto-generated"})
    try:
        message.send(fail_silently=False)
    except OSError as exc:
        raise AgencyUnavailable(str(exc)) from exc


def _endpoint(agency: Agency, path: str) -> str:
    return f"{agency.open311_endpoint.rstrip('/')}/{path}"


def _open311_errors(response: httpx.Response) -> str:
    try:
        body = response.json()
        return "; ".join(f"{e.get('code')}: {e.get('description')}" for e in body)
    except (ValueError, TypeError, AttributeError):
        return response.text[:300]


def _open311_call(method: str, url: str, **kwargs) -> list | dict:
    try:
        response = httpx.request(method, url, timeout=HTTP_TIMEOUT_S, **kwargs)
    except httpx.HTTPError as exc:
        raise AgencyUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise AgencyUnavailable(f"HTTP {response.status_code}: {_open311_errors(response)}")
    if response.status_code >= 400:
        raise AgencyRefused(f"HTTP {response.status_code}: {_open311_errors(response)}",
                            status=response.status_code)
    try:
        return response.json()
    except ValueError as exc:
        raise AgencyUnavailable(f"not JSON: {response.text[:200]}") from exc


def _open311_post(referral: Referral) -> None:
    """POST requests.json (GeoReport v2, form-encoded). Sets external_id, or token and
    AWAITING_ID when the agency answers with a token."""
    incident, agency = referral.incident, referral.agency
    description = "\n".join(filter(None, [referral.note, *_descriptions(incident)])) or \
        incident.category.name_en
    data = {
        "service_code": agency.service_code_for(incident.category.code),
        "lat": f"{incident.location.y:.6f}",
        "long": f"{incident.location.x:.6f}",
        "description": description[:4000],
        "attribute[rasad_reference]": referral.reference,
        "attribute[rasad_incident]": str(incident.pk),
    }
    if agency.open311_api_key:
        data["api_key"] = agency.open311_api_key
    if agency.open311_jurisdiction_id:
        data["jurisdiction_id"] = agency.open311_jurisdiction_id
    address = (Report.objects.filter(incident=incident).exclude(address="")
               .values_list("address", flat=True).first())
    if address:
        data["address_string"] = address
    photos = _photo_urls(incident)
    if photos:
        data["media_url"] = photos[0]
    body = _open311_call("POST", _endpoint(agency, "requests.json"), data=data)
    first = body[0] if isinstance(body, list) and body else {}
    if first.get("service_request_id"):
        referral.external_id = str(first["service_request_id"])
        referral.state = Referral.State.SENT
    elif first.get("token"):
        referral.token = str(first["token"])
        referral.state = Referral.State.AWAITING_ID
    else:
        raise AgencyUnavailable(f"no service_request_id or token in {str(body)[:200]}")


def _open311_token(referral: Referral) -> None:
    agency = referral.agency
    params = {"jurisdiction_id": agency.open311_jurisdiction_id} \
        if agency.open311_jurisdiction_id else {}
    body = _open311_call("GET", _endpoint(agency, f"tokens/{referral.token}.json"),
                         params=params)
    for item in body if isinstance(body, list) else []:
        if item.get("service_request_id"):
            referral.external_id = str(item["service_request_id"])
            referral.state = Referral.State.SENT
            return
    raise AgencyUnavailable(_("The agency has not given a request number for token %(token)s "
                              "yet.") % {"token": referral.token})


def referral_send(*, referral_id: int) -> str:
    """Send one due referral (or resolve its token). Holds the row lock while talking to the
    agency, so two workers given the same referral cannot both send it."""
    with transaction.atomic():
        referral = (Referral.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("agency", "incident__category", "incident__district",
                                    "incident__department")
                    .filter(pk=referral_id, state__in=(Referral.State.PENDING,
                                                       Referral.State.AWAITING_ID)).first())
        if referral is None:
            return "skipped"
        incident = referral.incident
        if incident.status != Status.REFERRED or incident.referred_to_id != referral.agency_id:
            # Taken back (or sent elsewhere) before it went out: the agency never hears of it.
            referral.state = Referral.State.FAILED
            referral.last_error = _("Not sent: the incident was no longer with the agency.")
            referral.save(update_fields=["state", "last_error", "updated_at"])
            return "withdrawn"
        referral.attempts += 1
        try:
            if referral.state == Referral.State.AWAITING_ID:
                _open311_token(referral)
            elif referral.method == Referral.Method.OPEN311:
                _open311_post(referral)
            else:
                _send_email(referral)
                referral.state = Referral.State.SENT
        except AgencyUnavailable as exc:
            delay = min(3600, 30 * 2 ** min(referral.attempts, 7))
            referral.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            referral.last_error = str(exc)[:500]
            if referral.attempts >= MAX_ATTEMPTS:
                referral.state = Referral.State.FAILED
                _staff_note(referral, _("The referral to %(agency)s could not be sent: "
                                        "%(error)s") % {"agency": referral.agency.name_in(),
                                                        "error": referral.last_error})
            referral.save(update_fields=["attempts", "next_attempt_at", "last_error", "state",
                                         "token", "updated_at"])
            return "retry"
        except AgencyRefused as exc:
            referral.state = Referral.State.FAILED
            referral.last_error = str(exc)[:500]
            _staff_note(referral, _("%(agency)s refused the referral: %(error)s")
                        % {"agency": referral.agency.name_in(), "error": referral.last_error})
            referral.save(update_fields=["attempts", "state", "last_error", "updated_at"])
            return "failed"
        if referral.state == Referral.State.SENT:
            referral.sent_at = referral.sent_at or timezone.now()
        else:  # a token: ask for the request number in a minute
            referral.next_attempt_at = timezone.now() + timedelta(seconds=60)
        referral.last_error = ""
        referral.save(update_fields=["attempts", "state", "external_id", "token", "sent_at",
                                     "next_attempt_at", "last_error", "updated_at"])
        return referral.state


def _staff_note(referral: Referral, text: str) -> IncidentUpdate:
    return IncidentUpdate.objects.create(incident_id=referral.incident_id, note=text,
                                         public=False)


def referrals_due_ids(*, limit: int = 200) -> list[int]:
    """Referrals to send now: new ones a lost task missed, retries, tokens to resolve."""
    return list(Referral.objects.filter(
        state__in=(Referral.State.PENDING, Referral.State.AWAITING_ID),
        next_attempt_at__lte=timezone.now()).order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit])


# -- answers -----------------------------------------------------------------------------

def _status_text(status: str) -> str:
    return status.replace("_", " ").lower()


@transaction.atomic
def referral_answer_record(*, referral: Referral, external_update_id: str, status: str,
                           description: str, answered_at: datetime,
                           media_url: str = "") -> ReferralAnswer | None:
    """Record one answer of the agency, once (None when it was already recorded). It becomes
    a public update on the incident that goes to every reporter; `closed`/`fixed` resolves a
    still referred incident. An answer after the city took the incident back is kept as an
    internal note."""
    status = (status or "").strip().lower()
    answer, created = ReferralAnswer.objects.get_or_create(
        referral=referral, external_update_id=str(external_update_id)[:200],
        defaults={"status": status[:40], "description": (description or "").strip(),
                  "media_url": (media_url or "")[:1000], "answered_at": answered_at})
    if not created:
        return None
    referral = Referral.objects.select_for_update(of=("self",)).select_related(
        "agency").get(pk=referral.pk)
    incident = Incident.objects.get(pk=referral.incident_id)
    agency_name = referral.agency.name_in()
    text = answer.description or _("%(agency)s set the request to “%(status)s”.") % {
        "agency": agency_name, "status": _status_text(status)}
    if answer.media_url:
        text = f"{text}\n{answer.media_url}"
    current_referral = (incident.status == Status.REFERRED
                        and incident.referred_to_id == referral.agency_id)
    if current_referral and status in RESOLVING_STATUSES:
        incident = incident_transition(incident=incident, to=Status.RESOLVED, note=text,
                                       public=True)
        update = incident.updates.order_by("-pk").first()
    else:
        update = incident_note_add(incident=incident, by=None, note=text,
                                   public=current_referral)
        if current_referral:
            notifications_queue_for_update(incident=incident, update=update)
    answer.update = update
    answer.save(update_fields=["update"])
    if referral.answered_at is None:
        referral.answered_at = timezone.now()
    referral.state = Referral.State.ANSWERED
    referral.save(update_fields=["answered_at", "state", "updated_at"])
    return answer


def _parse_time(value) -> datetime:
    parsed = parse_datetime(str(value or ""))
    if parsed is None:
        return timezone.now()
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def agency_updates_poll(*, agency: Agency, now: datetime | None = None) -> int:
    """GET the agency's servicerequestupdates.json since the last poll and record the answers
    to our referrals still with it. Returns how many new answers were recorded."""
    now = now or timezone.now()
    referrals = {r.external_id: r for r in Referral.objects.filter(
        agency=agency, incident__status=Status.REFERRED,
        state__in=(Referral.State.SENT, Referral.State.ANSWERED)).exclude(external_id="")}
    if not referrals:
        return 0
    start = agency.updates_polled_until or min(r.referred_at for r in referrals.values())
    params = {"start_date": (start - POLL_OVERLAP).isoformat(timespec="seconds"),
              "end_date": now.isoformat(timespec="seconds")}
    if agency.open311_api_key:
        params["api_key"] = agency.open311_api_key
    if agency.open311_jurisdiction_id:
        params["jurisdiction_id"] = agency.open311_jurisdiction_id
    try:
        body = _open311_call("GET", _endpoint(agency, "servicerequestupdates.json"),
                             params=params)
    except AgencyRefused as exc:
        if exc.status != 404:
            raise
        # No servicerequestupdates extension: read each request (GET requests/{id}.json).
        body = _requests_as_updates(agency, list(referrals))
    items = body.get("service_request_updates", []) if isinstance(body, dict) else body
    recorded = 0
    for item in sorted(items, key=lambda i: str(i.get("updated_datetime") or "")):
        referral = referrals.get(str(item.get("service_request_id")))
        if referral is None or item.get("update_id") in (None, ""):
            continue
        answer = referral_answer_record(
            referral=referral, external_update_id=str(item["update_id"]),
            status=str(item.get("status") or ""), description=str(item.get("description") or ""),
            media_url=str(item.get("media_url") or ""),
            answered_at=_parse_time(item.get("updated_datetime")))
        recorded += answer is not None
    Agency.objects.filter(pk=agency.pk).update(updates_polled_until=now)
    return recorded


def _requests_as_updates(agency: Agency, request_ids: list[str]) -> list[dict]:
    """The plain GeoReport v2 way: each request's status and status_notes, as updates whose
    id is their content, so an unchanged request is recorded once."""
    params = {"jurisdiction_id": agency.open311_jurisdiction_id} \
        if agency.open311_jurisdiction_id else {}
    updates = []
    for request_id in request_ids[:200]:
        body = _open311_call("GET", _endpoint(agency, f"requests/{request_id}.json"),
                             params=params)
        for item in body if isinstance(body, list) else []:
            status, notes = str(item.get("status") or ""), str(item.get("status_notes") or "")
            if status.lower() != "closed" and not notes:
                continue  # nothing said yet
            # hashlib, not hash(): the same in every worker process.
            digest = hashlib.sha256(f"{status}\n{notes}".encode()).hexdigest()[:16]
            updates.append({"update_id": f"request:{item.get('updated_datetime')}:{digest}",
                            "service_request_id": request_id, "status": status,
                            "description": notes,
                            "updated_datetime": item.get("updated_datetime"),
                            "media_url": item.get("media_url") or ""})
    return updates


def agencies_poll(*, now: datetime | None = None) -> dict[str, int]:
    """Poll every Open311 agency that has referrals waiting; one agency down does not stop
    the others."""
    results = {}
    for agency in Agency.objects.filter(active=True).exclude(open311_endpoint=""):
        try:
            results[agency.code] = agency_updates_poll(agency=agency, now=now)
        except (AgencyUnavailable, AgencyRefused) as exc:
            logger.warning("polling %s failed: %s", agency.code, exc)
            results[agency.code] = -1
    return results


# -- overdue and chasing -----------------------------------------------------------------

@dataclass(frozen=True)
class Lateness:
    due_at: datetime | None
    overdue: bool
    periods: int  # whole answer periods passed without an answer


def _calendar(incident: Incident, calendars: dict | None = None):
    """The incident's area's work calendar, laid out; `calendars` caches them by area."""
    from incidents.stats.calendar import business_days_ensure, calendar_for

    calendars = {} if calendars is None else calendars
    if incident.area_id not in calendars:
        try:
            calendars[incident.area_id] = business_days_ensure(area=incident.area)
        except IntegrityError:
            # Another request laid the calendar out at the same moment (its first use).
            calendars[incident.area_id] = calendar_for(incident.area)
    return calendars[incident.area_id]


def referral_lateness(referral: Referral, *, now: datetime | None = None,
                      calendars: dict | None = None) -> Lateness:
    """How late the agency is: the answer is due `answer_due_days` working days (of the
    city's calendar) after the referral; a referral answered, or no longer with the agency,
    is never late. One query (and the calendar, cached in `calendars` by area)."""
    now = now or timezone.now()
    incident = referral.incident
    calendar = _calendar(incident, calendars)
    day_s = int((datetime.combine(now.date(), calendar.day_ends)
                 - datetime.combine(now.date(), calendar.day_starts)).total_seconds())
    budget = referral.agency.answer_due_days * day_s
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rasad_working_seconds_at(%(c)s, %(tz)s, %(now)s) - s.at, "
            "rasad_working_moment(%(c)s, s.at + %(budget)s) "
            "FROM (SELECT rasad_working_seconds_at(%(c)s, %(tz)s, %(start)s) AS at) s",
            {"c": calendar.pk, "tz": calendar.timezone, "now": now,
             "start": referral.referred_at, "budget": budget})
        elapsed, due_at = cursor.fetchone()
    waiting = (referral.answered_at is None and incident.status == Status.REFERRED
               and incident.referred_to_id == referral.agency_id
               and referral.state in (Referral.State.SENT, Referral.State.AWAITING_ID))
    periods = int(elapsed or 0) // budget if waiting and budget else 0
    return Lateness(due_at=due_at, overdue=periods >= 1, periods=periods)


def _chase_email(referral: Referral, period: int) -> EmailMessage:
    with translation.override(settings.LANGUAGE_CODE):
        subject, body = _email_body(referral)
        subject = _("Reminder %(n)s: %(subject)s") % {"n": period, "subject": subject}
        body = _("We have had no answer to this referral, sent on %(date)s, after %(days)s "
                 "working days. Please tell us where it stands.") % {
            "date": timezone.localtime(referral.referred_at).strftime("%Y-%m-%d"),
            "days": referral.agency.answer_due_days * period} + "\n\n" + body
    return EmailMessage(subject=subject, body=body, to=[referral.agency.email],
                        reply_to=_reply_to(referral),
                        headers={"X-Rasad-Referral": referral.reference,
                                 "Auto-Submitted": "auto-generated"})


@transaction.atomic
def referral_chase(*, referral: Referral, period: int) -> ReferralChase | None:
    """Chase the agency for overdue period `period`, once: an internal note for the
    dispatchers and, where the agency has an email address, a reminder after the commit."""
    chase, created = ReferralChase.objects.get_or_create(
        referral=referral, period=period, defaults={"emailed": bool(referral.agency.email)})
    if not created:
        return None
    _staff_note(referral, _("No answer from %(agency)s after %(days)s working days: reminder "
                            "%(n)s sent.") % {"agency": referral.agency.name_in(),
                                              "days": referral.agency.answer_due_days * period,
                                              "n": period})
    if referral.agency.email:
        message = _chase_email(referral, period)

        def send() -> None:
            try:
                message.send(fail_silently=False)
            except OSError:
                logger.warning("reminder for referral %s not sent", referral.pk, exc_info=True)

        transaction.on_commit(send)
    return chase


def referrals_waiting():
    return (Referral.objects.filter(
        state__in=(Referral.State.SENT, Referral.State.AWAITING_ID), answered_at__isnull=True,
        incident__status=Status.REFERRED)
        .select_related("agency", "incident__area", "incident__category",
                        "incident__department"))


def referrals_chase_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Chase every agency whose answer is overdue, once per overdue period."""
    now = now or timezone.now()
    chased, calendars = 0, {}
    for referral in referrals_waiting().order_by("referred_at")[:limit]:
        if referral.incident.referred_to_id != referral.agency_id:
            continue
        lateness = referral_lateness(referral, now=now, calendars=calendars)
        if lateness.overdue:
            chased += referral_chase(referral=referral, period=lateness.periods) is not None
    return chased
