"""Citizen pages of area alerts: subscribe (a district, a point with a radius on the map, or
the whole city), confirm, manage and unsubscribe by the link's token, the notices of a
district as a banner; and the Atom feed of a district's incidents. No account needed; plain
forms posted back here (CSRF as every form), so they work without JavaScript too."""

from django.contrib.syndication.views import Feed
from django.http import Http404
from django.shortcuts import render
from django.utils import translation
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from gis.models import District, ServiceArea
from incidents import selectors
from incidents.exceptions import DomainError, NotFound, ValidationFailed
from incidents.models import AlertSubscription
from incidents.selectors_alerts import (
    alert_subscription_get_by_token,
    district_get_by_code,
    incident_list_for_feed,
    notice_list_active,
)
from incidents.services.alerts import (
    SubscriptionInput,
    alert_subscription_confirm,
    alert_subscription_create,
    alert_subscription_unsubscribe,
    alert_subscription_update,
)
from map_ui.views import page_context


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _notices(district: District | None, language: str) -> list[dict]:
    notices = []
    for notice in notice_list_active(district=district):
        title, body = notice.text_in(language)
        notices.append({"pk": notice.pk, "kind": notice.kind, "title": title, "body": body,
                        "ends_at": notice.ends_at})
    return notices


def alerts_page(request, district_code: str = ""):
    """GET: the notices of the district (or the city) and the subscription form. POST: the
    form; a refusal re-renders it with the reason (400) and stores nothing."""
    language = (translation.get_language() or "en")[:2]
    district = district_get_by_code(district_code) if district_code else None
    if district_code and district is None:
        raise Http404(_("Unknown district."))
    area = district.area if district else ServiceArea.objects.order_by("pk").first()
    context = page_context(request, zoom=13)
    context["config"]["map"] = context["map"].name
    context |= {
        "district": district, "notices": _notices(district, language),
        "districts": list(area.districts.order_by("code")) if area else [],
        "categories": list(selectors.category_list_active()),
        "message_languages": [("ar", "العربية"), ("fa", "فارسی"), ("en", "English")],
        "values": {"scope": "district" if district else "city",
                   "district": district.code if district else "", "language": language,
                   "frequency": "immediate"},
        "errors": {},
    }
    if request.method != "POST":
        return render(request, "map_ui/alerts.html", context)
    data = request.POST
    values = {key: data.get(key, "") for key in ("scope", "district", "email", "tracking_code",
                                                 "lon", "lat", "radius_m", "frequency",
                                                 "language")}
    values["categories"] = data.getlist("categories")
    context["values"] = values
    try:
        alert_subscription_create(data=SubscriptionInput(
            scope=values["scope"], language=values["language"] or language,
            frequency=values["frequency"] or "immediate", email=values["email"],
            tracking_code=values["tracking_code"], district_code=values["district"],
            lon=_float(values["lon"]), lat=_float(values["lat"]),
            radius_m=_float(values["radius_m"]),
            category_codes=tuple(values["categories"])), user=request.user)
    except ValidationFailed as exc:
        context["errors"] = exc.errors
        return render(request, "map_ui/alerts.html", context, status=400)
    context["done"] = True
    return render(request, "map_ui/alerts.html", context)


def _subscription_context(subscription: AlertSubscription) -> dict:
    if subscription.scope == AlertSubscription.Scope.DISTRICT:
        scope = subscription.district.name_in()
    elif subscription.scope == AlertSubscription.Scope.AREA:
        scope = _("the area you drew")
    else:
        scope = subscription.service_area.name_in()
    return {"subscription": subscription, "scope_label": scope,
            "category_names": [c.name_in() for c in subscription.categories.all()]}


def alert_confirm_page(request, token: str):
    """The link of the confirmation message. GET asks (a mail scanner opening the link
    confirms nothing); POST confirms."""
    subscription = alert_subscription_get_by_token(token)
    if subscription is None:
        return render(request, "map_ui/alert_manage.html",
                      {"problem": _("This alert link is unknown.")}, status=404)
    if subscription.state != AlertSubscription.State.PENDING or request.method != "POST":
        if subscription.state == AlertSubscription.State.UNSUBSCRIBED:
            return render(request, "map_ui/alert_manage.html",
                          {"problem": _("You have unsubscribed from these alerts; subscribe "
                                        "again to get them.")}, status=410)
        return render(request, "map_ui/alert_manage.html",
                      _subscription_context(subscription) | {"confirming": True})
    subscription = alert_subscription_confirm(token=token)
    return render(request, "map_ui/alert_manage.html",
                  _subscription_context(subscription) | {"message": _("Your alerts are on.")})


def alert_manage_page(request, token: str):
    """The link at the end of every alert: what the subscription is, change its frequency,
    unsubscribe (once: a reused link says so and changes nothing)."""
    subscription = alert_subscription_get_by_token(token)
    if subscription is None:
        return render(request, "map_ui/alert_manage.html",
                      {"problem": _("This alert link is unknown.")}, status=404)
    message = ""
    if request.method == "POST":
        try:
            if request.POST.get("action") == "unsubscribe":
                subscription = alert_subscription_unsubscribe(token=token)
                message = _("You will get no more of these alerts.")
            else:
                subscription = alert_subscription_update(
                    token=token, frequency=request.POST.get("frequency") or None)
                message = _("Saved.")
        except NotFound as exc:
            return render(request, "map_ui/alert_manage.html", {"problem": exc.message},
                          status=404)
        except DomainError as exc:
            return render(request, "map_ui/alert_manage.html",
                          _subscription_context(subscription) | {"problem": exc.message},
                          status=exc.http_status)
        subscription = alert_subscription_get_by_token(token)
    return render(request, "map_ui/alert_manage.html",
                  _subscription_context(subscription) | {"message": message})


class DistrictIncidentsFeed(Feed):
    """/alerts/<district>.atom[?category=code]: the district's latest incidents, public
    fields only (category, status, district, dates, the tracking link)."""

    feed_type = Atom1Feed

    def get_object(self, request, district: str):
        found = district_get_by_code(district)
        if found is None:
            raise Http404(_("Unknown district."))
        category = request.GET.get("category", "")
        if category and not selectors.category_list_active().filter(code=category).exists():
            raise Http404(_("Unknown category."))
        found.feed_category = category
        return found

    def title(self, obj):
        if obj.feed_category:
            return _("Rasad: %(category)s in %(district)s") % {
                "category": obj.feed_category, "district": obj.name_in()}
        return _("Rasad: problems in %(district)s") % {"district": obj.name_in()}

    def link(self, obj):
        return f"/alerts/district/{obj.code}/"

    def subtitle(self, obj):
        return _("New and resolved problems reported to the city in %(district)s.") % {
            "district": obj.name_in()}

    def items(self, obj):
        return incident_list_for_feed(district=obj, category_code=obj.feed_category)

    def item_title(self, item):
        return f"{item.category.name_in()} — {item.get_status_display()}"

    def item_description(self, item):
        district = item.district.name_in() if item.district else ""
        return _("%(category)s in %(district)s, status: %(status)s.") % {
            "category": item.category.name_in(), "district": district,
            "status": item.get_status_display()}

    def item_link(self, item):
        if item.tracking_code:
            return f"/track/{item.tracking_code}/"
        return f"/alerts/#incident-{item.pk}"

    def item_guid(self, item):
        return f"rasad-incident-{item.pk}"

    def item_pubdate(self, item):
        return item.created_at

    def item_updateddate(self, item):
        return item.updated_at

    def item_categories(self, item):
        return [item.category.code]


district_feed = DistrictIncidentsFeed()


def _parse_datetime(value: str):
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    parsed = parse_datetime(value or "")
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def notices_console(request):
    """Staff: the notices valid now and a form to publish one (to districts or the whole
    city, in ar/fa/en, with its validity). Dispatchers and managers publish for their own
    departments; admins for any."""
    from datetime import timedelta

    from django.contrib.auth.views import redirect_to_login
    from django.core.exceptions import PermissionDenied
    from django.utils import timezone

    from incidents.models import Department, Notice
    from incidents.services.alerts import (
        NoticeInput,
        notice_department_for,
        notice_may_publish,
        notice_publish,
    )

    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not notice_may_publish(user):
        raise PermissionDenied
    area = ServiceArea.objects.order_by("pk").first()
    departments = (Department.objects.order_by("code") if user.is_superuser
                   else user.departments.order_by("code"))
    now = timezone.localtime()
    context = {
        "districts": list(area.districts.order_by("code")) if area else [],
        "departments": list(departments), "kinds": Notice.Kind.choices,
        "notices": list(notice_list_active(area=area)) if area else [],
        "values": {"kind": "other", "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
                   "ends_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
                   "districts": [], "department": departments[0].code if departments else ""},
        "errors": {}, "langs": ("ar", "fa", "en"),
    }
    if request.method != "POST":
        return render(request, "map_ui/notices_console.html", context)
    data = request.POST
    values = {key: data.get(key, "") for key in ("kind", "starts_at", "ends_at", "department")}
    values["districts"] = data.getlist("districts")
    for lang in context["langs"]:
        values[f"title_{lang}"] = data.get(f"title_{lang}", "")
        values[f"body_{lang}"] = data.get(f"body_{lang}", "")
    context["values"] = values
    starts, ends = _parse_datetime(values["starts_at"]), _parse_datetime(values["ends_at"])
    try:
        if ends is None:
            raise ValidationFailed({"ends_at": [_("Give the end of the notice.")]})
        department = notice_department_for(user=user, code=values["department"])
        notice = notice_publish(data=NoticeInput(
            kind=values["kind"], starts_at=starts or timezone.now(), ends_at=ends,
            titles={lang: values[f"title_{lang}"] for lang in context["langs"]},
            bodies={lang: values[f"body_{lang}"] for lang in context["langs"]},
            district_codes=tuple(values["districts"]), city_slug=area.slug if area else "",
            department_id=department.pk if department else None), by=user)
    except ValidationFailed as exc:
        context["errors"] = exc.errors
        return render(request, "map_ui/notices_console.html", context, status=400)
    context["published"] = notice
    context["notices"] = list(notice_list_active(area=area))
    return render(request, "map_ui/notices_console.html", context)
