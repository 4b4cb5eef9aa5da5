# Boot entry: kept tiny because MicroPython compiles main.py from source on the device; the loop itself is
# in meter/device.py, deployed as precompiled .mpy.
from meter import device

device.main()
