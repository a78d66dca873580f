"""Domain errors. Each carries a code and a message a person understands."""

from django.utils.translation import gettext as _


class DomainError(Exception):
    code = "invalid"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class ValidationFailed(DomainError):
    """Input that breaks a rule; `errors` maps field → list of messages."""

    def __init__(self, errors: dict[str, list[str]]):
        first_field, messages = next(iter(errors.items()))
        super().__init__(messages[0], field=first_field, code="invalid")
        self.errors = errors


class OutsideServiceArea(DomainError):
    code = "outside_service_area"


class UnknownCategory(DomainError):
    code = "unknown_category"


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class InvalidTransition(DomainError):
    code = "invalid_transition"
    http_status = 409

    def __init__(self, current: str, to: str, allowed: list[str]):
        self.current, self.to, self.allowed = current, to, allowed
        allowed_text = ", ".join(allowed) if allowed else _("none")
        super().__init__(
            _("An incident in status “%(current)s” cannot move to “%(to)s”. "
              "Allowed from “%(current)s”: %(allowed)s.")
            % {"current": current, "to": to, "allowed": allowed_text}
        )


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class Expired(DomainError):
    """Something that was open for a while and no longer is (a survey's link)."""

    code = "expired"
    http_status = 410


class IdempotencyMismatch(DomainError):
    code = "idempotency_key_reused"
    http_status = 422


class PhotoRejected(DomainError):
    code = "photo_rejected"
