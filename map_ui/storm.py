"""Storm mode on the pages: the banner and category order of the citizen page, the console's
storm panel and the managers' switch. Reads through crews.selectors_storm."""

from django.utils import timezone, translation

from crews.models import EmergencyMode
from crews.selectors_storm import emergency_mode_get_active, storm_dashboard


def storm_citizen_context() -> tuple[dict | None, dict | None]:
    """(template context, page config) of the active mode, or (None, None)."""
    mode = emergency_mode_get_active()
    if mode is None:
        return None, None
    language = translation.get_language() or "en"
    banner = {"hazard": mode.get_hazard_display(), "message": mode.message_in(language),
              "ends_at": timezone.localtime(mode.ends_at),
              "categories": [c.name_in(language) for c in mode.categories.all()]}
    config = {"hazard": mode.hazard, "categories": [c.code for c in mode.categories.all()],
              "paused": [c.code for c in mode.paused_categories.all()],
              "paused_message": mode.pause_message_in(language)}
    return banner, config


def storm_console_context(*, can_switch: bool) -> dict:
    """The console's storm panel: the active mode and its figures; for managers also what the
    switch needs (hazards)."""
    mode = emergency_mode_get_active()
    context: dict = {"can_switch": can_switch, "mode": mode, "board": None,
                     "hazards": EmergencyMode.Hazard.choices}
    if mode is not None:
        board = storm_dashboard(mode=mode)
        peak = max((h["reports"] for h in board.incoming_per_hour), default=0) or 1
        context["board"] = board
        context["bars"] = [{**h, "pct": round(100 * h["reports"] / peak)}
                           for h in board.incoming_per_hour]
        context["message"] = mode.message_in(translation.get_language() or "en")
    return context
