"""Citizens confirm a fix or reopen it, with their tracking code."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.exceptions import Conflict, ValidationFailed
from incidents.models import Incident, Report, Status
from incidents.services.workflow import incident_transition


def _done_at(incident: Incident):
    return incident.closed_at or incident.resolved_at


def report_confirm_fix(*, report: Report) -> Incident:
    incident = Incident.objects.get(pk=report.incident_id)
    if incident.status == Status.CLOSED:
        return incident
    if incident.status != Status.RESOLVED:
        raise Conflict(_("This problem is not marked as fixed yet (it is %(status)s).")
                       % {"status": Status(incident.status).label})
    return incident_transition(incident=incident, to=Status.CLOSED, by=None, public=True,
                               note=_("The reporter confirmed the fix (%(code)s).")
                               % {"code": report.tracking_code})


def report_reopen(*, report: Report, reason: str) -> Incident:
    incident = Incident.objects.get(pk=report.incident_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": [_("Tell us what is still wrong.")]})
    if incident.status not in (Status.RESOLVED, Status.CLOSED):
        raise Conflict(_("Only a problem marked as fixed can be reopened (this one is "
                         "%(status)s).") % {"status": Status(incident.status).label})
    days = settings.RASAD_REOPEN_DAYS
    done_at = _done_at(incident)
    if done_at and timezone.now() - done_at > timedelta(days=days):
        raise Conflict(_("It is more than %(days)s days since this was fixed; please file a "
                         "new report.") % {"days": days})
    return incident_transition(incident=incident, to=Status.REOPENED, by=None, public=True,
                               note=_("Reopened by the reporter: %(reason)s")
                               % {"reason": reason[:1000]})
