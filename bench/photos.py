"""Benchmark: what cleaning a photo costs. `python -m bench.photos` (no database needed).

Every upload is decoded, turned upright and encoded again without metadata (geo/media/images.py);
the citizen waits for it. Here, for a 12 MP (4032×3024, an ordinary phone) and a 3 MP photo, saved as
a phone saves them (JPEG quality 92, EXIF with orientation 6 and GPS), photo-like content (a gradient
with noise, which compresses worse than most scenes, so the figures are on the high side):

1. ``clean()`` as the server runs it, median of 5;
2. the same encoding with ``optimize=True`` (rejected: see JPEG_QUALITY's comment), for the record;
3. the refusal of a 900-megapixel PNG bomb (it must not be decoded).
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

from geo.media.images import JPEG_QUALITY, clean

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "api"))
import photo_files as pf  # noqa: E402 - the tests' phone photos, with their EXIF

REPEATS = 5


def phone_photo(width: int, height: int) -> bytes:
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    img = Image.blend(base, Image.effect_noise((width, height), 40).convert("RGB"), 0.3)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92, exif=pf._exif(6))  # noqa: SLF001 - the tests' own EXIF block
    return buf.getvalue()


def median_ms(fn) -> float:  # noqa: ANN001
    runs = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


def main() -> None:
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    for width, height in ((4032, 3024), (2048, 1536)):
        raw = phone_photo(width, height)
        out = clean(raw, max_pixels=40_000_000)
        ms = median_ms(lambda raw=raw: clean(raw, max_pixels=40_000_000))
        decoded = Image.open(io.BytesIO(raw))
        decoded.load()

        def optimized(img: Image.Image = decoded) -> None:
            img.save(io.BytesIO(), "JPEG", quality=JPEG_QUALITY, optimize=True)

        def plain(img: Image.Image = decoded) -> None:
            img.save(io.BytesIO(), "JPEG", quality=JPEG_QUALITY)

        print(f"{width}x{height}: upload {len(raw) / 1e6:.2f} MB -> stored {len(out.data) / 1e6:.2f} MB; "
              f"clean() {ms:.0f} ms; encode alone {median_ms(plain):.0f} ms, with optimize {median_ms(optimized):.0f} ms")
    bomb = pf.bomb_png()
    t = time.perf_counter()
    try:
        clean(bomb, max_pixels=40_000_000)
    except Exception as exc:  # noqa: BLE001 - the refusal is what is timed
        print(f"900 MP PNG bomb ({len(bomb)} bytes) refused in {(time.perf_counter() - t) * 1000:.1f} ms: {exc}")


if __name__ == "__main__":
    main()
