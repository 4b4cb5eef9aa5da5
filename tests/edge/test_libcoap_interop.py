"""An independent CoAP implementation (libcoap's coap-client-notls) talks to the gateway over real UDP."""

import asyncio
import os
import shutil

import pytest

from enerlectra.cose import sign1
from enerlectra.senml import encode_readings

# CI installs libcoap3-bin (.ci/run) and must run these; a developer machine without it skips them.
pytestmark = pytest.mark.skipif(
    shutil.which("coap-client-notls") is None and not os.environ.get("CI"),
    reason="libcoap3-bin not installed (apt-get install libcoap3-bin)",
)


async def coap_client(*args: str, payload: bytes | None = None) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        "coap-client-notls", *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(payload), timeout=60)
    return process.returncode, stdout, stderr


async def test_libcoap_posts_a_signed_reading_that_is_stored(gateway):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    message = meter.message(meter.reading(1, energy_wh=4321))
    code, _stdout, stderr = await coap_client("-m", "post", "-t", "18", "-f", "-", f"{gateway.uri}/r",
                                             payload=message)
    assert code == 0, stderr
    assert gateway.stored() == (1, 1)
    assert gateway.meter("house-1").energy_wh == 4321


async def test_libcoap_large_batch_goes_block_wise_and_is_stored_once(gateway):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    readings = [meter.reading(seq) for seq in range(1, 121)]  # ~2.5 KB: more than one 1 KB block
    message = meter.message(*readings)
    assert len(message) > 2048
    code, _, stderr = await coap_client("-m", "post", "-t", "18", "-b", "1024", "-f", "-", f"{gateway.uri}/r",
                                        payload=message)
    assert code == 0, stderr
    assert gateway.stored() == (1, 120)


async def test_libcoap_sees_the_error_code_and_reason_for_a_forgery(gateway):
    meter = gateway.register("house-1", bytes.fromhex("a1"))
    from nacl.signing import SigningKey

    forged = sign1(encode_readings(meter.kid, [meter.reading(1)]), SigningKey.generate(), meter.kid)
    _code, stdout, stderr = await coap_client("-m", "post", "-t", "18", "-f", "-", f"{gateway.uri}/r",
                                             payload=forged)
    assert b"4.01" in stdout + stderr
    assert b"signature" in stdout + stderr
    assert gateway.stored() == (0, 0)


async def test_libcoap_discovers_the_readings_resource(gateway):
    code, stdout, stderr = await coap_client("-m", "get", f"{gateway.uri}/.well-known/core")
    assert code == 0, stderr
    assert b"</r>" in stdout
