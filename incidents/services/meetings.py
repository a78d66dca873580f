"""Town-hall meetings: recording one, the needs residents raise in it (one line each), the
status of district needs, and the summary sent afterwards to the residents who left a
contact.

A need at a place goes through the same intake as any report (report_submit, channel
`meeting`): validation, district, clustering into an incident, its status flow and its
messages. A district need (a new school, a park) has a status of its own."""

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from gis.models import District, ServiceArea
from incidents.exceptions import ValidationFailed
from incidents.models import (
    Agency,
    Category,
    ChannelContact,
    Department,
    Meeting,
    MeetingNeed,
    MeetingPhoto,
    Notification,
    Report,
)
from incidents.models.core import Channel
from incidents.photos import photo_clean
from incidents.services.intake import ReportInput, phone_normalize, report_submit
from incidents.services.notify import task_enqueue


@dataclass
class MeetingInput:
    held_at: datetime | None
    place: str
    district_code: str = ""
    sector: str = ""
    department_codes: tuple[str, ...] = ()
    agency_codes: tuple[str, ...] = ()
    attendance: int = 0
    minutes: str = ""


def _codes_to(model, codes: tuple[str, ...], field: str, errors: dict, message: str) -> list:
    found = {o.code: o for o in model.objects.filter(code__in=codes)}
    unknown = [c for c in codes if c not in found]
    if unknown:
        errors.setdefault(field, []).append(message % {"codes": ", ".join(unknown)})
    return [found[c] for c in codes if c in found]


@transaction.atomic
def meeting_create(*, area: ServiceArea, data: MeetingInput, by) -> Meeting:
    """Record a meeting; ValidationFailed (nothing stored) names what is wrong."""
    errors: dict[str, list[str]] = {}
    district = None
    if data.district_code:
        district = District.objects.filter(area=area, code=data.district_code).first()
        if district is None:
            errors["district"] = [_("There is no district “%(code)s” in this city.")
                                  % {"code": data.district_code}]
    elif not data.sector.strip():
        errors["district"] = [_("Say which district (or sector) the meeting was for.")]
    if data.held_at is None:
        errors["held_at"] = [_("Say when the meeting was held.")]
    if not data.place.strip():
        errors["place"] = [_("Say where the meeting was held.")]
    departments = _codes_to(Department, data.department_codes, "departments", errors,
                            _("Unknown departments: %(codes)s."))
    agencies = _codes_to(Agency, data.agency_codes, "agencies", errors,
                         _("Unknown outside agencies: %(codes)s."))
    if errors:
        raise ValidationFailed(errors)
    meeting = Meeting.objects.create(
        area=area, district=district, sector=data.sector.strip(), held_at=data.held_at,
        place=data.place.strip(), attendance=max(0, data.attendance),
        minutes=data.minutes.strip(), created_by=by)
    meeting.departments.set(departments)
    meeting.agencies.set(agencies)
    return meeting


@dataclass
class NeedInput:
    text: str
    category_code: str = ""
    lon: float | str | None = None
    lat: float | str | None = None
    address: str = ""
    district_need: bool = False
    resident_name: str = ""
    resident_phone: str = ""
    resident_email: str = ""
    language: str = "en"
    answered: bool = False
    answer: str = ""


@transaction.atomic
def meeting_need_add(*, meeting: Meeting, data: NeedInput, by) -> MeetingNeed:
    """One need raised in the meeting. At a place: a report with channel `meeting` (filed as
    any report is: the resident gets its tracking code and its status changes); otherwise a
    district need. ValidationFailed, nothing stored, when the text, the category or the
    place is missing or wrong."""
    text = data.text.strip()
    if not text:
        raise ValidationFailed({"text": [_("Write down what the resident asked for.")]})
    if data.district_need:
        category = None
        if data.category_code:
            category = Category.objects.filter(code=data.category_code, active=True).first()
            if category is None:
                raise ValidationFailed({"category": [
                    _("Unknown category “%(code)s”.") % {"code": data.category_code}]})
        district = meeting.district
        if district is None:
            raise ValidationFailed({"district_need": [
                _("A district need needs the meeting's district; this meeting is a "
                  "sector's: record the need at a place.")]})
        phone = _phone(data.resident_phone)
        return MeetingNeed.objects.create(
            meeting=meeting, category=category, district=district, text=text,
            answered=data.answered, answer=data.answer.strip(),
            resident_name=data.resident_name.strip(), resident_phone=phone,
            resident_email=data.resident_email.strip().lower(), language=data.language,
            created_by=by)
    errors = {}
    if not data.category_code:
        errors["category"] = [_("Pick the category of the problem.")]
    if data.lon in (None, "") and data.lat in (None, ""):
        errors["location"] = [_("Put the problem on the map or name its street; or record it "
                                "as a district need.")]
    if errors:
        raise ValidationFailed(errors)
    result = report_submit(data=ReportInput(
        category_code=data.category_code, lon=data.lon, lat=data.lat, address=data.address,
        description=text, channel=Channel.MEETING, language=data.language,
        reporter_name=data.resident_name, reporter_email=data.resident_email,
        reporter_phone=data.resident_phone), submitted_by=by)
    report = result.report
    return MeetingNeed.objects.create(
        meeting=meeting, report=report, category=report.category, district=report.district,
        text=text, answered=data.answered, answer=data.answer.strip(),
        resident_name=report.reporter_name, resident_phone=report.reporter_phone,
        resident_email=report.reporter_email, language=report.language, created_by=by)


def _phone(raw: str) -> str:
    if not raw.strip():
        return ""
    try:
        return phone_normalize(raw)
    except ValueError as exc:
        raise ValidationFailed({"resident_phone": [
            _("“%(value)s” is not a valid phone number; write it with the country code, "
              "like +358401234567.") % {"value": raw}]}) from exc


def district_need_status_set(*, need: MeetingNeed, status: str, answer: str = "",
                             by) -> MeetingNeed:
    """Move a district need on (a report's status follows its incident instead)."""
    if need.report_id is not None:
        raise ValidationFailed({"status": [
            _("This need is a report: its status follows its incident.")]})
    if status not in MeetingNeed.Status.values:
        raise ValidationFailed({"status": [
            _("Unknown status “%(value)s”; use one of: %(choices)s.")
            % {"value": status, "choices": ", ".join(MeetingNeed.Status.values)}]})
    need.status = status
    if answer.strip():
        need.answer = answer.strip()
    need.save(update_fields=["status", "answer", "updated_at"])
    return need


def meeting_photo_add(*, meeting: Meeting, name: str, content: bytes) -> MeetingPhoto:
    """A photo of the meeting, checked and cleaned as a report's photo is."""
    clean = photo_clean(content, name=name)
    photo = MeetingPhoto(meeting=meeting, token=secrets.token_hex(16), width=clean.width,
                         height=clean.height)
    photo.image.save("photo.jpg", ContentFile(clean.image), save=False)
    photo.save()
    return photo


def _contact_for(need: MeetingNeed) -> ChannelContact | None:
    """Where the resident is reached: the report's contact (as its status messages find
    it), or the email or phone they left."""
    if need.report_id is not None:
        from incidents.services.notify import _contacts_for

        return _contacts_for([Report.objects.get(pk=need.report_id)]).get(need.report_id)
    if need.resident_email:
        return ChannelContact.objects.get_or_create(provider="email",
                                                    external_id=need.resident_email)[0]
    if need.resident_phone:
        return ChannelContact.objects.get_or_create(
            provider="sms", external_id=need.resident_phone,
            defaults={"phone": need.resident_phone})[0]
    return None


def meeting_summary_send(*, meeting: Meeting) -> int:
    """The meeting's summary to every resident who left a contact, in their language, once
    each (a resident with several needs gets one message listing them, however often this
    runs). Returns the messages queued now."""
    from incidents.selectors_meetings import meeting_summary
    from incidents.tasks import notification_send_task

    residents: dict[int, tuple[ChannelContact, list[MeetingNeed]]] = {}
    for need in meeting.needs.order_by("pk"):
        contact = _contact_for(need)
        if contact is None or contact.blocked or contact.opted_out_at is not None:
            continue
        residents.setdefault(contact.pk, (contact, []))[1].append(need)
    queued = []
    for contact, needs in residents.values():
        language = needs[0].language or "en"
        with translation.override(language):
            summary = meeting_summary(meeting=meeting)
            status = {row["id"]: row["status_label"] for row in summary["needs"]}
            subject = _("The meeting of %(date)s: what was raised") % {"date": summary["date"]}
            lines = [subject, "",
                     _("Needs raised: %(raised)s; answered on the spot: %(answered)s; referred "
                       "to other bodies: %(referred)s; resolved since: %(resolved)s.")
                     % summary["counts"], "", _("What you raised:")]
            lines += [f"- {need.text}: {status[need.pk]}" for need in needs]
            lines += ["", _("The whole summary: %(url)s") % {
                "url": f"{settings.RASAD_PUBLIC_URL}/meetings/{meeting.token}/"}]
        notification, created = Notification.objects.get_or_create(
            dedupe_key=f"meeting:{meeting.pk}:{contact.pk}",
            defaults={"contact": contact, "kind": Notification.Kind.MEETING,
                      "channel": contact.provider, "recipient": contact.external_id,
                      "language": language, "subject": subject, "body": "\n".join(lines),
                      "next_attempt_at": timezone.now()})
        if created:
            queued.append(notification.pk)
    Meeting.objects.filter(pk=meeting.pk).update(summary_sent_at=timezone.now())
    for pk in queued:
        transaction.on_commit(lambda pk=pk: task_enqueue(notification_send_task,
                                                         notification_id=pk))
    return len(queued)
