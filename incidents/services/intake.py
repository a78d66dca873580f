"""Intake: validate a report, place it, store it once, and cluster it into an incident."""

import hashlib
import json
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.contrib.gis.db.models.functions import GeometryDistance
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gis.geo import cell_lock_keys, text_lock_key
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
    Category,
    CategoryAttribute,
    Channel,
    Incident,
    Photo,
    Report,
)
from incidents.photos import CleanPhoto, photo_clean
from ops.db import fetchone_server_bound

logger = logging.getLogger(__name__)

LANGUAGES = ("ar", "fa", "en")
MAX_DESCRIPTION = 4000
MAX_PHOTOS = 5
_CHANNELS = frozenset(Channel.values)
_URL_VALIDATOR = URLValidator(schemes=["http", "https"])


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
    """Return the number in E.164 or raise ValueError. A number without its country code
    is read as one of RASAD_PHONE_REGION (the city's country), when that is set."""
    try:
        number = phonenumbers.parse(raw, settings.RASAD_PHONE_REGION or None)
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


def _outside_message(point: Point) -> str:
    nearest = ServiceArea.objects.order_by(GeometryDistance("boundary", point)).first()
    if nearest is None:
        return _("No service area is set up yet, so no report can be accepted.")
    return _("The point (%(lon).5f, %(lat).5f) is outside the service area of %(area)s.") % {
        "lon": point.x, "lat": point.y, "area": nearest.name_in()}


@dataclass
class _Checked:
    category: Category
    lon: float
    lat: float
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

    @property
    def point(self) -> Point:
        return Point(self.lon, self.lat, srid=4326)

    @property
    def location_ewkt(self) -> str:
        """The point as EWKT, which a model's geometry field keeps as text until it is read:
        every GEOS call releases and takes back the GIL (ctypes), and a Point costs eight, so
        the hot path of intake builds none."""
        return f"SRID=4326;POINT({self.lon!r} {self.lat!r})"


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
    if channel not in _CHANNELS:
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
    # A need written down in a town-hall meeting is recorded as said: the category's
    # questions are answered when they are known, not required.
    attributes = attributes_clean(category, data.attributes or {}, errors,
                                  require=not joining and data.channel != Channel.MEETING)
    if len(data.photos) + len(data.media_urls) > MAX_PHOTOS:
        errors.setdefault("photos", []).append(
            _("A report can have at most %(n)s photos.") % {"n": MAX_PHOTOS})
    for url in data.media_urls:
        try:
            _URL_VALIDATOR(url)
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
    return _Checked(category=category, lon=float(lon), lat=float(lat),
                    attributes=attributes,
                    channel=channel, language=language, description=description,
                    address=address, name=name, email=email, phone=phone, photos=photos,
                    media_urls=list(data.media_urls))


def incident_find_to_join(*, category: Category, point: Point, now: datetime,
                          exclude: list[int] | None = None) -> int | None:
    """The nearest open incident of the category within its radius and time window: a KNN
    walk of the open-incident GiST index (database function rasad_incident_to_join, the one
    intake uses)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rasad_incident_to_join(%s, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography,"
            " %s, %s, %s::bigint[])",
            [category.pk, point.x, point.y, float(category.cluster_radius_m),
             now - timedelta(hours=category.cluster_window_hours), exclude or []])
        (incident_id,) = cursor.fetchone()
    return incident_id


def _photo_store(report: Report, clean: CleanPhoto) -> Photo:
    photo = Photo(report=report, width=clean.width, height=clean.height,
                  state=Photo.State.READY)
    photo.image.save("photo.jpg", ContentFile(clean.image), save=False)
    photo.thumbnail.save("thumb.jpg", ContentFile(clean.thumbnail), save=False)
    photo.save()
    return photo


def _photos_store(report: Report, checked: _Checked) -> list[Photo]:
    stored = [_photo_store(report, clean) for clean in checked.photos]
    for url in checked.media_urls:
        photo = Photo.objects.create(report=report, source_url=url, state=Photo.State.PENDING)
        from incidents.tasks import photo_fetch_task

        photo_fetch_task.delay_on_commit(photo_id=photo.pk)
        stored.append(photo)
    return stored


# One call does the locks, the placement, the clustering and the writes: see the migration
# incidents/migrations/0007_intake_functions.py for the steps.
INTAKE_SQL = """
SELECT outcome, report_id, area_id, district_id, district_code, department_id, incident_id,
       incident_status, incident_report_count, incident_lon, incident_lat, incident_priority
FROM rasad_report_intake(%s, %s, %s, %s, %s::bigint[], %s, %s, %s, %s, %s, %s, %s, %s, %s,
                         %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::inet)
"""


@dataclass(frozen=True)
class _Stored:
    outcome: str  # created, replayed, mismatch, outside or closed
    report_id: int | None
    area_id: int | None
    district_id: int | None
    district_code: str | None
    department_id: int | None
    incident_id: int | None
    incident_status: str | None
    incident_report_count: int | None
    incident_lon: float | None
    incident_lat: float | None
    incident_priority: float | None


def _intake_run(report: Report, *, lon: float, lat: float, cell_locks: list[int],
                join_id: int | None, now: datetime) -> _Stored:
    key = report.idempotency_key
    return _Stored(*fetchone_server_bound(INTAKE_SQL, [
        report.category_id, lon, lat, now, cell_locks,
        join_id, text_lock_key(key) if key else None, key, report.request_fingerprint,
        _("Reported"), report.tracking_code, report.token, report.address,
        report.description, json.dumps(report.attributes), report.channel,
        report.language, report.joined_existing, report.reporter_name,
        report.reporter_email, report.reporter_phone, report.user_id,
        report.submitted_by_id, report.api_client_id, report.client_ip,
    ]))


def report_submit(*, data: ReportInput, user=None, submitted_by=None, api_client=None,
                  idempotency_key: str | None = None, client_ip: str | None = None,
                  join: Incident | None = None) -> SubmitResult:
    """Store one report and attach it to an incident, all in one transaction.

    Idempotent: the same key with the same body returns the first report; with another body
    it raises IdempotencyMismatch. Clustering holds advisory locks on the grid cells around
    the point (see gis.geo.cell_lock_keys), so two reports of one problem arriving at the
    same moment end in one incident. `join` given means "me too": join that incident.
    """
    checked = report_validate(data, joining=join is not None)
    from crews.selectors_storm import storm_intake_check  # crews depends on incidents

    storm_intake_check(category=checked.category, lon=checked.lon, lat=checked.lat)
    if api_client:
        scope = f"c{api_client.pk}"
    elif submitted_by:
        scope = f"a{submitted_by.pk}"
    else:
        scope = f"u{user.pk}" if user else "anon"
    category = checked.category
    fingerprint = data.fingerprint()
    cell_locks = [] if join is not None else cell_lock_keys(
        namespace=category.pk, lon=checked.lon, lat=checked.lat,
        radius_m=category.cluster_radius_m)
    # Without photos the call is the whole transaction; photos are stored in the same one.
    one_statement = not (checked.photos or checked.media_urls or connection.in_atomic_block)
    for attempt in range(1, 4):
        now = timezone.now()
        report = Report(
            tracking_code=tracking_code_new(), category=category,
            location=checked.location_ewkt,
            address=checked.address, description=checked.description,
            attributes=checked.attributes, channel=checked.channel, language=checked.language,
            joined_existing=join is not None, reporter_name=checked.name,
            reporter_email=checked.email, reporter_phone=checked.phone, user=user,
            submitted_by=submitted_by, api_client=api_client,
            idempotency_key=f"{scope}:{idempotency_key}" if idempotency_key else None,
            request_fingerprint=fingerprint, client_ip=client_ip, created_at=now,
            updated_at=now)
        try:
            with nullcontext() if one_statement else transaction.atomic():
                stored = _intake_run(report, lon=checked.lon, lat=checked.lat,
                                     cell_locks=cell_locks,
                                     join_id=join.pk if join is not None else None, now=now)
                if stored.outcome == "created":
                    _report_stored(report, stored, lon=checked.lon, lat=checked.lat)
                    photos = _photos_store(report, checked)
            break
        except IntegrityError:
            # A tracking code collided (about one in 10^11): the whole submission is tried
            # again, with a new code.
            if attempt == 3:
                raise
            logger.warning("report_submit retried after an integrity error", exc_info=True)
    if stored.outcome == "replayed":
        return SubmitResult(report=Report.objects.get(pk=stored.report_id), created=False)
    if stored.outcome == "mismatch":
        raise IdempotencyMismatch(
            _("This Idempotency-Key was already used for a different report. "
              "Use a new key for a new report."), field="Idempotency-Key")
    if stored.outcome == "outside":
        raise OutsideServiceArea(_outside_message(checked.point), field="lat")
    if stored.outcome == "closed":
        raise Conflict(_("This incident is no longer open; please file a new report."))
    # The report knows its photos, as if prefetched: showing it reads nothing back.
    priority = _storm_priority(category, stored)
    known = Photo.objects.all()
    known._result_cache, known._prefetch_done = photos, True
    report._prefetched_objects_cache = {"photos": known}
    event_publish_on_commit(
        kind="incident.created" if stored.incident_report_count == 1 else "incident.updated",
        incident_id=stored.incident_id, status=stored.incident_status,
        lon=stored.incident_lon, lat=stored.incident_lat, category=category.code,
        report_count=stored.incident_report_count, priority=priority)
    return SubmitResult(report=report, created=True)


def _storm_priority(category: Category, stored: _Stored) -> float | None:
    """The incident's priority with what an active storm mode adds to its category (the
    database function scores without it)."""
    from crews.selectors_storm import storm_priority_bonus

    bonus = storm_priority_bonus(area_id=stored.area_id, category_id=category.pk)
    if not bonus or stored.incident_priority is None:
        return stored.incident_priority
    priority = round(min(100.0, stored.incident_priority + bonus), 2)
    Incident.objects.filter(pk=stored.incident_id).update(priority=priority)
    return priority


def _report_stored(report: Report, stored: _Stored, *, lon: float, lat: float) -> None:
    """Fill in what the database decided, as if the report had been read back."""
    report.pk = stored.report_id
    report.area_id = stored.area_id
    report.department_id = stored.department_id
    report.incident_id = stored.incident_id
    report.status = stored.incident_status
    report.district_id = stored.district_id
    if stored.district_id is not None:  # cached as a select_related would (no router checks)
        Report.district.field.set_cached_value(
            report, District(pk=stored.district_id, code=stored.district_code))
    report._state.adding = False
    report._state.db = connection.alias
    report._lonlat = (lon, lat)  # read by report_public_feature instead of the geometry


def report_photos_add(*, report: Report, contents: list[bytes]) -> list[Photo]:
    """Photos a reporter sends after filing (a reply on their channel), checked and cleaned
    like those sent with the report; beyond the report's limit they are not kept."""
    room = max(0, MAX_PHOTOS - report.photos.count())
    return [_photo_store(report, photo_clean(content, name=f"photo-{index + 1}"))
            for index, content in enumerate(contents[:room])]
