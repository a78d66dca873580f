"""Area alerts and notices: subscriptions (double opt-in, tokenised unsubscribe), the alerts
of new and resolved incidents (at once or in a daily digest) and the fan-out of notices.

Everything goes out through the outbox (Notification) on the subscriber's ChannelContact, so
STOP, blocking, retries and WhatsApp templates work as for status messages. Each outbox row
of this module has a dedupe_key, which the table keeps unique: running a sweep or a fan-out
again (a redelivered task, two workers at once) never writes a second message.

Where an incident is: a point is in a district or a drawn area when the area *covers* it
(ST_Covers), so a point exactly on the border of two districts alerts the subscribers of
both; ST_Contains would alert neither, and a border street concerns both sides."""

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon, Point, Polygon
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from gis.models import ServiceArea
from incidents.exceptions import Expired, NotFound, ValidationFailed
from incidents.models import (
    AlertSubscription,
    Category,
    ChannelContact,
    Notice,
    Notification,
    Report,
)

logger = logging.getLogger(__name__)

LANGUAGES = ("ar", "fa", "en")
RADIUS_MIN_M, RADIUS_MAX_M = 50, 5000
SEND_BATCH = 500
# How far back the alert sweep looks: a beat outage shorter than this loses no alert.
ALERT_LOOKBACK = timedelta(hours=2)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed({field: [message]})


def _public_url(path: str) -> str:
    return f"{settings.RASAD_PUBLIC_URL}{path}"


def manage_url(subscription: AlertSubscription) -> str:
    return _public_url(f"/alerts/manage/{subscription.token}/")


def confirm_url(subscription: AlertSubscription) -> str:
    return _public_url(f"/alerts/confirm/{subscription.token}/")


# Subscriptions -------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionInput:
    scope: str
    language: str = "en"
    frequency: str = AlertSubscription.Frequency.IMMEDIATE
    email: str = ""
    tracking_code: str = ""
    district_code: str = ""
    area_geojson: dict | None = None
    lon: float | None = None
    lat: float | None = None
    radius_m: float | None = None
    category_codes: tuple[str, ...] = ()
    city_slug: str = ""


def _service_area(slug: str) -> ServiceArea:
    areas = ServiceArea.objects.order_by("pk")
    area = areas.filter(slug=slug).first() if slug else areas.first()
    if area is None:
        raise _invalid("city", _("Unknown city."))
    return area


def _drawn_area(data: SubscriptionInput, city: ServiceArea) -> MultiPolygon:
    """The subscription's polygon: drawn, or a point's radius (clipped to the city)."""
    if data.area_geojson is not None:
        try:
            geom = GEOSGeometry(json.dumps(data.area_geojson), srid=4326)
        except (GEOSException, ValueError, TypeError):
            raise _invalid("area", _("The area must be a GeoJSON Polygon.")) from None
        if isinstance(geom, Polygon):
            geom = MultiPolygon(geom, srid=4326)
        if not isinstance(geom, MultiPolygon) or geom.empty:
            raise _invalid("area", _("The area must be a GeoJSON Polygon."))
        if not geom.valid:
            raise _invalid("area", _("The area's outline crosses itself; draw it again."))
        if not city.boundary.covers(geom):
            raise _invalid("area", _("The area must lie inside the city."))
        return geom
    if data.lon is None or data.lat is None or data.radius_m is None:
        raise _invalid("area", _("Draw an area, or give a point and a radius."))
    if not RADIUS_MIN_M <= data.radius_m <= RADIUS_MAX_M:
        raise _invalid("radius_m", _("The radius must be between %(min)s and %(max)s metres.")
                       % {"min": RADIUS_MIN_M, "max": RADIUS_MAX_M})
    point = Point(data.lon, data.lat, srid=4326)
    if not city.boundary.covers(point):
        raise _invalid("area", _("The point must lie inside the city."))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_AsEWKT(ST_Multi(ST_Intersection(ST_Transform(ST_Buffer("
            "ST_Transform(%s::geometry, %s), %s, 32), 4326), %s::geometry)))",
            [point.ewkt, city.projection_srid, data.radius_m, city.boundary.ewkt])
        return GEOSGeometry(cursor.fetchone()[0])


def _contact_for(data: SubscriptionInput) -> ChannelContact:
    """The subscriber: an email address, or the contact a report came from (its channel)."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from incidents import selectors
    from incidents.services.notify import _contacts_for

    if data.email:
        email = data.email.strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise _invalid("email", _("Enter a valid email address.")) from None
        contact, _created = ChannelContact.objects.get_or_create(provider="email",
                                                                 external_id=email)
    elif data.tracking_code:
        report = selectors.report_get_by_tracking_code(data.tracking_code)
        report = Report.objects.filter(pk=report.pk).first() if report else None
        contact = _contacts_for([report]).get(report.pk) if report else None
        if contact is None:
            raise _invalid("tracking_code", _("No report with a contact has this tracking "
                                              "code."))
    else:
        raise _invalid("email", _("Give an email address, or the tracking code of your "
                                  "report to hear on the channel you reported on."))
    if contact.blocked or contact.opted_out_at is not None:
        raise _invalid("contact", _("This contact asked us to send nothing (STOP). Send START "
                                    "on that channel first."))
    return contact


@transaction.atomic
def alert_subscription_create(*, data: SubscriptionInput, user=None) -> AlertSubscription:
    """Check everything, then store a pending subscription and queue its confirmation link
    on the subscriber's channel. Nothing is stored when any input is wrong."""
    if data.language not in LANGUAGES:
        raise _invalid("language", _("Unknown language."))
    if data.frequency not in AlertSubscription.Frequency.values:
        raise _invalid("frequency", _("Choose immediately or a daily digest."))
    if data.scope not in AlertSubscription.Scope.values:
        raise _invalid("scope", _("Choose a district, an area or the whole city."))
    city = _service_area(data.city_slug)
    district, area = None, None
    if data.scope == AlertSubscription.Scope.DISTRICT:
        district = city.districts.filter(code=data.district_code).first()
        if district is None:
            raise _invalid("district", _("Unknown district “%(code)s”.")
                           % {"code": data.district_code})
    elif data.scope == AlertSubscription.Scope.AREA:
        area = _drawn_area(data, city)
    codes = sorted(set(data.category_codes))
    categories = list(Category.objects.filter(code__in=codes))
    unknown = sorted(set(codes) - {c.code for c in categories})
    if unknown:
        raise _invalid("categories", _("Unknown category: %(codes)s.")
                       % {"codes": ", ".join(unknown)})
    contact = _contact_for(data)
    subscription = AlertSubscription.objects.create(
        contact=contact, user=user if user is not None and user.is_authenticated else None,
        service_area=city, scope=data.scope, district=district, area=area,
        frequency=data.frequency, language=data.language, token=secrets.token_urlsafe(32))
    subscription.categories.set(categories)
    _confirmation_queue(subscription)
    return subscription


def _scope_label(subscription: AlertSubscription) -> str:
    if subscription.scope == AlertSubscription.Scope.DISTRICT:
        return subscription.district.name_in(subscription.language)
    if subscription.scope == AlertSubscription.Scope.AREA:
        return _("the area you drew")
    return subscription.service_area.name_in(subscription.language)


def _confirmation_queue(subscription: AlertSubscription) -> None:
    with translation.override(subscription.language):
        scope = _scope_label(subscription)
        subject = _("Confirm your alerts for %(scope)s") % {"scope": scope}
        body = _("Someone (we hope you) asked for alerts about %(scope)s. To confirm, open: "
                 "%(url)s\nIf it was not you, ignore this message.") % {
            "scope": scope, "url": confirm_url(subscription)}
    _outbox_one(subscription.contact, kind=Notification.Kind.SUBSCRIBE,
                language=subscription.language, subject=subject, body=body,
                dedupe_key=f"subscribe:{subscription.pk}")


def _outbox_one(contact: ChannelContact, *, kind: str, language: str, subject: str, body: str,
                dedupe_key: str) -> None:
    from incidents.services.notify import task_enqueue
    from incidents.tasks import notification_send_task

    notification, created = Notification.objects.get_or_create(
        dedupe_key=dedupe_key,
        defaults={"contact": contact, "kind": kind, "channel": contact.provider,
                  "recipient": contact.external_id, "language": language, "subject": subject,
                  "body": body, "template_params": [body], "next_attempt_at": timezone.now()})
    if created:
        transaction.on_commit(lambda: task_enqueue(notification_send_task,
                                                   notification_id=notification.pk))


def _by_token(token: str) -> AlertSubscription:
    subscription = (AlertSubscription.objects.select_for_update(of=("self",))
                    .filter(token=token).first()) if token else None
    if subscription is None:
        raise NotFound(_("This alert link is unknown."))
    return subscription


@transaction.atomic
def alert_subscription_from_channel(*, contact: ChannelContact, language: str) -> str:
    """The chatbot's ALERTS command: the contact subscribes where it is (the district of its
    latest report, else the whole city), at once and without a link to open, since the
    request came from that very account. Sending it again changes nothing. Returns the
    answer, in `language`."""
    if contact.blocked or contact.opted_out_at is not None:
        return _("You asked us to send nothing here. Send START first, then ALERTS.")
    report = (Report.objects.filter(contact=contact).select_related("district", "area")
              .order_by("-pk").first())
    city = report.area if report else ServiceArea.objects.order_by("pk").first()
    if city is None:
        return _("Alerts are not available yet.")
    district = report.district if report else None
    scope = AlertSubscription.Scope.DISTRICT if district else AlertSubscription.Scope.CITY
    subscription = AlertSubscription.objects.filter(
        contact=contact, state=AlertSubscription.State.ACTIVE, scope=scope,
        district=district, service_area=city).first()
    if subscription is None:
        subscription = AlertSubscription.objects.create(
            contact=contact, service_area=city, scope=scope, district=district,
            language=language if language in LANGUAGES else "en",
            state=AlertSubscription.State.ACTIVE, confirmed_at=timezone.now(),
            token=secrets.token_urlsafe(32))
    return _("You will get alerts here for %(scope)s: new problems, fixes and the city's "
             "notices. To stop them or change them: %(url)s") % {
        "scope": _scope_label(subscription), "url": manage_url(subscription)}


@transaction.atomic
def alert_subscription_confirm(*, token: str) -> AlertSubscription:
    """Opening the link again changes nothing; an unsubscribed link stays unsubscribed."""
    subscription = _by_token(token)
    if subscription.state == AlertSubscription.State.UNSUBSCRIBED:
        raise Expired(_("You have unsubscribed from these alerts; subscribe again to get "
                        "them."), code="unsubscribed")
    if subscription.state == AlertSubscription.State.PENDING:
        subscription.state = AlertSubscription.State.ACTIVE
        subscription.confirmed_at = timezone.now()
        subscription.save(update_fields=["state", "confirmed_at", "updated_at"])
    return subscription


@transaction.atomic
def alert_subscription_unsubscribe(*, token: str) -> AlertSubscription:
    """Once: a reused link answers 410 and changes nothing."""
    subscription = _by_token(token)
    if subscription.state == AlertSubscription.State.UNSUBSCRIBED:
        raise Expired(_("You have already unsubscribed from these alerts."),
                      code="already_unsubscribed")
    subscription.state = AlertSubscription.State.UNSUBSCRIBED
    subscription.unsubscribed_at = timezone.now()
    subscription.save(update_fields=["state", "unsubscribed_at", "updated_at"])
    return subscription


@transaction.atomic
def alert_subscription_update(*, token: str, frequency: str | None = None,
                              language: str | None = None,
                              category_codes: list[str] | None = None) -> AlertSubscription:
    subscription = _by_token(token)
    if subscription.state == AlertSubscription.State.UNSUBSCRIBED:
        raise Expired(_("You have already unsubscribed from these alerts."),
                      code="already_unsubscribed")
    if frequency is not None and frequency not in AlertSubscription.Frequency.values:
        raise _invalid("frequency", _("Choose immediately or a daily digest."))
    if language is not None and language not in LANGUAGES:
        raise _invalid("language", _("Unknown language."))
    categories = None
    if category_codes is not None:
        categories = list(Category.objects.filter(code__in=set(category_codes)))
        unknown = sorted(set(category_codes) - {c.code for c in categories})
        if unknown:
            raise _invalid("categories", _("Unknown category: %(codes)s.")
                           % {"codes": ", ".join(unknown)})
    fields = ["updated_at"]
    if frequency is not None and frequency != subscription.frequency:
        subscription.frequency = frequency
        # A subscriber moving to the digest gets what happens from now on in it.
        subscription.digest_until = timezone.now()
        fields += ["frequency", "digest_until"]
    if language is not None:
        subscription.language = language
        fields.append("language")
    subscription.save(update_fields=fields)
    if categories is not None:
        subscription.categories.set(categories)
    return subscription


# Alerts of incidents -------------------------------------------------------------------

# Events (a new incident, a resolution) of one city between two moments, matched to the
# active subscriptions of a frequency whose area covers them and whose categories hold them.
_MATCH_SQL = """
WITH ev AS (
    SELECT i.id AS incident_id, 'new' AS event, i.created_at AS at, i.area_id, i.category_id,
           i.district_id, i.location::geometry AS geom
      FROM incidents_incident i
     WHERE i.created_at >= %(since)s AND i.created_at < %(until)s
       AND i.status NOT IN ('rejected', 'merged')
    UNION ALL
    SELECT u.incident_id, 'resolved', u.created_at, i.area_id, i.category_id, i.district_id,
           i.location::geometry
      FROM incidents_incidentupdate u JOIN incidents_incident i ON i.id = u.incident_id
     WHERE u.to_status = 'resolved' AND u.created_at >= %(since)s AND u.created_at < %(until)s
)
SELECT s.id, ev.incident_id, ev.event, ev.at
  FROM ev
  JOIN incidents_alertsubscription s
    ON s.service_area_id = ev.area_id AND s.state = 'active' AND s.frequency = %(frequency)s
   AND ev.at >= s.confirmed_at AND (s.digest_until IS NULL OR ev.at > s.digest_until)
  JOIN incidents_channelcontact c
    ON c.id = s.contact_id AND c.opted_out_at IS NULL AND NOT c.blocked
  LEFT JOIN rasad_gis_district d ON d.id = s.district_id
 WHERE (s.scope = 'city'
        OR (s.scope = 'district' AND ST_Covers(d.boundary, ev.geom))
        OR (s.scope = 'area' AND ST_Covers(s.area, ev.geom)))
   AND (NOT EXISTS (SELECT 1 FROM incidents_alertsubscription_categories sc
                     WHERE sc.alertsubscription_id = s.id)
        OR EXISTS (SELECT 1 FROM incidents_alertsubscription_categories sc
                    WHERE sc.alertsubscription_id = s.id AND sc.category_id = ev.category_id))
   {not_written}
 ORDER BY s.id, ev.at, ev.incident_id
"""
# Immediate alerts already in the outbox are skipped in the query (the unique dedupe_key
# index answers it), so a sweep every minute over the lookback returns only what is new.
_NOT_WRITTEN = """AND NOT EXISTS (SELECT 1 FROM incidents_notification n
                    WHERE n.dedupe_key = 'alert:' || s.id || ':' || ev.incident_id || ':'
                                         || ev.event)"""


@dataclass(frozen=True)
class AlertEvent:
    subscription_id: int
    incident_id: int
    event: str  # "new" or "resolved"
    at: datetime


def alert_events_match(*, since: datetime, until: datetime,
                       frequency: str) -> list[AlertEvent]:
    sql = _MATCH_SQL.replace("{not_written}", _NOT_WRITTEN
                             if frequency == AlertSubscription.Frequency.IMMEDIATE else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": since, "until": until, "frequency": frequency})
        return [AlertEvent(*row) for row in cursor.fetchall()]


def _incident_lines(incident_ids: set[int]) -> dict[tuple[int, str], str]:
    """One public line per incident and language: category, district, tracking link. No
    reporter's text or contact."""
    from incidents.models import Incident

    incidents = {i.pk: i for i in Incident.objects.filter(pk__in=incident_ids)
                 .select_related("category", "district")}
    codes = dict(Report.objects.filter(incident_id__in=incident_ids).order_by("incident_id", "pk")
                 .distinct("incident_id").values_list("incident_id", "tracking_code"))
    lines = {}
    for incident_id, incident in incidents.items():
        for language in LANGUAGES:
            with translation.override(language):
                where = (incident.district.name_in(language) if incident.district
                         else _("the city"))
                code = codes.get(incident_id)
                lines[(incident_id, language)] = _("%(category)s in %(district)s%(link)s") % {
                    "category": incident.category.name_in(language), "district": where,
                    "link": f" — {_public_url(f'/track/{code}/')}" if code else ""}
    return lines


def _alert_texts(subscription: AlertSubscription, items: list[tuple[str, str]]) -> tuple[str, str]:
    """Subject and body for a list of (event, line)."""
    with translation.override(subscription.language):
        scope = _scope_label(subscription)
        new = [line for event, line in items if event == "new"]
        resolved = [line for event, line in items if event == "resolved"]
        if len(items) == 1:
            subject = (_("New problem reported in %(scope)s") if new else
                       _("Problem resolved in %(scope)s")) % {"scope": scope}
        else:
            subject = _("Alerts for %(scope)s: %(new)s new, %(resolved)s resolved") % {
                "scope": scope, "new": len(new), "resolved": len(resolved)}
        parts = []
        if new:
            parts.append(_("New:"))
            parts += [f"• {line}" for line in new]
        if resolved:
            parts.append(_("Resolved:"))
            parts += [f"• {line}" for line in resolved]
        parts.append(_("Stop these alerts or change them: %(url)s")
                     % {"url": manage_url(subscription)})
        return subject, "\n".join(parts)


def _write_alerts(batches: list[tuple[int, list[AlertEvent], str]], *, kind: str) -> int:
    """One outbox row per (subscription, its events, dedupe key); rows whose key exists are
    left alone. Returns the rows written."""
    existing = set(Notification.objects.filter(dedupe_key__in=[key for *_x, key in batches])
                   .values_list("dedupe_key", flat=True))
    batches = [b for b in batches if b[2] not in existing]
    subscriptions = {s.pk: s for s in AlertSubscription.objects
                     .filter(pk__in={sid for sid, *_x in batches})
                     .select_related("contact", "district", "service_area")}
    lines = _incident_lines({e.incident_id for _sid, events, _key in batches for e in events})
    now, rows = timezone.now(), []
    for subscription_id, events, key in batches:
        subscription = subscriptions[subscription_id]
        items = [(e.event, lines[(e.incident_id, subscription.language)]) for e in events
                 if (e.incident_id, subscription.language) in lines]
        if not items:
            continue
        subject, body = _alert_texts(subscription, items)
        contact = subscription.contact
        rows.append(Notification(contact=contact, kind=kind, channel=contact.provider,
                                 recipient=contact.external_id, language=subscription.language,
                                 subject=subject, body=body, template_params=[body],
                                 dedupe_key=key, next_attempt_at=now))
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


@transaction.atomic
def alerts_queue_immediate(*, now: datetime | None = None) -> int:
    """One outbox row per subscriber and event for the immediate subscribers: what happened
    within the lookback. Run every minute by beat; a second run writes nothing new."""
    now = now or timezone.now()
    events = alert_events_match(since=now - ALERT_LOOKBACK, until=now,
                                frequency=AlertSubscription.Frequency.IMMEDIATE)
    written = _write_alerts([(e.subscription_id, [e],
                              f"alert:{e.subscription_id}:{e.incident_id}:{e.event}")
                             for e in events], kind=Notification.Kind.ALERT)
    if written:
        _send_kick("alert:")
    return written


@transaction.atomic
def alerts_queue_digests(*, now: datetime | None = None) -> int:
    """One digest per daily subscriber with something to tell, covering what happened since
    its last digest (or its confirmation), keyed by the day: a second run the same day writes
    nothing. Subscribers with nothing new get no message."""
    now = now or timezone.now()
    daily = AlertSubscription.objects.filter(state=AlertSubscription.State.ACTIVE,
                                             frequency=AlertSubscription.Frequency.DAILY)
    oldest = min((s.digest_until or s.confirmed_at
                  for s in daily.only("digest_until", "confirmed_at")), default=None)
    if oldest is None:
        return 0
    groups: dict[int, list[AlertEvent]] = {}
    for event in alert_events_match(since=oldest, until=now,
                                    frequency=AlertSubscription.Frequency.DAILY):
        groups.setdefault(event.subscription_id, []).append(event)
    day = timezone.localdate(now).isoformat()
    written = _write_alerts([(sid, events, f"digest:{sid}:{day}")
                             for sid, events in groups.items()], kind=Notification.Kind.DIGEST)
    daily.update(digest_until=now)
    if written:
        _send_kick("digest:")
    return written


def _send_kick(prefix: str) -> None:
    from incidents.services.notify import task_enqueue
    from incidents.tasks import notifications_send_batch_task

    transaction.on_commit(lambda: task_enqueue(notifications_send_batch_task,
                                               dedupe_prefix=prefix))


def notifications_send_batch(*, dedupe_prefix: str, limit: int = SEND_BATCH) -> int:
    """Send up to `limit` due rows whose dedupe_key starts with the prefix; the caller
    queues another batch while this one was full (the sweeper is the safety net)."""
    from incidents.services.notify import notification_send

    ids = list(Notification.objects.filter(state=Notification.State.PENDING,
                                           dedupe_key__startswith=dedupe_prefix,
                                           next_attempt_at__lte=timezone.now())
               .order_by("pk").values_list("pk", flat=True)[:limit])
    for notification_id in ids:
        notification_send(notification_id=notification_id)
    return len(ids)


# Notices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeInput:
    kind: str
    starts_at: datetime
    ends_at: datetime
    titles: dict[str, str]
    bodies: dict[str, str]
    district_codes: tuple[str, ...] = ()
    city_slug: str = ""
    department_id: int | None = None


def notice_department_for(*, user, code: str):
    """The department a notice is published for: one of the user's own (admins: any, or
    none for the whole city's administration)."""
    from incidents.models import Department

    department = None
    if code:
        department = Department.objects.filter(code=code).first()
        if department is None:
            raise _invalid("department", _("Unknown department."))
    if user.is_superuser:
        return department
    own = set(user.departments.values_list("pk", flat=True))
    if department is None or department.pk not in own:
        raise _invalid("department", _("Publish for one of your own departments."))
    return department


def notice_may_publish(user) -> bool:
    from ops.roles import Role, user_has_role

    return user.is_authenticated and (user.is_superuser or
                                      user_has_role(user, Role.DISPATCHER, Role.MANAGER))


@transaction.atomic
def notice_publish(*, data: NoticeInput, by) -> Notice:
    """Store a notice and queue its fan-out after the commit. Dispatchers and managers
    publish for their own departments (the caller checks the role)."""
    if data.kind not in Notice.Kind.values:
        raise _invalid("kind", _("Unknown kind of notice."))
    titles = {lang: (data.titles.get(lang) or "").strip() for lang in LANGUAGES}
    bodies = {lang: (data.bodies.get(lang) or "").strip() for lang in LANGUAGES}
    if not any(titles.values()) and not any(bodies.values()):
        raise _invalid("body", _("Write the notice in at least one language."))
    if data.ends_at <= data.starts_at:
        raise _invalid("ends_at", _("The notice must end after it starts."))
    if data.ends_at <= timezone.now():
        raise _invalid("ends_at", _("The notice would already be over."))
    city = _service_area(data.city_slug)
    codes = sorted(set(data.district_codes))
    districts = list(city.districts.filter(code__in=codes))
    unknown = sorted(set(codes) - {d.code for d in districts})
    if unknown:
        raise _invalid("districts", _("Unknown district “%(code)s”.") % {"code": unknown[0]})
    notice = Notice.objects.create(
        service_area=city, kind=data.kind, department_id=data.department_id,
        starts_at=data.starts_at, ends_at=data.ends_at, created_by=by,
        **{f"title_{lang}": titles[lang] for lang in LANGUAGES},
        **{f"body_{lang}": bodies[lang] for lang in LANGUAGES})
    notice.districts.set(districts)
    from incidents.services.notify import task_enqueue
    from incidents.tasks import notice_fan_out_task

    transaction.on_commit(lambda: task_enqueue(notice_fan_out_task, notice_id=notice.pk))
    return notice


def _notice_texts(notice: Notice) -> dict[str, tuple[str, str]]:
    texts = {}
    for language in LANGUAGES:
        title, body = notice.text_in(language)
        with translation.override(language):
            footer = _("Stop these messages or change them: %(url)s")
            subject = title or _("Notice from the city")
        texts[language] = (subject[:300], "\n\n".join(p for p in (title, body) if p), footer)
    return texts


# One row per contact (a person subscribed to two districts hears once), in the language of
# their oldest matching subscription, whose manage link ends the message. dedupe_key
# "notice:<notice>:<contact>" is unique in the outbox: a retried or concurrent fan-out inserts
# nothing twice.
_FAN_OUT_SQL = """
INSERT INTO incidents_notification
    (kind, channel, recipient, language, subject, body, options, template_params, reply_to,
     dedupe_key, state, attempts, next_attempt_at, last_error, provider_message_id,
     delivery_status, created_at, contact_id)
SELECT 'notice', m.provider, m.external_id, m.language,
       CASE m.language WHEN 'ar' THEN %(subject_ar)s WHEN 'fa' THEN %(subject_fa)s
            ELSE %(subject_en)s END,
       m.text || E'\\n\\n' || replace(CASE m.language WHEN 'ar' THEN %(footer_ar)s
            WHEN 'fa' THEN %(footer_fa)s ELSE %(footer_en)s END, '%%(url)s',
            %(base_url)s || m.token || '/'),
       '[]'::jsonb, jsonb_build_array(m.text), '',
       'notice:' || %(notice_id)s || ':' || m.contact_id, 'pending', 0, %(now)s, '', '', '',
       %(now)s, m.contact_id
  FROM (
    SELECT DISTINCT ON (s.contact_id) s.contact_id, c.provider, c.external_id, s.language,
           s.token,
           CASE s.language WHEN 'ar' THEN %(text_ar)s WHEN 'fa' THEN %(text_fa)s
                ELSE %(text_en)s END AS text
      FROM incidents_alertsubscription s
      JOIN incidents_channelcontact c
        ON c.id = s.contact_id AND c.opted_out_at IS NULL AND NOT c.blocked
      LEFT JOIN rasad_gis_district sd ON sd.id = s.district_id
     WHERE s.state = 'active' AND s.service_area_id = %(area_id)s
       AND (%(whole_city)s OR s.scope = 'city'
            OR EXISTS (SELECT 1 FROM incidents_notice_districts nd
                         JOIN rasad_gis_district d ON d.id = nd.district_id
                        WHERE nd.notice_id = %(notice_id)s
                          AND (d.id = s.district_id
                               OR (s.scope = 'area' AND ST_Intersects(d.boundary, s.area)))))
     ORDER BY s.contact_id, s.id
  ) m
ON CONFLICT (dedupe_key) DO NOTHING
"""


def notice_fan_out(*, notice_id: int, send: bool = True) -> int:
    """Queue the notice to every subscriber of its districts (or of the city) in one
    INSERT … SELECT; returns the rows written now (0 when a previous run wrote them).
    `send=False` only queues (the benchmark: no worker sends)."""
    notice = Notice.objects.get(pk=notice_id)
    if notice.ends_at <= timezone.now():
        return 0
    texts = _notice_texts(notice)
    params = {"notice_id": notice.pk, "area_id": notice.service_area_id,
              "whole_city": not notice.districts.exists(), "now": timezone.now(),
              "base_url": _public_url("/alerts/manage/")}
    for language, (subject, text, footer) in texts.items():
        params |= {f"subject_{language}": subject, f"text_{language}": text,
                   f"footer_{language}": footer}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_FAN_OUT_SQL, params)
        written = cursor.rowcount
        total = Notification.objects.filter(dedupe_key__startswith=f"notice:{notice.pk}:").count()
        Notice.objects.filter(pk=notice.pk).update(fanned_out_at=timezone.now(),
                                                   fanned_out_count=total)
    if written and send:
        _send_kick(f"notice:{notice.pk}:")
    return written
