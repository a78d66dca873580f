"""Photo checks and cleaning: content type by decoding, size and pixel limits, orientation,
EXIF GPS read before every piece of metadata is dropped, and a thumbnail.

Nothing from the uploaded file is stored as sent: the pixels are decoded and re-encoded as a
fresh JPEG, which carries no EXIF, XMP, ICC profile, comment or GPS.
"""

import io
import math
from dataclasses import dataclass
from fractions import Fraction

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image

from incidents.exceptions import PhotoRejected

# Only these decoders ever see an upload: Pillow would otherwise try all of its ~40 formats
# (EPS, PSD, TGA…) on untrusted bytes. A JPEG with several pictures opens as MPO.
OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "MPO"}
THUMBNAIL_SIZE = (320, 320)
GPS_IFD = 0x8825
ORIENTATION = 0x0112
# EXIF orientation → the transposition that makes the picture upright (as ImageOps does).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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


def exif_orientation(image: Image.Image) -> int:
    try:
        orientation = image.getexif().get(ORIENTATION, 1)
    except Exception:  # malformed EXIF: keep the pixels as they are
        return 1
    return orientation if isinstance(orientation, int) else 1


def _not_readable(name: str) -> PhotoRejected:
    return PhotoRejected(
        _("The file “%(name)s” is not a photo we can read (JPEG, PNG, WebP or GIF).")
        % {"name": name},
        field="photos",
    )


def _too_many_pixels(name: str, width: int | None = None, height: int | None = None
                     ) -> PhotoRejected:
    mp = settings.RASAD_PHOTO_MAX_PIXELS // 1_000_000
    if width is None:
        message = (_("The photo “%(name)s” has too many pixels; the limit is %(mp)s megapixels.")
                   % {"name": name, "mp": mp})
    else:
        message = (_("The photo “%(name)s” is %(w)s×%(h)s pixels; the limit is %(mp)s megapixels.")
                   % {"name": name, "w": width, "h": height, "mp": mp})
    return PhotoRejected(message, field="photos")


def photo_clean(data: bytes, *, name: str = "photo") -> CleanPhoto:
    """Check and re-encode one photo; raise PhotoRejected with a reason a person understands.

    Size and pixel limits are checked on the header, before any pixel is decoded.
    """
    max_bytes = settings.RASAD_PHOTO_MAX_BYTES
    if len(data) == 0:
        raise PhotoRejected(_("The photo “%(name)s” is empty.") % {"name": name}, field="photos")
    if len(data) > max_bytes:
        # Size rounded up and limit down, so a photo over the limit never reads as equal to it.
        raise PhotoRejected(
            _("The photo “%(name)s” is %(size)s MB; the limit is %(limit)s MB.")
            % {"name": name, "size": math.ceil(len(data) / 1e5) / 10,
               "limit": math.floor(max_bytes / 1e5) / 10},
            field="photos",
        )
    # Opening reads only the header. Pillow refuses more than 2 × Image.MAX_IMAGE_PIXELS by
    # itself; our lower limit is checked below. No warnings.catch_warnings(): it changes
    # process-wide state and is not safe in threaded workers.
    try:
        image = Image.open(io.BytesIO(data), formats=OPEN_FORMATS)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(name) from exc
    except Exception as exc:  # Pillow raises many exception types on hostile input
        raise _not_readable(name) from exc
    if image.format not in ALLOWED_FORMATS:
        raise _not_readable(name)
    width, height = image.size
    if width * height > settings.RASAD_PHOTO_MAX_PIXELS or width < 1 or height < 1:
        raise _too_many_pixels(name, width, height)
    gps = exif_gps(image)
    orientation = exif_orientation(image)
    try:
        image.load()
        if orientation in UPRIGHT:
            image = image.transpose(UPRIGHT[orientation])
        if image.mode not in ("RGB", "L"):
            rgba = image.convert("RGBA")
            image = Image.new("RGB", image.size, (255, 255, 255))
            image.paste(rgba, mask=rgba.getchannel("A"))
    except Exception as exc:  # truncated or corrupt pixel data
        raise PhotoRejected(
            _("The photo “%(name)s” is damaged and cannot be read.") % {"name": name},
            field="photos",
        ) from exc
    # The JPEG writer copies `info["comment"]` (a JPEG COM or PNG text chunk) into the output
    # unless told otherwise: drop everything the file carried besides its pixels.
    image.info = {}
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)
    thumb = image.copy()
    thumb.thumbnail(THUMBNAIL_SIZE)
    thumb_out = io.BytesIO()
    thumb.save(thumb_out, format="JPEG", quality=80)
    return CleanPhoto(image=out.getvalue(), thumbnail=thumb_out.getvalue(),
                      width=image.width, height=image.height, gps=gps)
