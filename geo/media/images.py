"""Turning an upload into a photo anyone may see: decoded, checked, re-encoded without metadata.

A phone's photo carries its GPS position, the camera's make and model, timestamps and sometimes a
comment or an XMP packet naming the owner: personal data a citizen did not mean to publish. So the
stored image is never the upload: it is decoded by Pillow, turned upright by its EXIF orientation
(after which the orientation tag would be wrong anyway), and encoded again from pixels only, with the
image's ``info`` emptied first, because several of Pillow's encoders copy an ICC profile, a comment or
EXIF from it when none is given. The EXIF GPS position (WGS-84 by the EXIF standard) is read first and
handed back to the uploader as a hint for the report's location; it is never stored.

Only JPEG, PNG and WebP are accepted (HEIC too when the pillow-heif plugin is installed; it is stored as
JPEG). Whatever the uploader says the type is, the bytes decide. The pixel count is checked from the
header before any pixel is decoded, so a decompression bomb (a small file that decodes to gigapixels)
is refused without being expanded.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.ExifTags import GPS, IFD

from geo.errors import InvalidInput

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_OUTPUT = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "HEIF": "JPEG"}  # HEIC is stored as JPEG
JPEG_QUALITY = 85  # visually lossless for photos of potholes; about a third of a phone's own quality 95

try:  # HEIC (iPhones) only if the plugin is there; it is not a dependency
    from pillow_heif import register_heif_opener  # type: ignore[import-not-found]

    register_heif_opener()
    _OPEN_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "HEIF")
except ImportError:  # pragma: no cover - depends on the environment
    _OPEN_FORMATS = ("JPEG", "PNG", "WEBP")


@dataclass(frozen=True)
class CleanImage:
    """The re-encoded photo: what is stored and served."""

    data: bytes
    content_type: str
    width: int
    height: int
    exif_location: dict[str, float] | None  # the uploader's hint; never stored


def accepted_types() -> str:
    return ", ".join(f.replace("HEIF", "HEIC") for f in _OPEN_FORMATS)


def clean(raw: bytes, *, max_pixels: int, pointer: str = "file") -> CleanImage:
    """Decode ``raw``, check it, and encode it again without metadata; InvalidInput (422) when it is
    not a whole JPEG/PNG/WebP image or has more than ``max_pixels`` pixels."""
    if not raw:
        raise InvalidInput("the file is empty", pointer=pointer)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw), formats=_OPEN_FORMATS)
            fmt = img.format or ""
            if img.width * img.height > max_pixels:
                raise InvalidInput(f"the image is {img.width}×{img.height} pixels; at most {max_pixels:,} pixels "
                                   "are accepted", pointer=pointer)
            location = exif_location(img)
            img.load()
            upright = ImageOps.exif_transpose(img)
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # past Pillow's own MAX_IMAGE_PIXELS
        raise InvalidInput(f"the image has far more pixels than the {max_pixels:,} accepted (a decompression bomb?)",
                           pointer=pointer) from None
    except UnidentifiedImageError:
        raise InvalidInput(f"the file is not an image of an accepted type ({accepted_types()})",
                           pointer=pointer) from None
    except (OSError, SyntaxError, ValueError, EOFError):  # truncated or corrupt data
        raise InvalidInput("the image cannot be decoded: the file is damaged or incomplete", pointer=pointer) from None
    out_format = _OUTPUT[fmt]
    data = _encode(upright, out_format)
    return CleanImage(data, FORMATS[out_format], upright.width, upright.height, location)


def _encode(img: Image.Image, out_format: str) -> bytes:
    """Pixels only: a copy with no ``info`` (ICC, EXIF, XMP, comments), in a mode the format takes."""
    if out_format == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    elif out_format == "WEBP" and img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    elif out_format == "PNG" and img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        img = img.convert("RGBA")
    transparency = img.info.get("transparency") if out_format == "PNG" else None
    img = img.copy()
    img.info = {}
    options: dict[str, object] = {}
    if out_format == "JPEG":
        options = {"quality": JPEG_QUALITY, "optimize": True}
    elif out_format == "WEBP":
        options = {"quality": JPEG_QUALITY}
    elif transparency is not None:  # a palette's transparent entries are pixels, not metadata
        options = {"transparency": transparency}
    buf = io.BytesIO()
    img.save(buf, format=out_format, **options)
    return buf.getvalue()


def exif_location(img: Image.Image) -> dict[str, float] | None:
    """The EXIF GPS position as ``{"lon", "lat"}`` (WGS-84), or None when absent or nonsensical."""
    try:
        gps = img.getexif().get_ifd(IFD.GPSInfo)
        lat = _degrees(gps.get(GPS.GPSLatitude), gps.get(GPS.GPSLatitudeRef), "S")
        lon = _degrees(gps.get(GPS.GPSLongitude), gps.get(GPS.GPSLongitudeRef), "W")
    except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse the photo
        return None
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return {"lon": round(lon, 7), "lat": round(lat, 7)}


def _degrees(dms: object, ref: object, negative: str) -> float | None:
    """Degrees, minutes, seconds (EXIF rationals) to signed decimal degrees."""
    if not isinstance(dms, tuple | list) or len(dms) != 3:
        return None
    d, m, s = (float(v) for v in dms)  # IFDRational or a number
    value = d + m / 60 + s / 3600
    if not math.isfinite(value):
        return None
    ref_text = ref.decode() if isinstance(ref, bytes) else str(ref or "")
    return -value if ref_text.strip().upper() == negative else value
