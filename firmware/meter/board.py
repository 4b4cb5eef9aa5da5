"""Which board the firmware runs on: board.json on flash (a copy of one of hardware/boards/*.json).

load(settings, path) -> the variant's Board: "esp32" (meter/esp32board.py, real pins) or "virtual"
(meter/simboard.py, the unix port). Without a board.json the unix port runs as the default virtual board; a real
board needs its pin map, and load raises ValueError naming the problem.
"""

import json
import sys


def load(settings=None, path="board.json"):
    try:
        with open(path) as handle:
            spec = json.load(handle)
    except OSError:
        spec = None
    except ValueError:
        raise ValueError("board: " + path + " is not JSON")
    if spec is None:
        if sys.platform != "linux":
            raise ValueError("board: " + path + " not found (copy a pin map from hardware/boards/)")
        spec = {"variant": "virtual"}
    if not isinstance(spec, dict):
        raise ValueError("board: must be a JSON object")
    variant = spec.get("variant", "virtual")
    if variant == "virtual":
        from meter import simboard as module
    elif variant == "esp32":
        from meter import esp32board as module
    else:
        raise ValueError("board: unknown variant " + str(variant))
    try:
        return module.Board(spec, settings)
    except (KeyError, TypeError) as err:
        raise ValueError("board: missing or wrong entry " + repr(err))
