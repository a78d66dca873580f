"""The report by mail to the managers, on the 1st of each month (incidents.tasks)."""

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from gis.models import ServiceArea
from incidents.stats.report import Rendered, languages, monthly_report


def manager_language(user) -> str:
    """The language a manager reads: theirs where it is known (RASAD_REPORT_USER_LANGUAGES,
    or a `language` attribute of the user), else RASAD_REPORT_LANGUAGE."""
    known = (settings.RASAD_REPORT_USER_LANGUAGES.get(user.get_username(), "")
             or getattr(user, "language", "") or "")
    return known if known in languages() else settings.RASAD_REPORT_LANGUAGE


def report_managers():
    """Who gets the report by mail: active users with the manager role and an address."""
    from django.contrib.auth import get_user_model

    from ops.roles import Role

    return (get_user_model().objects.filter(groups__name=Role.MANAGER, is_active=True)
            .exclude(email="").distinct().order_by("pk"))


def monthly_report_mail(*, month: str, resend: bool = False) -> dict:
    """E-mail the report of `month` ("YYYY-MM") to every manager: one mail each, in their
    language, with the PDF of each service area attached. Once per manager and month (a
    task delivered twice sends nothing more) unless `resend`; a mail that fails is not
    counted as sent, so a retry sends it."""
    from django.core.cache import cache
    from django.core.mail import EmailMessage

    areas = list(ServiceArea.objects.order_by("pk"))
    if not areas:
        return {"month": month, "sent": 0}
    built: dict[str, list[Rendered]] = {}
    sent = 0
    for user in report_managers():
        language = manager_language(user)
        key = f"monthly-report-mail:{month}:{user.pk}"
        if not cache.add(key, 1, timeout=40 * 86400) and not resend:
            continue
        try:
            if language not in built:
                built[language] = [monthly_report(area=area, month=month, language=language,
                                                  fmt="pdf") for area in areas]
            reports = built[language]
            with translation.override(language):
                body = [_("Hello %(name)s,") % {"name": user.get_full_name()
                                                or user.get_username()}, ""]
                for rendered in reports:
                    body += [rendered.title, *(f"- {line}" for line in rendered.summary), ""]
                body.append(_("The full report is attached (PDF)."))
                message = EmailMessage(subject=reports[0].title if len(reports) == 1 else
                                       _("Monthly reports: %(month)s") % {"month": month},
                                       body="\n".join(body), to=[user.email],
                                       headers={"Auto-Submitted": "auto-generated"})
            for rendered in reports:
                message.attach(rendered.filename, rendered.content, "application/pdf")
            message.send()
        except Exception:
            cache.delete(key)
            raise
        sent += 1
    return {"month": month, "sent": sent}
