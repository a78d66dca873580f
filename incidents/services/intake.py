"""Intake: validate a report, place it, store it once, and cluster it into an incident."""

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.contrib.gis.db.models.functions import GeometryDistance
from django.contrib.gis.geos import Point
from django.contrib.gis.measure import D
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gis.areas import place_point
from gis.geo import advisory_xact_lock, cell_lock_keys, text_lock_key
from gis.models import District, ServiceArea
from incidents.codes import tracking_code_new
from incidents.events import event_publish_on_commit
from incidents.exceptions import (
    Conflict,
    IdempotencyMismatch,
    OutsideServiceArea,
    UnknownCategory,
    ValidationFailed,
)
from incidents.models import (
    OPEN_STATUSES,
    Category,
    CategoryAttribute,
    Channel,
    Incident,
    IncidentUpdate,
    Photo,
    Report,
    RoutingRule,
    Status,
)
from incidents.photos import CleanPhoto, photo_clean
from incidents.priority import priority_score

logger = logging.getLogger(__name__)

LANGUAGES = ("ar", "fa", "en")
MAX_DESCRIPTION = 4000
MAX_PHOTOS = 5


@dataclass
class ReportInput:
    """What a citizen, an agent or an Open311 client sends. Raw values, checked here."""

    category_code: str
    lon: float | str | None = None
    lat: float | str | None = None
    address: str = ""
    description: str = ""
    attributes: dict = field(default_factory=dict)
    channel: str = Channel.WEB
    language: str = "en"
    reporter_name: str = ""
    reporter_email: str = ""
    reporter_phone: str = ""
    photos: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, content)
    media_urls: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        body = {
            "category": self.category_code, "lon": str(self.lon), "lat": str(self.lat),
            "address": self.address, "description": self.description,
            "attributes": self.attributes, "channel": self.channel,
            "name": self.reporter_name, "email": self.reporter_email,
            "phone": self.reporter_phone, "media_urls": self.media_urls,
            "photos": [hashlib.sha256(content).hexdigest() for _name, content in self.photos],
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class SubmitResult:
    report: Report
    created: bool


def _coordinate(value, low: float, high: float, name: str, errors: dict) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors.setdefault(name, []).append(_("%(name)s must be a number.") % {"name": name})
        return None
    if number != number or not (low <= number <= high):  # NaN or out of range
        errors.setdefault(name, []).append(
            _("%(name)s must be between %(low)s and %(high)s.")
            % {"name": name, "low": low, "high": high}
        )
        return None
    return number


def phone_normalize(raw: str) -> str:
    """Return the number in E.164 or raise ValueError."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(str(exc)) from exc
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def attributes_clean(category: Category, answers: dict, errors: dict, *,
                     require: bool = True) -> dict:
    """Check answers to the category's extra questions; return them normalised."""
    if not isinstance(answers, dict):
        errors.setdefault("attributes", []).append(_("attributes must be an object."))
        return {}
    definitions = {a.code: a for a in category.attributes.all()}
    clean: dict = {}
    for code in answers:
        if code not in definitions:
            errors.setdefault(f"attribute[{code}]", []).append(
                _("“%(code)s” is not a question of the category “%(category)s”.")
                % {"code": code, "category": category.code}
            )
    for code, attribute in definitions.items():
        value = answers.get(code)
        key = f"attribute[{code}]"
        empty = value is None or value == "" or value == []
        if empty:
            if attribute.required and require:
                errors.setdefault(key, []).append(
                    _("“%(question)s” must be answered.") % {"question": attribute.description_in()}
                )
            continue
        kind = attribute.datatype
        if kind == CategoryAttribute.Datatype.NUMBER:
            try:
                number = float(value)
            except (TypeError, ValueError):
                errors.setdefault(key, []).append(_("“%(question)s” must be a number.")
                                                  % {"question": attribute.description_in()})
                continue
            if (attribute.min_value is not None and number < attribute.min_value) or (
                attribute.max_value is not None and number > attribute.max_value
            ):
                errors.setdefault(key, []).append(
                    _("“%(question)s” must be between %(low)s and %(high)s.")
                    % {"question": attribute.description_in(),
                       "low": f"{attribute.min_value:g}" if attribute.min_value is not None
                       else "-∞",
                       "high": f"{attribute.max_value:g}" if attribute.max_value is not None
                       else "∞"}
                )
                continue
            clean[code] = number
        elif kind == CategoryAttribute.Datatype.SINGLE:
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if str(value) not in attribute.value_keys():
                errors.setdefault(key, []).append(
                    _("“%(value)s” is not an allowed answer; choose one of: %(allowed)s.")
                    % {"value": value, "allowed": ", ".join(attribute.value_keys())}
                )
                continue
            clean[code] = str(value)
        elif kind == CategoryAttribute.Datatype.MULTI:
            values = value if isinstance(value, list) else [value]
            bad = [str(v) for v in values if str(v) not in attribute.value_keys()]
            if bad:
                errors.setdefault(key, []).append(
                    _("“%(value)s” is not an allowed answer; choose from: %(allowed)s.")
                    % {"value": ", ".join(bad), "allowed": ", ".join(attribute.value_keys())}
                )
                continue
            clean[code] = sorted({str(v) for v in values})
        elif kind == CategoryAttribute.Datatype.DATETIME:
            from django.utils.dateparse import parse_datetime

            parsed = parse_datetime(str(value))
            if parsed is None:
                errors.setdefault(key, []).append(
                    _("“%(question)s” must be a date and time like 2026-01-31T14:00:00+02:00.")
                    % {"question": attribute.description_in()}
                )
                continue
            clean[code] = parsed.isoformat()
        else:
            text = str(value).strip()
            if len(text) > 1000:
                errors.setdefault(key, []).append(_("The answer is too long (1000 characters at most)."))
                continue
            clean[code] = text
    return clean


_catalogue: dict[str, tuple[float, Category | None]] = {}


def category_for_intake(code: str) -> Category | None:
    """The active category with its questions, cached per process for
    RASAD_CATALOGUE_CACHE_S seconds: every report needs it, and it changes rarely."""
    ttl = settings.RASAD_CATALOGUE_CACHE_S
    now = time.monotonic()
    hit = _catalogue.get(code)
    if ttl and hit and now - hit[0] < ttl:
        return hit[1]
    category = (Category.objects.filter(code=code, active=True)
                .prefetch_related("attributes").first())
    if ttl:
        _catalogue[code] = (now, category)
    return category


_routing: tuple[float, dict[tuple[int, int], int]] = (-1e9, {})


def _department_id_for(category: Category, district_id: int | None) -> int:
    """Routing rule (category + district → department), else the category's department.
    The rules table is small: read whole and cached like the catalogue."""
    global _routing
    if district_id is None:
        return category.department_id
    ttl = settings.RASAD_CATALOGUE_CACHE_S
    now = time.monotonic()
    if not ttl or now - _routing[0] >= ttl:
        rules = {(c, d): dep for c, d, dep in RoutingRule.objects.values_list(
            "category_id", "district_id", "department_id")}
        _routing = (now, rules)
    return _routing[1].get((category.pk, district_id), category.department_id)


def _outside_message(point: Point) -> str:
    nearest = ServiceArea.objects.order_by(GeometryDistance("boundary", point)).first()
    if nearest is None:
        return _("No service area is set up yet, so no report can be accepted.")
    return _("The point (%(lon).5f, %(lat).5f) is outside the service area of %(area)s.") % {
        "lon": point.x, "lat": point.y, "area": nearest.name_in()}


@dataclass(frozen=True)
class _Place:
    area_id: int
    district_id: int | None
    district_code: str | None
    department_id: int


@dataclass
class _Checked:
    category: Category
    point: Point
    attributes: dict
    channel: str
    language: str
    description: str
    address: str
    name: str
    email: str
    phone: str
    photos: list[CleanPhoto]
    media_urls: list[str]


def report_validate(data: ReportInput, *, joining: bool = False) -> _Checked:
    """Every check that needs no lock. Raises a DomainError; changes nothing."""
    errors: dict[str, list[str]] = {}
    category = category_for_intake(str(data.category_code or ""))
    if category is None:
        raise UnknownCategory(
            _("“%(code)s” is not a known category.") % {"code": data.category_code},
            field="service_code",
        )
    lon = _coordinate(data.lon, -180, 180, "long", errors)
    lat = _coordinate(data.lat, -90, 90, "lat", errors)
    description = (data.description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors.setdefault("description", []).append(
            _("The description is %(n)s characters long; the limit is %(limit)s.")
            % {"n": len(description), "limit": MAX_DESCRIPTION}
        )
    address = (data.address or "").strip()
    if len(address) > 300:
        errors.setdefault("address_string", []).append(_("The address is too long (300 characters at most)."))
    channel = data.channel or Channel.WEB
    if channel not in Channel.values:
        errors.setdefault("channel", []).append(
            _("“%(value)s” is not a channel; use one of: %(allowed)s.")
            % {"value": channel, "allowed": ", ".join(Channel.values)}
        )
    language = (data.language or "en")[:2].lower()
    if language not in LANGUAGES:
        language = "en"
    email = (data.reporter_email or "").strip()
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            errors.setdefault("email", []).append(_("“%(value)s” is not a valid email address.")
                                                  % {"value": email})
    phone = (data.reporter_phone or "").strip()
    if phone:
        try:
            phone = phone_normalize(phone)
        except ValueError:
            errors.setdefault("phone", []).append(
                _("“%(value)s” is not a valid phone number; write it with the country code, like +358401234567.")
                % {"value": data.reporter_phone}
            )
    name = (data.reporter_name or "").strip()
    if len(name) > 200:
        errors.setdefault("name", []).append(_("The name is too long (200 characters at most)."))
    # Someone joining an incident ("me too") is not asked its questions again.
    attributes = attributes_clean(category, data.attributes or {}, errors, require=not joining)
    if len(data.photos) + len(data.media_urls) > MAX_PHOTOS:
        errors.setdefault("photos", []).append(
            _("A report can have at most %(n)s photos.") % {"n": MAX_PHOTOS})
    url_validator = URLValidator(schemes=["http", "https"])
    for url in data.media_urls:
        try:
            url_validator(url)
        except DjangoValidationError:
            errors.setdefault("media_url", []).append(_("“%(value)s” is not an http(s) URL.")
                                                      % {"value": url[:200]})
    if errors:
        raise ValidationFailed(errors)
    photos = [photo_clean(content, name=filename) for filename, content in data.photos]
    if lon is None or lat is None:
        gps = next((p.gps for p in photos if p.gps), None)
        if gps is None:
            message = (_("The address alone cannot be placed on the map; send lat and long too.")
                       if address else
                       _("The location is missing: send lat and long, or a photo with GPS."))
            raise ValidationFailed({"lat": [message]})
        lon, lat = gps
    return _Checked(category=category, point=Point(lon, lat, srid=4326), attributes=attributes,
                    channel=channel, language=language, description=description,
                    address=address, name=name, email=email, phone=phone, photos=photos,
                    media_urls=list(data.media_urls))


def _incident_new(*, checked: _Checked, place: _Place, now: datetime) -> Incident:
    category = checked.category
    incident = Incident.objects.create(
        category=category, area_id=place.area_id, district_id=place.district_id,
        department_id=place.department_id, location=checked.point, status=Status.NEW, severity=category.severity, report_count=1,
        first_reported_at=now, last_reported_at=now,
        sla_due_at=now + timedelta(hours=category.sla_hours),
        priority=priority_score(severity=category.severity, report_count=1,
                                first_reported_at=now, sla_hours=category.sla_hours, now=now),
    )
    IncidentUpdate.objects.create(incident=incident, from_status="", to_status=Status.NEW,
                                  note=_("Reported"), public=True)
    return incident


def _incident_join(*, incident_id: int, point: Point, now: datetime) -> Incident | None:
    """Add one report to an incident: its location moves to the mean of its reports.

    Locks the incident row; returns None when it is no longer open."""
    incident = (Incident.objects.select_for_update(of=("self",)).select_related("category")
                .get(pk=incident_id))
    if incident.status not in OPEN_STATUSES:
        return None
    n = incident.report_count
    incident.location = Point((incident.location.x * n + point.x) / (n + 1),
                              (incident.location.y * n + point.y) / (n + 1), srid=4326)
    incident.report_count = n + 1
    incident.last_reported_at = now
    incident.priority = priority_score(
        severity=incident.severity, report_count=n + 1,
        first_reported_at=incident.first_reported_at,
        sla_hours=incident.category.sla_hours, now=now,
        reopened=incident.status == Status.REOPENED)
    # The version is not bumped: another reporter joining changes nothing a crew or a
    # dispatcher works with, and must not make their next update stale.
    incident.save(update_fields=["location", "report_count", "last_reported_at", "priority",
                                 "updated_at"])
    return incident


def _incident_find_and_join(*, checked: _Checked, place: _Place, now: datetime) -> Incident:
    """Join the nearest open incident, or start one. The cell locks serialise intake, but a
    dispatcher may close or merge the found incident between the search and the row lock:
    then the search runs again without it."""
    category, point = checked.category, checked.point
    passed_over: list[int] = []
    for _attempt in range(3):
        incident_id = incident_find_to_join(category=category, point=point, now=now,
                                            exclude=passed_over)
        if incident_id is None:
            break
        incident = _incident_join(incident_id=incident_id, point=point, now=now)
        if incident is not None:
            return incident
        passed_over.append(incident_id)
    return _incident_new(checked=checked, place=place, now=now)


def incident_find_to_join(*, category: Category, point: Point, now: datetime,
                          exclude: list[int] | None = None) -> int | None:
    """The nearest open incident of the category within its radius and time window (KNN)."""
    if connection.in_atomic_block:
        # A nearest-first walk of the open-incident GiST index stops at the first match; the
        # planner's default, a bitmap AND with the category or status btree, reads every
        # incident of the category and grows with the table (measured 3x slower at 300k).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_bitmapscan = off")
    return (
        Incident.objects.filter(
            category=category,
            status__in=OPEN_STATUSES,
            last_reported_at__gte=now - timedelta(hours=category.cluster_window_hours),
            location__dwithin=(point, D(m=category.cluster_radius_m)),
        )
        .exclude(pk__in=exclude or [])
        .order_by(GeometryDistance("location", point))
        .values_list("pk", flat=True)
        .first()
    )


def _photos_store(report: Report, checked: _Checked) -> None:
    for clean in checked.photos:
        photo = Photo(report=report, width=clean.width, height=clean.height,
                      state=Photo.State.READY)
        photo.image.save("photo.jpg", ContentFile(clean.image), save=False)
        photo.thumbnail.save("thumb.jpg", ContentFile(clean.thumbnail), save=False)
        photo.save()
    for url in checked.media_urls:
        photo = Photo.objects.create(report=report, source_url=url, state=Photo.State.PENDING)
        from incidents.tasks import photo_fetch_task

        photo_fetch_task.delay_on_commit(photo_id=photo.pk)


def report_submit(*, data: ReportInput, user=None, submitted_by=None, api_client=None,
                  idempotency_key: str | None = None, client_ip: str | None = None,
                  join: Incident | None = None, _attempt: int = 1) -> SubmitResult:
    """Store one report and attach it to an incident, all in one transaction.

    Idempotent: the same key with the same body returns the first report; with another body
    it raises IdempotencyMismatch. Clustering holds advisory locks on the grid cells around
    the point (see gis.geo.cell_lock_keys), so two reports of one problem arriving at the
    same moment end in one incident. `join` given means "me too": join that incident.
    """
    checked = report_validate(data, joining=join is not None)
    fingerprint = data.fingerprint()
    if api_client:
        scope = f"c{api_client.pk}"
    elif submitted_by:
        scope = f"a{submitted_by.pk}"
    else:
        scope = f"u{user.pk}" if user else "anon"
    scoped_key = f"{scope}:{idempotency_key}" if idempotency_key else None
    point = checked.point
    placement = place_point(point)
    if placement is None:
        raise OutsideServiceArea(_outside_message(point), field="lat")
    place = _Place(area_id=placement.area_id, district_id=placement.district_id,
                   district_code=placement.district_code,
                   department_id=_department_id_for(checked.category, placement.district_id))
    try:
        with transaction.atomic():
            if scoped_key:
                advisory_xact_lock([text_lock_key(scoped_key)])
                existing = Report.objects.filter(idempotency_key=scoped_key).first()
                if existing is not None:
                    if existing.request_fingerprint != fingerprint:
                        raise IdempotencyMismatch(
                            _("This Idempotency-Key was already used for a different report. "
                              "Use a new key for a new report."), field="Idempotency-Key")
                    return SubmitResult(report=existing, created=False)
            now = timezone.now()
            category = checked.category
            if join is not None:
                incident = _incident_join(incident_id=join.pk, point=point, now=now)
                if incident is None or incident.category_id != category.pk:
                    raise Conflict(_("This incident is no longer open; please file a new report."))
            else:
                advisory_xact_lock(cell_lock_keys(namespace=category.pk, lon=point.x,
                                                  lat=point.y, radius_m=category.cluster_radius_m))
                incident = _incident_find_and_join(checked=checked, place=place, now=now)
            report = _report_create(checked=checked, incident=incident, place=place, now=now,
                                    user=user, submitted_by=submitted_by, api_client=api_client,
                                    scoped_key=scoped_key, fingerprint=fingerprint,
                                    client_ip=client_ip, joined=join is not None)
            _photos_store(report, checked)
            event_publish_on_commit(
                kind="incident.created" if incident.report_count == 1 else "incident.updated",
                incident_id=incident.pk, status=incident.status,
                lon=incident.location.x, lat=incident.location.y,
                category=category.code, report_count=incident.report_count,
                priority=incident.priority)
    except IntegrityError:
        # A tracking code collided (about one in 10^11): the whole submission is tried again.
        if _attempt >= 3:
            raise
        logger.warning("report_submit retried after an integrity error", exc_info=True)
        return report_submit(data=data, user=user, submitted_by=submitted_by,
                             api_client=api_client, idempotency_key=idempotency_key,
                             client_ip=client_ip, join=join, _attempt=_attempt + 1)
    return SubmitResult(report=report, created=True)


def _report_create(*, checked: _Checked, incident: Incident, place: _Place,
                   now: datetime, user, submitted_by, api_client, scoped_key, fingerprint,
                   client_ip, joined: bool) -> Report:
    district = (District(pk=place.district_id, code=place.district_code)
                if place.district_id else None)
    return Report.objects.create(
        tracking_code=tracking_code_new(), category=checked.category, incident=incident,
        area_id=place.area_id, district=district,
        department_id=place.department_id, location=checked.point,
        address=checked.address, description=checked.description,
        attributes=checked.attributes, channel=checked.channel, language=checked.language,
        status=incident.status, joined_existing=joined, reporter_name=checked.name,
        reporter_email=checked.email, reporter_phone=checked.phone, user=user,
        submitted_by=submitted_by, api_client=api_client, idempotency_key=scoped_key,
        request_fingerprint=fingerprint, client_ip=client_ip, created_at=now,
    )
