"""Reads for referrals to outside agencies. Agencies' keys and endpoints never leave the
staff API; reporters' details are never part of a referral."""

from django.db.models import Count, F, QuerySet

from incidents.models import Agency, Incident, Referral, Status


def agency_list_active() -> QuerySet[Agency]:
    return (Agency.objects.filter(active=True)
            .prefetch_related("categories", "departments").order_by("code"))


def agency_get_by_key(key) -> Agency | None:
    """An agency by its code, or by its id given as a number."""
    key = str(key or "").strip()
    if not key:
        return None
    lookup = {"pk": int(key)} if key.isdigit() else {"code": key}
    return Agency.objects.filter(**lookup).first()


def referral_list_open(*, department_ids: list[int] | None = None,
                       agency_code: str = "",
                       incident_id: int | None = None) -> QuerySet[Referral]:
    """The current referrals of incidents still with their agency, oldest first."""
    queryset = (Referral.objects.filter(incident__status=Status.REFERRED,
                                        agency_id=F("incident__referred_to_id"))
                .exclude(state=Referral.State.FAILED)
                .select_related("agency", "incident__category", "incident__area",
                                "incident__district")
                .annotate(chase_count=Count("chases"))
                .order_by("referred_at", "pk"))
    if department_ids is not None:
        queryset = queryset.filter(incident__department_id__in=department_ids)
    if agency_code:
        queryset = queryset.filter(agency__code=agency_code)
    if incident_id is not None:
        queryset = queryset.filter(incident_id=incident_id)
    return queryset


def referral_current_of(incident: Incident) -> Referral | None:
    if incident.status != Status.REFERRED:
        return None
    return (Referral.objects.filter(incident=incident, agency_id=incident.referred_to_id)
            .select_related("agency").order_by("-referred_at", "-pk").first())


def referral_get_by_reference(reference: str) -> Referral | None:
    return (Referral.objects.filter(reference=reference)
            .select_related("agency", "incident__category").first())
