"""Back office for crews: storm modes (switched on and off here or from the console)."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crews.models import EmergencyMode
from crews.selectors_storm import storm_cache_clear
from crews.services.storm import emergency_mode_cancel, storm_priorities_refresh
from incidents.exceptions import Conflict


class EmergencyModeForm(forms.ModelForm):
    class Meta:
        model = EmergencyMode
        fields = ["area", "hazard", "starts_at", "ends_at", "categories", "paused_categories",
                  "priority_bonus", "message_ar", "message_fa", "message_en",
                  "pause_message_ar", "pause_message_fa", "pause_message_en"]

    def _get_validation_exclusions(self):
        # The no-overlap constraint's condition reads cancelled_at, which the form leaves out:
        # validated with the instance's own value (a new mode: not cancelled).
        exclude = super()._get_validation_exclusions()
        exclude.discard("cancelled_at")
        return exclude

    def clean(self):
        """The rules of crews.services.storm.emergency_mode_start (overlap: the constraint)."""
        data = super().clean()
        ends_at, starts_at = data.get("ends_at"), data.get("starts_at")
        if ends_at and ends_at <= timezone.now():
            self.add_error("ends_at", _("The end time is in the past."))
        elif ends_at and starts_at and ends_at <= starts_at:
            self.add_error("ends_at", _("The end time must be after the start time."))
        both = set(data.get("categories") or []) & set(data.get("paused_categories") or [])
        if both:
            self.add_error("paused_categories",
                           _("The hazard's own categories cannot be paused: %(codes)s.")
                           % {"codes": ", ".join(sorted(c.code for c in both))})
        return data


@admin.register(EmergencyMode)
class EmergencyModeAdmin(admin.ModelAdmin):
    form = EmergencyModeForm
    list_display = ["hazard", "area", "starts_at", "ends_at", "cancelled_at", "ended_at"]
    list_filter = ["hazard", "area"]
    filter_horizontal = ["categories", "paused_categories"]
    actions = ["end_now"]

    def get_readonly_fields(self, request, obj=None):
        return ["created_by", "cancelled_at", "cancelled_by", "ended_at"] if obj else []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        storm_cache_clear()
        storm_priorities_refresh(mode=form.instance)

    @admin.action(description=_("End the selected storm modes now"))
    def end_now(self, request, queryset):
        for mode in queryset:
            try:
                emergency_mode_cancel(mode=mode, by=request.user)
            except Conflict as exc:
                self.message_user(request, f"{mode}: {exc.message}", messages.WARNING)
