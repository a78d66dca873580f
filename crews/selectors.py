"""Reads for crews, plans and the crew phone."""

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from crews.models import Crew, RoutePlan, RouteStop, Shift


def crew_for_user(user) -> Crew | None:
    if not user.is_authenticated:
        return None
    return user.crews.filter(active=True).order_by("pk").first()


def crew_list_active() -> QuerySet[Crew]:
    return Crew.objects.filter(active=True).select_related("department").order_by("code")


def shift_current_or_next(crew: Crew, at=None) -> Shift | None:
    at = at or timezone.now()
    return (Shift.objects.filter(crew=crew, ends_at__gt=at).order_by("starts_at").first())


def plan_current(crew: Crew) -> RoutePlan | None:
    """The crew's newest published plan, its stops in order with their incidents."""
    stops = RouteStop.objects.exclude(state=RouteStop.State.REMOVED).select_related(
        "incident", "incident__category").order_by("sequence")
    return (RoutePlan.objects.filter(crew=crew, state=RoutePlan.State.PUBLISHED)
            .prefetch_related(Prefetch("stops", queryset=stops))
            .order_by("-version").first())


def plan_list_current() -> QuerySet[RoutePlan]:
    stops = RouteStop.objects.exclude(state=RouteStop.State.REMOVED).select_related(
        "incident", "incident__category").order_by("sequence")
    return (RoutePlan.objects.filter(state=RoutePlan.State.PUBLISHED, crew__active=True)
            .select_related("crew").prefetch_related(Prefetch("stops", queryset=stops))
            .order_by("crew__code"))


def stop_current_for_incident(crew: Crew, incident_id: int) -> RouteStop | None:
    return (RouteStop.objects.filter(plan__crew=crew, plan__state=RoutePlan.State.PUBLISHED,
                                     incident_id=incident_id)
            .exclude(state=RouteStop.State.REMOVED)
            .select_related("plan", "incident", "incident__category")
            .order_by("-plan__version").first())


def _stops_in_order() -> QuerySet[RouteStop]:
    return RouteStop.objects.exclude(state=RouteStop.State.REMOVED).select_related(
        "incident", "incident__category").order_by("sequence")


def plans_current_for(crews: list[Crew]) -> dict[int, RoutePlan]:
    """Each crew's newest published plan (by crew id), stops prefetched as in plan_current."""
    plans: dict[int, RoutePlan] = {}
    for plan in (RoutePlan.objects.filter(crew__in=crews, state=RoutePlan.State.PUBLISHED)
                 .prefetch_related(Prefetch("stops", queryset=_stops_in_order()))
                 .order_by("crew_id", "-version")):
        plans.setdefault(plan.crew_id, plan)
    return plans


def plan_list_by_ids(plan_ids: list[int]) -> QuerySet[RoutePlan]:
    """Plans with their crews and stops in order, for a response (no query per stop)."""
    return (RoutePlan.objects.filter(pk__in=plan_ids).select_related("crew")
            .prefetch_related(Prefetch("stops", queryset=_stops_in_order()))
            .order_by("crew__code"))


def plow_map_cached(kind: str) -> dict | None:
    """The plow map's cached document ("edges" or "vehicles"): {"body", "etag",
    "generated_at"}, or None before the first build. Never queries the database."""
    from django.core.cache import cache

    from crews.services.plowmap import CACHE_EDGES, CACHE_VEHICLES

    return cache.get({"edges": CACHE_EDGES, "vehicles": CACHE_VEHICLES}[kind])
