# The meter firmware: small self-contained modules in pure MicroPython.
