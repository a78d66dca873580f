from incidents.exceptions import Conflict, DomainError, NotFound, ValidationFailed

__all__ = ["Conflict", "DomainError", "IntakePaused", "NotCrewMember", "NotFound",
           "ValidationFailed"]


class NotCrewMember(DomainError):
    code = "not_crew_member"
    http_status = 403


class IntakePaused(DomainError):
    """Storm mode pauses new reports of this category here (crews.selectors_storm)."""

    code = "intake_paused"
    http_status = 409
