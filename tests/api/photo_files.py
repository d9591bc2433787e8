"""Real photos for the photo tests, built by Pillow, carrying what a phone puts in them: an EXIF GPS
position, the camera's make and model, an orientation, a comment, an XMP packet and an ICC profile.
Every planted string is listed in PLANTED so a test can scan the stored bytes for each."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageCms
from PIL.ExifTags import GPS, IFD, Base
from PIL.PngImagePlugin import PngInfo

CAMERA_MAKE = "PlantedMaker"
CAMERA_MODEL = "PlantedCam X9"
COMMENT = "planted comment 张三 13812345678"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>PlantedOwner</dc:creator></x:xmpmeta>'
PLANTED = (CAMERA_MAKE.encode(), CAMERA_MODEL.encode(), b"planted comment", b"PlantedOwner", b"Exif\x00\x00",
           b"sRGB")
# Where the phone was: 26°34'12.5" N, 106°42'30" E (Guiyang), as EXIF writes it.
GPS_DMS = ((26.0, 34.0, 12.5), (106.0, 42.0, 30.0))
GPS_DECIMAL = {"lat": 26 + 34 / 60 + 12.5 / 3600, "lon": 106 + 42 / 60 + 30 / 3600}
RED, BLUE = (220, 20, 20), (20, 20, 220)


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[Base.Make] = CAMERA_MAKE
    exif[Base.Model] = CAMERA_MODEL
    exif[Base.Orientation] = orientation
    exif[Base.ImageDescription] = COMMENT
    exif[IFD.GPSInfo] = {GPS.GPSLatitudeRef: "N", GPS.GPSLatitude: GPS_DMS[0],
                         GPS.GPSLongitudeRef: "E", GPS.GPSLongitude: GPS_DMS[1]}
    return exif


def two_halves(width: int = 64, height: int = 32) -> Image.Image:
    """Red on the left half, blue on the right: after a rotation one can tell which way it turned."""
    img = Image.new("RGB", (width, height), RED)
    img.paste(BLUE, (width // 2, 0, width, height))
    return img


def phone_jpeg(orientation: int = 6) -> bytes:
    """A JPEG as a phone held upright writes it: pixels sideways and Orientation 6 (turn 90° clockwise)."""
    buf = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    two_halves().save(buf, "JPEG", exif=_exif(orientation), comment=COMMENT.encode(), xmp=XMP, icc_profile=icc,
                      quality=95)
    return buf.getvalue()


def phone_png() -> bytes:
    """A PNG with an eXIf chunk (GPS, camera), a text comment and an ICC profile."""
    info = PngInfo()
    info.add_text("Comment", COMMENT)
    info.add_text("XML:com.adobe.xmp", XMP.decode())
    buf = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    two_halves().save(buf, "PNG", exif=_exif(1), pnginfo=info, icc_profile=icc)
    return buf.getvalue()


def plain_jpeg(color: tuple[int, int, int] = (40, 160, 40), size: tuple[int, int] = (48, 36)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(side: int = 30_000) -> bytes:
    """A valid PNG header claiming side × side pixels (900 MP at the default), with a tiny compressed
    body: decoded it would need gigabytes. Built by hand, because Pillow would have to hold it."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" + b"\x00" * side
    body = zlib.compress(row * 64, 9)  # the first rows only; the decoder would ask for the rest
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
