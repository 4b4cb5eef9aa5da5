"""What every cooperative controller shares: the error translation and the gateway-key dependency.

Services raise `edge.errors.ServiceError` subclasses; here they become JSON `{"status_code", "detail", "code"}`
with the class's status (400, 404, 409). Nothing else is translated: any other exception is a bug and reaches
the client as Litestar's bare 500, never as a stack trace.

Handlers that write run in a worker thread (`sync_to_thread=True`): a write may wait for SQLite's write lock
while a settlement commits, and the event loop must keep answering meters meanwhile. Reads run inline (WAL
readers never wait for the writer).
"""

from litestar import Request, Response
from litestar.exceptions import ServiceUnavailableException
from nacl.signing import SigningKey

from edge.errors import ServiceError


def service_error_response(_request: Request, error: ServiceError) -> Response:
    return Response({"status_code": error.status, "detail": str(error), "code": error.code},
                    status_code=error.status)


EXCEPTION_HANDLERS = {ServiceError: service_error_response}


def gateway_key_provider(gateway_key: SigningKey | None):
    """A DI provider of the gateway's signing key; 503 on a gateway started without one."""

    def provide_gateway_key() -> SigningKey:
        if gateway_key is None:
            raise ServiceUnavailableException("this gateway runs without its signing key; credit cannot be issued")
        return gateway_key

    return provide_gateway_key
