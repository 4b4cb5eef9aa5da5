"""Hardware-in-the-loop: the meter suite for pytest-embedded, against a real board or the virtual one.

    pytest tests/hardware --embedded-services serial --port /dev/ttyUSB0 --meter-board esp32-devkitc \
        --gateway-host 192.168.1.10 --wifi-ssid coop --wifi-password secret      # a real ESP32 (README.md)
    pytest tests/hardware                                                        # the virtual board (CI)

Each test gets a fresh gateway (`enerlectra-edge serve`, tools/cluster.py) and a freshly provisioned meter
(tools/provision.py: identity registered with the gateway, config.json, board.json, firmware as .mpy):
- with --port, copied to the board with mpremote; once pytest-embedded has the port open, the test soft-resets
  the board (Ctrl-C, Ctrl-D), so the boot banner is seen;
- without, into a folder that is the flash of a virtual board, and meter/ into the ROM partition beside it: the
  MicroPython unix port on a pty made by socat, started when pytest-embedded opens the port
  (tools/virtual_board.py), in the issue's heap budget. The `port` fixture of pytest-embedded is
  overridden here to do that.
The settings a test needs (credit, interval...) come from its `meter` marker. The virtual board runs its clock
SPEED times faster than real time, so a test reads in `scale` real seconds per meter second.
"""

from dataclasses import dataclass

import pytest

from tools.cluster import METER_HEAPSIZE, Gateway, build_firmware
from tools.provision import Identity, board_spec, provision
from tools.virtual_board import VirtualBoard

SPEED = 20  # the virtual board's clock, times real time


def pytest_addoption(parser):
    group = parser.getgroup("enerlectra meter")
    group.addoption("--meter-board", default="esp32-devkitc", help="pin map of the real board (hardware/boards)")
    group.addoption("--gateway-host", default="127.0.0.1", help="the address the board reaches this host at")
    group.addoption("--wifi-ssid", default=None)
    group.addoption("--wifi-password", default="")


def pytest_configure(config):
    config.addinivalue_line("markers", "meter(**settings): config.json settings of the meter under test")


@dataclass
class MeterUnderTest:
    identity: Identity
    gateway: Gateway
    virtual: bool
    scale: float  # real seconds per second of the meter's clock

    def seconds(self, meter_s: float) -> float:
        """A timeout in real seconds for something that takes meter_s on the meter's clock (plus slack)."""
        return 10 + meter_s * self.scale * 2


@pytest.fixture(scope="session")
def firmware(tmp_path_factory):
    return build_firmware(tmp_path_factory.mktemp("build") / "firmware")


@pytest.fixture
def gateway(request, tmp_path):
    real = request.config.getoption("port") is not None
    gateway = Gateway(tmp_path / "gateway.db", host="0.0.0.0" if real else "127.0.0.1").start()
    yield gateway
    gateway.stop()


@pytest.fixture
def meter(request, gateway, firmware, tmp_path):
    """Provisions the meter under test (before pytest-embedded opens its port)."""
    real_port = request.config.getoption("port")
    marker = request.node.get_closest_marker("meter")
    settings = {"interval_s": 20, "tick_ms": 1000, "ack_timeout_ms": 300, "max_retransmit": 1,
                "backoff_max_s": 40, "credit_wh": 100_000, **(marker.kwargs if marker else {})}
    common = {"phone": "+260971234567", "register_url": gateway.http_url, "coap_port": gateway.coap_port,
              "gateway_key": gateway.public_key}
    if real_port:
        ssid = request.config.getoption("wifi_ssid")
        if ssid:
            settings.update(wifi_ssid=ssid, wifi_password=request.config.getoption("wifi_password"))
        identity, _ = provision("hil-meter", gateway=request.config.getoption("gateway_host"),
                                board=board_spec(request.config.getoption("meter_board")), port=real_port,
                                reset=False, **common, **settings)
        return MeterUnderTest(identity, gateway, virtual=False, scale=1.0)
    sim = {"speed": SPEED, "load": {"profile_w": [3600]}}  # 1 Wh a second of the meter's clock
    identity, _ = provision("hil-meter", gateway="127.0.0.1", board=board_spec("virtual", sim=sim),
                            flash=tmp_path / "flash", **common, **settings)
    return MeterUnderTest(identity, gateway, virtual=True, scale=1 / SPEED)


@pytest.fixture
def port(request, meter, tmp_path):
    """pytest-embedded's `port`: the real one, or a virtual board's pty."""
    if not meter.virtual:
        yield request.config.getoption("port")
        return
    board = VirtualBoard(tmp_path / "flash", script="main.py", heapsize=METER_HEAPSIZE)
    yield board.start()
    board.stop()


@pytest.fixture
def booted(dut, meter):
    """The meter from its boot on: a real board is soft-reset now that the port is open."""
    if not meter.virtual:
        dut.serial.proc.write(b"\x03\x03\x04")  # Ctrl-C stops main.py; Ctrl-D soft-resets, which runs it again
    return dut
