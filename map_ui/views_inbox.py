"""The verification inbox, the call-taker's desk and town-hall meetings: console pages for
intake agents.

All are shells over the REST API (/api/v1/inbox/…, /api/v1/desk/caller/, /api/v1/geocode/,
/api/v1/incidents/nearby/, /api/v1/reports/, /api/v1/incidents/<id>/join/); the inbox also
listens on /ws/live/ for `inbox.updated` events."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from gis.models import District
from incidents.models import Channel, InboxItem, Provider
from incidents.selectors import category_list_active
from map_ui.views import page_context
from ops.roles import Role, user_has_role


def _categories(language=None) -> list[dict]:
    return [{"code": c.code, "name": c.name_in(language), "group": c.group,
             "questions": [{"code": a.code, "datatype": a.datatype, "required": a.required,
                            "label": a.description_in(language),
                            "values": [{"key": v["key"],
                                        "name": v.get(f"name_{(language or 'en')[:2]}")
                                        or v.get("name_en") or v["key"]} for v in a.values],
                            "min": a.min_value, "max": a.max_value}
                           for a in c.attributes.all()]}
            for c in category_list_active()]


def _staff_page(request, template: str, zoom: int, **config):
    if not user_has_role(request.user, *Role.INBOX_READ):
        raise PermissionDenied
    from django.utils import translation

    context = page_context(request, zoom=zoom)
    context["config"] |= {"map": context["map"].name,
                          "can_act": user_has_role(request.user, *Role.INBOX_ACT),
                          "username": request.user.get_username(),
                          "categories": _categories(translation.get_language()), **config}
    return render(request, template, context)


@never_cache
@login_required
def inbox(request):
    """Messages the bot could not file, newest first; file them or answer them."""
    return _staff_page(
        request, "map_ui/inbox.html", zoom=14,
        states=[{"code": s.value, "name": str(s.label)} for s in InboxItem.State],
        reasons=[{"code": r.value, "name": str(r.label)} for r in InboxItem.Reason],
        providers=[{"code": p.value, "name": str(p.label)} for p in Provider],
        urls={"list": "/api/v1/inbox/", "live": "/ws/live/", "geocode": "/api/v1/geocode/",
              "nearby": "/api/v1/incidents/nearby/"})


@never_cache
@login_required
def desk(request):
    """The hotline and service-centre desk: the caller, the place, the problem; keyboard
    first."""
    return _staff_page(
        request, "map_ui/desk.html", zoom=15,
        # The report and "me too" APIs take the phone and service-centre channels from
        # intake agents only (incidents/api/views.py): a dispatcher here looks up.
        can_act=user_has_role(request.user, Role.INTAKE_AGENT),
        channels=[{"code": c.value, "name": str(c.label)}
                  for c in (Channel.PHONE, Channel.SERVICE_CENTRE)],
        urls={"caller": "/api/v1/desk/caller/", "geocode": "/api/v1/geocode/",
              "nearby": "/api/v1/incidents/nearby/", "reports": "/api/v1/reports/",
              "join": "/api/v1/incidents/{id}/join/"})


@never_cache
@login_required
def meetings(request):
    """Town-hall meetings: record one, and the needs its residents raise, one line each."""
    from incidents.api.meetings import MEETING_ROLES
    from incidents.models import Agency, Department, MeetingNeed

    if not user_has_role(request.user, *MEETING_ROLES):
        raise PermissionDenied
    from django.utils import translation

    language = translation.get_language()
    context = page_context(request, zoom=14)
    area = context["config"].get("area_bounds")
    context["config"] |= {
        "map": context["map"].name, "username": request.user.get_username(),
        "categories": _categories(language), "has_area": bool(area),
        "districts": [{"code": d.code, "name": d.name_in(language)}
                      for d in District.objects.order_by("code")],
        "departments": [{"code": d.code, "name": d.name_in(language)}
                        for d in Department.objects.order_by("code")],
        "agencies": [{"code": a.code, "name": a.name_in(language)}
                     for a in Agency.objects.filter(active=True).order_by("code")],
        "need_statuses": [{"code": s.value, "name": str(s.label)} for s in MeetingNeed.Status],
        "urls": {"meetings": "/api/v1/meetings/", "geocode": "/api/v1/geocode/"}}
    return render(request, "map_ui/meetings.html", context)
