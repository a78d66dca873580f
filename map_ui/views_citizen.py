"""Citizen pages: tracking a report by its code, the satisfaction survey a reporter's link
opens, and the service worker that makes the citizen and crew pages work offline. The report
page itself is `map_ui.views.home`."""

import hashlib
import json
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from incidents import selectors
from incidents.exceptions import DomainError, NotFound, ValidationFailed
from incidents.services.survey import (
    COMMENT_MAX,
    RATINGS,
    outcome_message,
    question_fixed,
    rating_label,
    survey_answer,
    survey_check_open,
)
from map_ui.maps import local_assets
from map_ui.views import page_context

STATIC_DIR = Path(__file__).resolve().parent / "static"
SW_SOURCE = "map_ui/js/sw.js"
# The app shell: what the citizen pages need to open with no connection.
SHELL_STATIC = ("map_ui/css/app.css", "map_ui/js/rasad.js", "map_ui/js/report.js",
                "map_ui/js/track.js", "vendor/leaflet/images/marker-icon.png",
                "vendor/leaflet/images/marker-icon-2x.png",
                "vendor/leaflet/images/marker-shadow.png", "vendor/leaflet/images/layers.png",
                "vendor/leaflet/images/layers-2x.png")
# Written by the crew engineer; precached when present so the crew view opens offline.
CREW_STATIC = ("map_ui/js/crew.js", "map_ui/css/crew.css")


def _shell_static() -> list[str]:
    """Static paths (relative to STATIC_URL) of the app shell, crew files and category icons."""
    css, js = local_assets()
    prefix = settings.STATIC_URL
    vendor = [url[len(prefix):] for url in (*css, *js) if url.startswith(prefix)]
    icons = sorted(f"map_ui/icons/{p.name}" for p in (STATIC_DIR / "map_ui" / "icons").glob("*.svg"))
    crew = [path for path in CREW_STATIC if finders.find(path)]
    return [*SHELL_STATIC, *vendor, *icons, *crew]


def _offline_messages() -> dict[str, str]:
    """The service worker's last-resort page, in every language (it cannot ask Django)."""
    messages = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            messages[code] = _("You are offline and this page was not saved on this phone. "
                               "Open it again when you are connected.")
    return messages


_sw_cache: dict[tuple, str] = {}


def _sw_body() -> str:
    """sw.js with its configuration in front: the files to precache and a version that
    changes whenever one of them does, so phones pick up new code on the next visit."""
    paths = [SW_SOURCE, *_shell_static()]
    files = [(path, finders.find(path)) for path in paths]
    stamp = tuple((path, Path(found).stat().st_mtime_ns if found else 0) for path, found in files)
    if stamp in _sw_cache:
        return _sw_cache[stamp]
    digest = hashlib.sha256()
    for path, found in files:
        digest.update(path.encode())
        if found:
            digest.update(Path(found).read_bytes())
    config = {
        "version": digest.hexdigest()[:16],
        "pages": [reverse("home"), reverse("track-lookup")],
        "static": [static(path) for path in paths[1:]],
        # Fetched at install when the user may open them (a signed-in crew member); a
        # redirect to the login page is not kept.
        "warm": ["/crew/", "/api/v1/crew/today/", reverse("manifest")],
        "offline": _offline_messages(),
    }
    source = Path(files[0][1]).read_text(encoding="utf-8")
    body = f"self.RASAD_SW = {json.dumps(config, ensure_ascii=False)};\n{source}"
    _sw_cache.clear()
    _sw_cache[stamp] = body
    return body


@require_GET
def service_worker(request):
    """The service worker at the site root, so its scope can be the whole site."""
    response = HttpResponse(_sw_body(), content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    # Always revalidated: a phone must not keep running yesterday's worker.
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def track_lookup(request):
    """Type a tracking code; also lists the reports sent from this phone (from the page)."""
    code = request.GET.get("code", "").strip()
    if code:
        report = selectors.report_get_by_tracking_code(code)
        if report is not None:
            return redirect("track-detail", code=report.tracking_code)
        return _not_found(request, code)
    return render(request, "map_ui/track_lookup.html", {"config": {}})


def _not_found(request, code: str):
    return render(request, "map_ui/track_lookup.html",
                  {"config": {}, "not_found": code[:40]}, status=404)


@require_GET
def track_detail(request, code: str):
    """One report's status and public timeline; the page reads the tracking API."""
    report = selectors.report_get_by_tracking_code(code)
    if report is None:
        return _not_found(request, code)
    if report.tracking_code != code:
        return redirect("track-detail", code=report.tracking_code)
    context = page_context(request, zoom=16, code=report.tracking_code,
                           reopen_days=settings.RASAD_REOPEN_DAYS)
    context["config"]["map"] = context["map"].name
    context["code"] = report.tracking_code
    return render(request, "map_ui/track.html", context)


def _survey_problem_title(code: str) -> str:
    return {"not_found": _("We could not find this survey"),
            "already_answered": _("You have already answered"),
            "expired": _("This survey has closed")}.get(code, _("This survey cannot be answered"))


def _survey_render(request, survey, *, status: int = 200, problem: DomainError | None = None,
                   errors: dict | None = None, values=None, outcome: str = ""):
    report = survey.report if survey is not None else None
    context = {
        "config": {},
        "survey": survey,
        "code": report.tracking_code if report else "",
        "category": report.category.name_in() if report else "",
        "resolved_at": report.incident.resolved_at if report else None,
        "question": question_fixed(survey) if survey is not None else "",
        "rating_question": _("How satisfied are you with how the city handled your report?"),
        "ratings": [(n, rating_label(n)) for n in RATINGS],
        "comment_max": COMMENT_MAX,
        "errors": errors or {},
        "values": values or {},
        "outcome": outcome,
        "outcome_message": outcome_message(outcome, report.tracking_code) if outcome else "",
    }
    if problem is not None:
        context["problem"] = {"code": problem.code, "title": _survey_problem_title(problem.code),
                              "message": problem.message}
    response = render(request, "map_ui/survey.html", context, status=status)
    # The link is the reporter's own: no shared cache keeps their page. (Referrers leave
    # for this site only: SecurityMiddleware's same-origin policy.)
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
def survey_page(request, token: str):
    """The satisfaction survey a reporter's link opens, with no account: is it fixed, how
    satisfied, a comment; answered once, with the form posted back here (CSRF as every form).
    In the language the link was sent in, unless the reader chose one. 404 for an unknown
    link, 409 once answered, 410 once closed, 400 for an answer that cannot be taken."""
    survey = selectors.survey_get_by_token(token)
    languages = {code for code, _name in settings.LANGUAGES}
    if survey is not None and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES and \
            survey.report.language in languages:
        translation.activate(survey.report.language)
        request.LANGUAGE_CODE = survey.report.language
    try:
        survey_check_open(survey)
    except NotFound as exc:  # never sent: nothing of its report is shown
        return _survey_render(request, None, status=exc.http_status, problem=exc)
    except DomainError as exc:
        return _survey_render(request, survey, status=exc.http_status, problem=exc)
    if request.method == "GET":
        return _survey_render(request, survey)
    data = request.POST
    try:
        result = survey_answer(token=token, fixed={"yes": True, "no": False}.get(data.get("fixed")),
                               rating=data.get("rating"), comment=data.get("comment", ""))
    except ValidationFailed as exc:
        return _survey_render(request, survey, status=400, errors=exc.errors, values=data)
    except DomainError as exc:  # answered or closed meanwhile
        return _survey_render(request, survey, status=exc.http_status, problem=exc)
    return _survey_render(request, result.survey, outcome=result.outcome)
