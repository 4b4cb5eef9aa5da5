"""Errors the gateway's cooperative services raise for requests they refuse; nothing is written when they do.

Each carries a `code` naming the rule that was broken (`insufficient_funds`, `phone_invalid`, ...) and a
message for the person who asked. The kind says how an adapter answers: `InvalidRequestError` (HTTP 400),
`NotFoundError` (404), `ConflictError` (409: the request is well formed but the state forbids it). Services
import nothing from Litestar; the HTTP adapter maps these classes to status codes.
"""


class ServiceError(ValueError):
    """A refused request. `code` names the rule; `str(error)` is the message for the user."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidRequestError(ServiceError):
    """Malformed or out-of-bounds input: a bad phone number, a negative or absurd amount."""

    status = 400


class NotFoundError(ServiceError):
    """An unknown member, meter, order, purchase or interval."""

    status = 404


class ConflictError(ServiceError):
    """Well-formed, but the current state forbids it: insufficient funds, a trade with oneself, a duplicate."""

    status = 409
