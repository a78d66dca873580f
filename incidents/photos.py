"""Photo checks and cleaning: content type by decoding, size and pixel limits, orientation,
EXIF GPS read before every piece of metadata is dropped, and a thumbnail.

Nothing from the uploaded file is stored as sent: the pixels are decoded and re-encoded as a
fresh JPEG, which carries no EXIF, XMP, ICC comments or GPS.
"""

import io
import warnings
from dataclasses import dataclass
from fractions import Fraction

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from incidents.exceptions import PhotoRejected

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "MPO"}
THUMBNAIL_SIZE = (320, 320)
GPS_IFD = 0x8825


@dataclass(frozen=True)
class CleanPhoto:
    image: bytes
    thumbnail: bytes
    width: int
    height: int
    gps: tuple[float, float] | None  # (lon, lat) from EXIF, if the photo had it


def _ratio(value) -> float:
    if isinstance(value, tuple) and len(value) == 2:
        return float(Fraction(value[0], value[1])) if value[1] else 0.0
    return float(value)


def _dms_to_degrees(dms, ref: str) -> float:
    degrees, minutes, seconds = (_ratio(v) for v in dms)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if ref in ("S", "W") else value


def exif_gps(image: Image.Image) -> tuple[float, float] | None:
    try:
        gps = image.getexif().get_ifd(GPS_IFD)
    except Exception:  # malformed EXIF is common and never fatal
        return None
    try:
        lat = _dms_to_degrees(gps[2], gps.get(1, "N"))
        lon = _dms_to_degrees(gps[4], gps.get(3, "E"))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return (round(lon, 7), round(lat, 7))


def photo_clean(data: bytes, *, name: str = "photo") -> CleanPhoto:
    """Check and re-encode one photo; raise PhotoRejected with a reason a person understands."""
    max_bytes = settings.RASAD_PHOTO_MAX_BYTES
    max_pixels = settings.RASAD_PHOTO_MAX_PIXELS
    if len(data) == 0:
        raise PhotoRejected(_("The photo “%(name)s” is empty.") % {"name": name}, field="photos")
    if len(data) > max_bytes:
        raise PhotoRejected(
            _("The photo “%(name)s” is %(size)s MB; the limit is %(limit)s MB.")
            % {"name": name, "size": round(len(data) / 1e6, 1), "limit": round(max_bytes / 1e6, 1)},
            field="photos",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            fmt = probe.format
            width, height = probe.size
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning,
            OSError, ValueError, SyntaxError) as exc:
        raise PhotoRejected(
            _("The file “%(name)s” is not a photo we can read (JPEG, PNG, WebP or GIF).")
            % {"name": name},
            field="photos",
        ) from exc
    if fmt not in ALLOWED_FORMATS:
        raise PhotoRejected(
            _("The file “%(name)s” is a %(format)s image; send JPEG, PNG, WebP or GIF.")
            % {"name": name, "format": fmt},
            field="photos",
        )
    if width * height > max_pixels or width < 1 or height < 1:
        raise PhotoRejected(
            _("The photo “%(name)s” is %(w)s×%(h)s pixels; the limit is %(mp)s megapixels.")
            % {"name": name, "w": width, "h": height, "mp": max_pixels // 1_000_000},
            field="photos",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            gps = exif_gps(image)
            image.load()
            image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise PhotoRejected(
            _("The photo “%(name)s” is damaged and cannot be read.") % {"name": name},
            field="photos",
        ) from exc
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)
    thumb = image.copy()
    thumb.thumbnail(THUMBNAIL_SIZE)
    thumb_out = io.BytesIO()
    thumb.save(thumb_out, format="JPEG", quality=80)
    return CleanPhoto(image=out.getvalue(), thumbnail=thumb_out.getvalue(),
                      width=image.width, height=image.height, gps=gps)
