"""The gateway's CoAP resources, one class each, and `build_site`, the one place their paths are mapped.

Adapters only: each resource checks the CoAP framing, hands the payload to a service, and translates the
service's errors into CoAP codes with a one-line reason in the diagnostic payload.
"""

import aiocoap
from aiocoap import error, resource

from edge.ingest import IngestService, OverloadedError, ReplayError, StoreError, UnknownMeterError
from enerlectra.errors import SignatureError, WireError

CONTENT_FORMAT_COSE_SIGN1 = 18  # application/cose; cose-type="cose-sign1"
READINGS_PATH = ("r",)


class BadRequest(error.ConstructionRenderableError):
    code = aiocoap.BAD_REQUEST


class Unauthorized(error.ConstructionRenderableError):
    code = aiocoap.UNAUTHORIZED


class Conflict(error.ConstructionRenderableError):
    code = aiocoap.CONFLICT


class UnsupportedContentFormat(error.ConstructionRenderableError):
    code = aiocoap.UNSUPPORTED_CONTENT_FORMAT
    message = "Content-Format must be 18 (application/cose; cose-type=cose-sign1)"


class ServiceUnavailable(error.ConstructionRenderableError):
    code = aiocoap.SERVICE_UNAVAILABLE


class ReadingsResource(resource.Resource):
    """POST /r: a meter's SenML readings in a COSE_Sign1; 2.04 once durably stored."""

    def __init__(self, ingest: IngestService):
        super().__init__()
        self.ingest = ingest

    async def render_post(self, request):
        if request.opt.content_format != CONTENT_FORMAT_COSE_SIGN1:
            raise UnsupportedContentFormat()
        try:
            await self.ingest.submit(request.payload)
        except WireError as err:
            raise BadRequest(str(err)) from err
        except (UnknownMeterError, SignatureError) as err:
            raise Unauthorized(str(err)) from err
        except ReplayError as err:
            raise Conflict(str(err)) from err
        except (OverloadedError, StoreError) as err:
            raise ServiceUnavailable(str(err)) from err
        return aiocoap.Message(code=aiocoap.CHANGED)


def build_site(ingest: IngestService) -> resource.Site:
    site = resource.Site()
    site.add_resource((".well-known", "core"), resource.WKCResource(site.get_resources_as_linkheader))
    site.add_resource(READINGS_PATH, ReadingsResource(ingest))
    return site
