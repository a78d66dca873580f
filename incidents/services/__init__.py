"""Writes. Import from the submodules; this package re-exports the public services."""

from incidents.services.clustering import incidents_recluster, incidents_reprioritize
from incidents.services.intake import ReportInput, SubmitResult, report_submit
from incidents.services.media import photo_fetch
from incidents.services.workflow import (
    ALLOWED_TRANSITIONS,
    incident_merge,
    incident_note_add,
    incident_split,
    incident_transition,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "ReportInput",
    "SubmitResult",
    "incident_merge",
    "incident_note_add",
    "incident_split",
    "incident_transition",
    "incidents_recluster",
    "incidents_reprioritize",
    "photo_fetch",
    "report_submit",
]
