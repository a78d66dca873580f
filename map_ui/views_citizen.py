"""Citizen pages: tracking a report by its code, and the service worker that makes the
citizen and crew pages work offline. The report page itself is `map_ui.views.home`."""

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
from django.views.decorators.http import require_GET

from incidents import selectors
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
