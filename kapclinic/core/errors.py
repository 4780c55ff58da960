"""The one base of every refusal a domain service raises.

Pure module. A view catches `DomainError`, shows `message` (written for the person who
asked) next to `field` when it names one, and the unit of work rolls the request back.
"""


class DomainError(Exception):
    """A request the rules refuse; `message` is shown as it is, `field` names the input at fault (or None)."""

    default_field = None

    def __init__(self, message, field=None):
        super().__init__(message)
        self.message = message
        self.field = field if field is not None else self.default_field


class NotFound(DomainError):
    """The thing asked for does not exist, or the asker may not know that it does (answered as 404)."""


class NotAllowed(DomainError):
    """The asker may not do this to that thing (answered as 403)."""
