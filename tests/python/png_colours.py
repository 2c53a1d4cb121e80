"""Counts the pixels of a screenshot close to given colours (how much of each chart was drawn).

Usage: png_colours.py PNG RRGGBB [RRGGBB …]
Prints {"width", "height", "counts": {"RRGGBB": n}, "non_white": n}.
"""

import json
import os
import sys

from PIL import Image


def main():
    image = Image.open(sys.argv[1]).convert("RGB")
    targets = {c: tuple(int(c[i : i + 2], 16) for i in (0, 2, 4)) for c in sys.argv[2:]}
    counts = {c: 0 for c in targets}
    non_white = 0
    for r, g, b in image.getdata():
        if r < 245 or g < 245 or b < 245:
            non_white += 1
        for name, (tr, tg, tb) in targets.items():
            if abs(r - tr) + abs(g - tg) + abs(b - tb) <= 60:
                counts[name] += 1
    print(json.dumps({"width": image.width, "height": image.height, "counts": counts, "non_white": non_white}))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
