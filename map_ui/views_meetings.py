"""A meeting's summary for the residents: the link in their summary message (no account; the
address is the meeting's unguessable token). Printable in Arabic, Persian or English, and
as a PDF. It shows the needs and where they stand, never a resident's name or contact."""

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache

from incidents.models import Meeting
from incidents.selectors_meetings import meeting_summary, stage_label

LANGUAGES = ("ar", "fa", "en")


def meeting_summary_html(meeting: Meeting, language: str) -> str:
    with translation.override(language):
        summary = meeting_summary(meeting=meeting)
        for row in summary["needs"]:
            row["stage_text"] = (_("referred to %(agency)s") % {"agency": row["referred_to"]}
                                 if row["referred_to"] else
                                 f"{stage_label(row['stage'])} ({row['status_label']})")
        where = meeting.district.name_in(language) if meeting.district_id else meeting.sector
        bodies = [d.name_in(language) for d in meeting.departments.order_by("code")]
        bodies += [a.name_in(language) for a in meeting.agencies.order_by("code")]
        facts = " · ".join(filter(None, [
            meeting.place, ngettext("%(count)s resident came", "%(count)s residents came",
                                    meeting.attendance) % {"count": meeting.attendance},
            _("Present: %(bodies)s") % {"bodies": ", ".join(bodies)} if bodies else ""]))
        return render_to_string("incidents/meeting_summary.html", {
            "lang": language, "dir": "rtl" if translation.get_language_bidi() else "ltr",
            "title": _("Meeting of %(where)s, %(date)s") % {"where": where,
                                                            "date": summary["date"]},
            "facts": facts, "counts": summary["counts"], "needs": summary["needs"],
            "minutes": meeting.minutes,
            "generated": _("Where each need stands on %(date)s.") % {
                "date": formats.date_format(timezone.localdate(), "DATE_FORMAT")}})


@never_cache
def meeting_summary_page(request, token):
    language = request.GET.get("lang") or (translation.get_language() or "en")[:2]
    if language not in LANGUAGES:
        language = "en"
    meeting = get_object_or_404(Meeting, token=token)
    html = meeting_summary_html(meeting, language)
    if request.GET.get("format") == "pdf":
        from incidents.stats.report.render import html_to_pdf

        response = HttpResponse(html_to_pdf(html), content_type="application/pdf")
        response["Content-Disposition"] = (f'attachment; filename="meeting-{meeting.pk}-'
                                           f'{language}.pdf"')
        return response
    if request.GET.get("format") not in (None, "", "html"):
        raise Http404
    return HttpResponse(html, content_type="text/html; charset=utf-8",
                        headers={"Content-Language": language})
