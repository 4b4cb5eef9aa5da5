# Boot entry: kept tiny because MicroPython compiles main.py from source on the device; the firmware itself is in
# meter/, deployed as precompiled .mpy. meter/boot.py unloads itself once the device is built.
from meter import boot

device = boot.start()
del boot
device.run()
