from incidents.exceptions import Conflict, DomainError, NotFound, ValidationFailed

__all__ = ["Conflict", "DomainError", "NotCrewMember", "NotFound", "ValidationFailed"]


class NotCrewMember(DomainError):
    code = "not_crew_member"
    http_status = 403
