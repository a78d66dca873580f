"""Back office: departments, categories and their questions, routing, Open311 clients, the
channels' contacts (blocking) and messages, and the outbox.

Reports and incidents are read-only here: their changes go through the services, which
record every status change."""

import secrets

from django.contrib import admin, messages
from django.contrib.gis import admin as gis_admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from incidents.models import (
    Agency,
    AlertSubscription,
    Category,
    CategoryAttribute,
    ChannelContact,
    Department,
    Holiday,
    InboundMessage,
    InboxItem,
    Incident,
    IncidentUpdate,
    Meeting,
    MeetingNeed,
    Notice,
    Notification,
    Open311Client,
    Photo,
    Referral,
    Report,
    RoutingRule,
    Survey,
    WorkCalendar,
)
from ops.roles import Role, user_has_role


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_ar", "name_fa", "email"]
    filter_horizontal = ["staff"]
    search_fields = ["code", "name_en"]


class CategoryAttributeInline(admin.StackedInline):
    model = CategoryAttribute
    extra = 0


class RoutingRuleInline(admin.TabularInline):
    model = RoutingRule
    extra = 0


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "department", "group", "sla_hours", "severity",
                    "cluster_radius_m", "active"]
    list_filter = ["department", "group", "active", "is_winter"]
    search_fields = ["code", "name_en", "name_ar", "name_fa"]
    inlines = [CategoryAttributeInline, RoutingRuleInline]


class ReadOnlyAdmin(gis_admin.GISModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class IncidentUpdateInline(admin.TabularInline):
    model = IncidentUpdate
    extra = 0
    fields = ["created_at", "from_status", "to_status", "by", "public", "note"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["pk", "category", "status", "priority", "report_count", "district",
                    "first_reported_at", "publish_description"]
    list_filter = ["status", "category", "district", "publish_description"]
    inlines = [IncidentUpdateInline]
    actions = ["description_publish", "description_withdraw"]

    def _description_set(self, request, queryset, publish: bool) -> None:
        """Through the service (recorded as an internal note), for the incidents of the
        departments the user dispatches for."""
        from incidents.services.opendata import incident_description_publish

        user = request.user
        departments = None if user.is_superuser else set(
            user.departments.values_list("pk", flat=True)
            if user_has_role(user, Role.DISPATCHER) else ())
        done = refused = 0
        for incident in queryset.order_by("pk"):
            if departments is not None and incident.department_id not in departments:
                refused += 1
                continue
            incident_description_publish(incident=incident, publish=publish, by=request.user)
            done += 1
        messages.info(request, ngettext("%(done)s incident changed.",
                                        "%(done)s incidents changed.", done) % {"done": done})
        if refused:
            messages.warning(request, ngettext(
                "%(refused)s incident left as it was: it belongs to a department you do not "
                "dispatch for.",
                "%(refused)s incidents left as they were: they belong to departments you do "
                "not dispatch for.", refused) % {"refused": refused})

    @admin.action(description=_("Publish the description in the open data"))
    def description_publish(self, request, queryset):
        self._description_set(request, queryset, True)

    @admin.action(description=_("Withdraw the description from the open data"))
    def description_withdraw(self, request, queryset):
        self._description_set(request, queryset, False)


class PhotoInline(admin.TabularInline):
    model = Photo
    extra = 0
    fields = ["image", "thumbnail", "state", "source_url", "error"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ["tracking_code", "category", "status", "channel", "language", "district",
                    "created_at"]
    list_filter = ["status", "channel", "language", "category"]
    search_fields = ["tracking_code"]
    inlines = [PhotoInline]


@admin.register(Open311Client)
class Open311ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "api_key", "contact_email", "active", "created_at"]
    readonly_fields = ["api_key", "created_at"]
    actions = ["rotate_key"]

    def save_model(self, request, obj, form, change):
        if not obj.api_key:
            obj.api_key = secrets.token_urlsafe(24)
            messages.info(request, _("The new API key is %(key)s") % {"key": obj.api_key})
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Issue a new API key"))
    def rotate_key(self, request, queryset):
        for client in queryset:
            client.api_key = secrets.token_urlsafe(24)
            client.save(update_fields=["api_key"])


class InboundMessageInline(admin.TabularInline):
    model = InboundMessage
    fk_name = "contact"
    extra = 0
    fields = ["received_at", "kind", "provider_type", "text", "state", "inbox_item", "report"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-received_at"]
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChannelContact)
class ChannelContactAdmin(admin.ModelAdmin):
    """Citizens on the messaging channels. Blocking (the abuse list) is done here or from the
    inbox; everything a blocked sender sends stays readable below."""

    list_display = ["pk", "provider", "display_name", "language", "blocked", "opted_out_at",
                    "last_inbound_at"]
    list_filter = ["provider", "blocked", "language"]
    search_fields = ["external_id", "display_name", "phone"]
    fields = ["provider", "external_id", "display_name", "phone", "language", "blocked",
              "blocked_reason", "opted_out_at", "last_inbound_at", "created_at"]
    readonly_fields = ["provider", "external_id", "display_name", "phone", "language",
                       "opted_out_at", "last_inbound_at", "created_at"]
    inlines = [InboundMessageInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["pk", "provider", "kind", "provider_type", "state", "received_at",
                    "contact", "inbox_item", "report"]
    list_filter = ["provider", "kind", "state"]
    search_fields = ["external_id", "text"]


@admin.register(InboxItem)
class InboxItemAdmin(ReadOnlyAdmin):
    list_display = ["pk", "reason", "state", "contact", "created_at", "handled_by", "report"]
    list_filter = ["state", "reason"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The outbox: what went (or waits to go) to citizens, and what providers said of it."""

    list_display = ["pk", "kind", "channel", "state", "delivery_status", "attempts",
                    "created_at", "sent_at", "last_error"]
    list_filter = ["kind", "channel", "state", "delivery_status"]


@admin.register(Survey)
class SurveyAdmin(ReadOnlyAdmin):
    """Each survey sent to a reporter after a resolution, and what they answered (the
    answers count in the figures; they are not edited here)."""

    list_display = ["pk", "report", "round", "state", "step", "due_at", "sent_at",
                    "reminded_at", "answered_at", "fixed", "rating"]
    list_filter = ["state", "round", "fixed", "rating"]
    search_fields = ["comment"]
    date_hierarchy = "answered_at"


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 1
    fields = ["date", "name_en", "name_ar", "name_fa"]


@admin.register(WorkCalendar)
class WorkCalendarAdmin(admin.ModelAdmin):
    """The city's working time. Saving lays its days out again, and the figures of the days
    since its first report are recomputed by the next refresh (or stats_rebuild)."""

    list_display = ["area", "timezone", "weekend", "day_starts", "day_ends"]
    inlines = [HolidayInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        from incidents.stats.calendar import business_days_layout
        from incidents.stats.rollup import stats_rebuild

        business_days_layout(calendar=form.instance)
        stats_rebuild(area=form.instance.area)


# -- Outside agencies and referrals (issue 10) ---------------------------------------------

@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_ar", "name_fa", "email", "open311_endpoint",
                    "answer_due_days", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name_en", "name_ar", "name_fa"]
    filter_horizontal = ["departments", "categories"]
    readonly_fields = ["updates_polled_until"]
    fieldsets = [
        (None, {"fields": ["code", "name_en", "name_ar", "name_fa", "active",
                           "departments", "categories", "answer_due_days"]}),
        (_("By email"), {"fields": ["email"]}),
        (_("By Open311 (GeoReport v2)"), {"fields": [
            "open311_endpoint", "open311_api_key", "open311_jurisdiction_id",
            "service_code_map", "default_service_code", "updates_polled_until"]}),
    ]


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    list_display = ["incident", "agency", "method", "state", "external_id", "referred_at",
                    "answered_at"]
    list_filter = ["state", "method", "agency"]
    search_fields = ["reference", "external_id", "incident__pk"]


@admin.register(AlertSubscription)
class AlertSubscriptionAdmin(ReadOnlyAdmin):
    """Read-only: subscribers change their own through their link."""

    list_display = ["pk", "scope", "district", "frequency", "language", "state", "created_at"]
    list_filter = ["state", "scope", "frequency", "language", "district"]
    search_fields = ["contact__external_id"]


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    """Read-only: notices are published through POST /api/v1/alerts/notices/, which fans
    them out to the subscribers."""

    list_display = ["pk", "kind", "title_en", "title_ar", "title_fa", "starts_at", "ends_at",
                    "fanned_out_count"]
    list_filter = ["kind", "districts"]


class MeetingNeedInline(admin.TabularInline):
    model = MeetingNeed
    extra = 0
    fields = ["text", "report", "category", "status", "answered", "answer"]
    readonly_fields = ["report"]


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    """Town-hall meetings and the needs raised in them (recorded from the console's
    Meetings page; corrected here)."""

    list_display = ["held_at", "district", "sector", "place", "attendance", "summary_sent_at"]
    list_filter = ["district"]
    date_hierarchy = "held_at"
    filter_horizontal = ["departments", "agencies"]
    readonly_fields = ["created_by", "summary_sent_at"]
    inlines = [MeetingNeedInline]
