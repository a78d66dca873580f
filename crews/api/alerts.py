"""Public alert feeds of storm modes: CAP 1.2 messages and an Atom feed (no login)."""

from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from crews.cap import CAP_CONTENT_TYPE, atom_feed, cap_document
from crews.selectors_storm import emergency_mode_list_feed

FEED_MAX = 50


@require_GET
@cache_control(max_age=60, public=True)
def cap_latest(request):
    """The newest storm mode's CAP message (an Alert, or the Cancel once it is over)."""
    mode = emergency_mode_list_feed().first()
    if mode is None:
        raise Http404(_("There is no storm alert."))
    return HttpResponse(cap_document(mode), content_type=CAP_CONTENT_TYPE)


@require_GET
@cache_control(max_age=60, public=True)
def cap_one(request, pk: int):
    mode = emergency_mode_list_feed().filter(pk=pk).first()
    if mode is None:
        raise Http404(_("There is no storm alert."))
    return HttpResponse(cap_document(mode), content_type=CAP_CONTENT_TYPE)


@require_GET
@cache_control(max_age=60, public=True)
def feed_atom(request):
    modes = list(emergency_mode_list_feed()[:FEED_MAX])
    body = atom_feed(modes, self_url=request.build_absolute_uri(),
                     cap_url=lambda m: request.build_absolute_uri(
                         reverse("alerts-cap-one", args=[m.pk])))
    return HttpResponse(body, content_type="application/atom+xml; charset=utf-8")
