"""The gateway's CoAP resources, one class each, and `build_site`, the one place their paths are mapped.

Adapters only: each resource checks the CoAP framing, hands the payload to a service, and translates the
service's errors into CoAP codes with a one-line reason in the diagnostic payload.

    POST /r                         a meter's signed readings (ingest)                       2.04 / 4.xx / 5.03
    GET  /t?k=<kid hex>&n=<nonce>   the gateway's time, signed, echoing the nonce           2.05, format 18
    GET  /g?k=<kid hex>&after=<id>  the signed credit grants above `after`, oldest first    2.05, format 60
/t and /g exist when the gateway has its signing key (docs/downlink.md); both answer 4.04 for a kid no meter is
registered under, and 4.00 for a malformed query.
"""

import time

import aiocoap
import cbor2
from aiocoap import error, resource
from nacl.signing import SigningKey
from sqlalchemy.engine import Engine

from edge.grants import grants_after
from edge.ingest import IngestService, OverloadedError, ReplayError, StoreError, UnknownMeterError
from edge.meters import find_meter_by_kid
from enerlectra.downlink import NONCE_BYTES_MAX, TimeSync, encode_time
from enerlectra.errors import SignatureError, WireError

CONTENT_FORMAT_COSE_SIGN1 = 18  # application/cose; cose-type="cose-sign1"
CONTENT_FORMAT_CBOR = 60
READINGS_PATH = ("r",)
TIME_PATH = ("t",)
GRANTS_PATH = ("g",)
KID_BYTES_MAX = 32
GRANT_ID_MAX = 2**53


class BadRequest(error.ConstructionRenderableError):
    code = aiocoap.BAD_REQUEST


class Unauthorized(error.ConstructionRenderableError):
    code = aiocoap.UNAUTHORIZED


class NotFound(error.ConstructionRenderableError):
    code = aiocoap.NOT_FOUND


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


def _query(request) -> dict[str, str]:
    fields = {}
    for part in request.opt.uri_query:
        name, _, value = part.partition("=")
        fields[name] = value
    return fields


def _hex(fields: dict[str, str], name: str, size_max: int) -> bytes:
    try:
        value = bytes.fromhex(fields[name])
    except (KeyError, ValueError) as err:
        raise BadRequest(f"query {name} must be hex") from err
    if len(value) > size_max:
        raise BadRequest(f"query {name} is longer than {size_max} bytes")
    return value


def _registered_kid(engine: Engine, fields: dict[str, str]) -> bytes:
    kid = _hex(fields, "k", KID_BYTES_MAX)
    if not kid or find_meter_by_kid(engine, kid.hex()) is None:
        raise NotFound(f"no meter registered with kid {kid.hex()}")
    return kid


class TimeResource(resource.Resource):
    """GET /t: the gateway's clock, signed for one meter and echoing its nonce (no replay can set a clock back)."""

    def __init__(self, engine: Engine, signing_key: SigningKey, clock_s=time.time):
        super().__init__()
        self.engine = engine
        self.signing_key = signing_key
        self.clock_s = clock_s

    async def render_get(self, request):
        fields = _query(request)
        nonce = _hex(fields, "n", NONCE_BYTES_MAX)
        kid = _registered_kid(self.engine, fields)
        signed = encode_time(TimeSync(kid, int(self.clock_s()), nonce), self.signing_key)
        return aiocoap.Message(payload=signed, content_format=CONTENT_FORMAT_COSE_SIGN1)


class GrantsResource(resource.Resource):
    """GET /g: a CBOR array of the signed credit grants with ids above `after` (at most 8), oldest first."""

    def __init__(self, engine: Engine):
        super().__init__()
        self.engine = engine

    async def render_get(self, request):
        fields = _query(request)
        after = fields.get("after", "")
        if not after.isdigit() or int(after) > GRANT_ID_MAX:
            raise BadRequest("query after must be a grant id (0 for none)")
        kid = _registered_kid(self.engine, fields)
        grants = grants_after(self.engine, kid, int(after))
        return aiocoap.Message(payload=cbor2.dumps(grants), content_format=CONTENT_FORMAT_CBOR)


def build_site(ingest: IngestService, gateway_key: SigningKey | None = None,
               engine: Engine | None = None) -> resource.Site:
    """The CoAP tree; downlinks (/t, /g) only with the gateway's key and its database engine."""
    site = resource.Site()
    site.add_resource((".well-known", "core"), resource.WKCResource(site.get_resources_as_linkheader))
    site.add_resource(READINGS_PATH, ReadingsResource(ingest))
    if gateway_key is not None and engine is not None:
        site.add_resource(TIME_PATH, TimeResource(engine, gateway_key))
        site.add_resource(GRANTS_PATH, GrantsResource(engine))
    return site
