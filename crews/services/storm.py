"""Storm mode: a manager switches a service area into an emergency mode for a hazard.

While a mode is active (crews.selectors_storm) the citizen page and the chatbot list the
hazard's categories first under a banner, intake refuses the paused categories, and the
hazard's open incidents weigh `priority_bonus` more. The mode ends by itself at `ends_at`:
readers check the time, and `emergency_modes_sweep` (beat) records the end and puts the
priorities back.
"""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crews.models import EmergencyMode
from crews.selectors_storm import storm_cache_clear, storm_priority_bonuses
from gis.models import ServiceArea
from incidents.events import event_publish_on_commit
from incidents.exceptions import Conflict, ValidationFailed
from incidents.models import Category, Incident, Status
from incidents.priority import priority_score

logger = logging.getLogger(__name__)

MAX_MESSAGE = 1000
MAX_BONUS = 50


def _categories(codes: list[str], field: str, errors: dict) -> list[Category]:
    codes = list(dict.fromkeys(str(code) for code in codes))
    found = {c.code: c for c in Category.objects.filter(code__in=codes, active=True)}
    unknown = [code for code in codes if code not in found]
    if unknown:
        errors.setdefault(field, []).append(
            _("Unknown categories: %(codes)s.") % {"codes": ", ".join(unknown)})
    return [found[code] for code in codes if code in found]


@transaction.atomic
def emergency_mode_start(*, area: ServiceArea, hazard: str, ends_at: datetime,
                         starts_at: datetime | None = None, category_codes: list[str],
                         paused_codes: list[str] | None = None, messages: dict[str, str],
                         pause_messages: dict[str, str] | None = None,
                         priority_bonus: int = 20, by=None) -> EmergencyMode:
    """Store a mode, or raise ValidationFailed (nothing stored) or Conflict when it overlaps
    another live mode of the area (the exclusion constraint decides, so two managers at the
    same moment cannot both succeed)."""
    now = timezone.now()
    starts_at = starts_at or now
    errors: dict[str, list[str]] = {}
    if hazard not in EmergencyMode.Hazard.values:
        errors.setdefault("hazard", []).append(
            _("“%(value)s” is not a hazard; use one of: %(allowed)s.")
            % {"value": hazard, "allowed": ", ".join(EmergencyMode.Hazard.values)})
    if ends_at <= now:
        errors.setdefault("ends_at", []).append(_("The end time is in the past."))
    elif ends_at <= starts_at:
        errors.setdefault("ends_at", []).append(_("The end time must be after the start time."))
    if not category_codes:
        errors.setdefault("categories", []).append(_("Choose at least one category of the hazard."))
    categories = _categories(category_codes, "categories", errors)
    paused = _categories(paused_codes or [], "paused_categories", errors)
    both = sorted({c.code for c in categories} & {c.code for c in paused})
    if both:
        errors.setdefault("paused_categories", []).append(
            _("The hazard's own categories cannot be paused: %(codes)s.")
            % {"codes": ", ".join(both)})
    messages = {k: (v or "").strip() for k, v in (messages or {}).items()}
    pause_messages = {k: (v or "").strip() for k, v in (pause_messages or {}).items()}
    if not any(messages.get(lang) for lang in ("ar", "fa", "en")):
        errors.setdefault("message", []).append(_("Write the message to citizens."))
    for text in [*messages.values(), *pause_messages.values()]:
        if len(text) > MAX_MESSAGE:
            errors.setdefault("message", []).append(
                _("A message is limited to %(n)s characters.") % {"n": MAX_MESSAGE})
            break
    if not 0 <= priority_bonus <= MAX_BONUS:
        errors.setdefault("priority_bonus", []).append(
            _("The priority bonus is between 0 and %(n)s.") % {"n": MAX_BONUS})
    if errors:
        raise ValidationFailed(errors)
    first = next(messages[lang] for lang in ("en", "ar", "fa") if messages.get(lang))
    pause_first = next((pause_messages[lang] for lang in ("en", "ar", "fa")
                        if pause_messages.get(lang)), "")
    try:
        with transaction.atomic():
            mode = EmergencyMode.objects.create(
                area=area, hazard=hazard, starts_at=starts_at, ends_at=ends_at,
                priority_bonus=priority_bonus, created_by=by,
                message_en=messages.get("en") or first, message_ar=messages.get("ar", ""),
                message_fa=messages.get("fa", ""),
                pause_message_en=pause_messages.get("en") or pause_first,
                pause_message_ar=pause_messages.get("ar", ""),
                pause_message_fa=pause_messages.get("fa", ""))
    except IntegrityError as exc:
        if "emergency_no_overlap_per_area" not in str(exc):
            raise
        raise Conflict(_("Another storm mode of this area overlaps that time; end it first."),
                       field="starts_at") from exc
    mode.categories.set(categories)
    mode.paused_categories.set(paused)
    _changed(mode, kind="storm.started")
    return mode


@transaction.atomic
def emergency_mode_cancel(*, mode: EmergencyMode, by=None) -> EmergencyMode:
    """End a mode now (or withdraw one still to come). A mode already over is a Conflict."""
    mode = EmergencyMode.objects.select_for_update().get(pk=mode.pk)
    now = timezone.now()
    if mode.cancelled_at is not None or mode.ends_at <= now:
        raise Conflict(_("This storm mode is already over."))
    mode.cancelled_at = now
    mode.cancelled_by = by
    mode.save(update_fields=["cancelled_at", "cancelled_by", "updated_at"])
    _changed(mode, kind="storm.ended")
    return mode


def emergency_modes_sweep(*, now: datetime | None = None) -> int:
    """Record the end of modes past `ends_at` and keep the priorities of the areas' hazard
    categories in step with the modes (raised while active, back once over). Idempotent:
    run by beat every minute. Returns how many modes ended."""
    now = now or timezone.now()
    ended = 0
    for mode in (EmergencyMode.objects.filter(ended_at__isnull=True, cancelled_at__isnull=True,
                                              ends_at__lte=now).order_by("pk")):
        with transaction.atomic():
            updated = EmergencyMode.objects.filter(pk=mode.pk, ended_at__isnull=True).update(
                ended_at=now, updated_at=now)
            if updated:
                ended += 1
                event_publish_on_commit(kind="storm.ended", storm_mode_id=mode.pk,
                                        area_id=mode.area_id)
                logger.info("storm mode %s ended at %s", mode.pk, mode.ends_at)
        if updated:
            storm_priorities_refresh(mode=mode, now=now)
    storm_cache_clear()
    for mode in EmergencyMode.objects.filter(starts_at__lte=now, ends_at__gt=now,
                                             cancelled_at__isnull=True):
        storm_priorities_refresh(mode=mode, now=now)
    return ended


def storm_priorities_refresh(*, mode: EmergencyMode, now: datetime | None = None) -> int:
    """Recompute the priority of the open incidents of the mode's categories in its area with
    whatever bonus the active modes give now (none once the mode is over)."""
    now = now or timezone.now()
    storm_cache_clear()
    bonuses = storm_priority_bonuses(now=now)
    incidents = list(Incident.objects.open()
                     .filter(area_id=mode.area_id, category__in=mode.categories.all())
                     .select_related("category")
                     .only("pk", "area_id", "category_id", "severity", "report_count",
                           "first_reported_at", "priority", "status", "category__sla_hours"))
    dirty = []
    for incident in incidents:
        score = priority_score(
            severity=incident.severity, report_count=incident.report_count,
            first_reported_at=incident.first_reported_at, sla_hours=incident.category.sla_hours,
            now=now, reopened=incident.status == Status.REOPENED,
            emergency_bonus=bonuses.get((incident.area_id, incident.category_id), 0.0))
        if score != incident.priority:
            incident.priority = score
            dirty.append(incident)
    Incident.objects.bulk_update(dirty, ["priority"])
    return len(dirty)


def _changed(mode: EmergencyMode, *, kind: str) -> None:
    storm_cache_clear()
    mode_pk = mode.pk

    def after() -> None:
        storm_priorities_refresh(mode=EmergencyMode.objects.get(pk=mode_pk))

    transaction.on_commit(after)
    event_publish_on_commit(kind=kind, storm_mode_id=mode_pk, area_id=mode.area_id)
