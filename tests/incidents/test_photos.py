"""Photo checks and cleaning: incidents.photos.photo_clean, on its own and through report_submit."""

import io
import struct
import zlib

import pytest
from PIL import Image, ImageCms, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from incidents.exceptions import PhotoRejected, ValidationFailed
from incidents.models import Incident, Photo, Report
from incidents.photos import photo_clean
from tests.conftest import CENTRE, jpeg_bytes

MAKE, MODEL, DATETIME, ORIENTATION, GPS_IFD = 0x010F, 0x0110, 0x0132, 0x0112, 0x8825
# What Pillow reports for a fresh JPEG: the JFIF header and nothing else.
JFIF_ONLY = {"jfif", "jfif_version", "jfif_unit", "jfif_density"}
# 60°10'12" N, 24°55'48" E is 60.17 N, 24.93 E: inside the test city.
GPS_HELSINKI = {1: "N", 2: (60.0, 10.0, 12.0), 3: "E", 4: (24.0, 55.0, 48.0)}
NOT_A_PHOTO = "The file “{}” is not a photo we can read (JPEG, PNG, WebP or GIF)."


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def camera_exif(*, gps: dict | None = None, orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "Canon"
    exif[MODEL] = "EOS 5D"
    exif[DATETIME] = "2026:01:31 14:00:00"
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if gps is not None:
        exif[GPS_IFD] = gps
    return exif


def camera_jpeg(size=(64, 48), **exif) -> bytes:
    """A JPEG carrying everything a phone adds: EXIF with GPS, ICC profile, XMP, a comment."""
    out = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", size, (200, 30, 30)).save(
        out, format="JPEG", exif=camera_exif(**exif), icc_profile=icc,
        xmp=b"<x:xmpmeta>owner: Jane Doe</x:xmpmeta>", comment=b"home: 12 Secret Street")
    return out.getvalue()


def png_bytes(image: Image.Image, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **params)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, idat: bytes) -> bytes:
    """A 1-bit greyscale PNG whose header declares `width` × `height`, with the given IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def zeros_deflated(width: int, height: int) -> bytes:
    """Valid pixel data for a blank 1-bit image: a few hundred kB that inflate to width×height."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    packer = zlib.compressobj(9)
    chunks = [packer.compress(row * 100) for _ in range(height // 100)]
    return b"".join(chunks) + packer.flush()


def stored(field) -> Image.Image:
    with field.open("rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


def raw(field) -> bytes:
    with field.open("rb") as handle:
        return handle.read()


def nothing_created() -> tuple[int, int, int]:
    return (Report.objects.count(), Incident.objects.count(), Photo.objects.count())


# Cleaning


@pytest.mark.django_db
def test_submitted_photo_is_stored_without_any_metadata(category, make_report):
    data = camera_jpeg(gps=GPS_HELSINKI)

    report = make_report(category, photos=[("camera.jpg", data)])

    photo = Photo.objects.get(report=report)
    assert (photo.state, photo.width, photo.height) == (Photo.State.READY, 64, 48)
    for field in (photo.image, photo.thumbnail):
        image = stored(field)
        assert image.format == "JPEG"
        assert dict(image.getexif()) == {}
        assert set(image.info) == JFIF_ONLY
        content = raw(field)
        for marker in (b"Exif", b"Canon", b"EOS 5D", b"ICC_PROFILE", b"xmpmeta", b"Jane Doe",
                       b"Secret Street"):
            assert marker not in content


@pytest.mark.django_db
def test_thumbnail_fits_in_320_px_and_keeps_the_aspect_ratio(category, make_report):
    report = make_report(category, photos=[("wide.jpg", jpeg_bytes(size=(1000, 600)))])

    photo = Photo.objects.get(report=report)
    assert (photo.width, photo.height) == (1000, 600)
    assert stored(photo.image).size == (1000, 600)
    assert stored(photo.thumbnail).size == (320, 192)


@pytest.mark.django_db
def test_exif_orientation_is_applied_to_the_pixels(category, make_report):
    # Left half red, right half blue; orientation 6 means "turn 90° clockwise to view".
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, exif=camera_exif(orientation=6))

    report = make_report(category, photos=[("sideways.jpg", out.getvalue())])

    photo = Photo.objects.get(report=report)
    upright = stored(photo.image)
    assert (photo.width, photo.height) == (20, 40)
    assert upright.size == (20, 40)
    assert dict(upright.getexif()) == {}
    top, bottom = upright.getpixel((10, 5)), upright.getpixel((10, 34))
    assert top == pytest.approx((255, 0, 0), abs=20)
    assert bottom == pytest.approx((0, 0, 255), abs=20)


@pytest.mark.parametrize(
    ("gps", "expected"),
    [
        pytest.param(GPS_HELSINKI, (24.93, 60.17), id="decimal"),
        pytest.param({1: "N", 2: (IFDRational(60), IFDRational(10), IFDRational(1234, 100)),
                      3: "E", 4: (IFDRational(24), IFDRational(55), IFDRational(4800, 100))},
                     (24 + 55 / 60 + 48 / 3600, 60 + 10 / 60 + 12.34 / 3600), id="rational"),
    ],
)
@pytest.mark.django_db
def test_report_without_coordinates_is_placed_at_photo_gps(category, make_report, gps, expected):
    data = camera_jpeg(gps=gps)

    report = make_report(category, lon=None, lat=None, photos=[("gps.jpg", data)])

    assert report.location.srid == 4326
    assert (report.location.x, report.location.y) == pytest.approx(expected, abs=1e-5)
    assert Incident.objects.get(pk=report.incident_id).location.coords == pytest.approx(
        expected, abs=1e-5)


@pytest.mark.django_db
def test_given_coordinates_win_over_photo_gps(category, make_report):
    data = camera_jpeg(gps={**GPS_HELSINKI, 4: (24.0, 56.0, 0.0)})

    report = make_report(category, photos=[("gps.jpg", data)])

    assert (report.location.x, report.location.y) == pytest.approx(CENTRE, abs=1e-9)


def test_south_and_west_gps_are_negative():
    data = camera_jpeg(gps={**GPS_HELSINKI, 1: "S", 3: "W"})

    clean = photo_clean(data, name="gps.jpg")

    assert clean.gps == pytest.approx((-24.93, -60.17), abs=1e-5)


@pytest.mark.django_db
def test_report_without_coordinates_or_photo_gps_is_refused(category, make_report):
    with pytest.raises(ValidationFailed) as refused:
        make_report(category, lon=None, lat=None, photos=[("plain.jpg", jpeg_bytes())])

    assert refused.value.errors == {
        "lat": ["The location is missing: send lat and long, or a photo with GPS."]}
    assert nothing_created() == (0, 0, 0)


@pytest.mark.parametrize(
    ("image", "params"),
    [
        pytest.param(Image.new("RGBA", (30, 20), (0, 0, 0, 0)), {}, id="png-rgba"),
        pytest.param(Image.new("LA", (30, 20), (0, 0)), {}, id="png-grey-alpha"),
        pytest.param(Image.new("P", (30, 20), 0), {"transparency": 0}, id="png-palette"),
    ],
)
def test_transparent_png_becomes_jpeg_on_white(image, params):
    clean = photo_clean(png_bytes(image, **params), name="clear.png")

    result = Image.open(io.BytesIO(clean.image))
    assert (result.format, result.mode, result.size) == ("JPEG", "RGB", (30, 20))
    assert result.getpixel((15, 10)) == pytest.approx((255, 255, 255), abs=3)
    assert Image.open(io.BytesIO(clean.thumbnail)).format == "JPEG"


def test_gif_becomes_jpeg():
    out = io.BytesIO()
    Image.new("P", (30, 20), 0).save(out, format="GIF", comment=b"made by someone")

    clean = photo_clean(out.getvalue(), name="anim.gif")

    result = Image.open(io.BytesIO(clean.image))
    assert (result.format, result.size) == ("JPEG", (30, 20))
    assert set(result.info) == JFIF_ONLY


def png_with_comment(text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", text)  # Pillow reads it as info["comment"], as for a JPEG COM
    return png_bytes(Image.new("RGB", (30, 20)), pnginfo=info)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(png_with_comment("confidential " * 6_000),
                     id="png-text-longer-than-a-jpeg-comment"),
        pytest.param(jpeg_bytes() + b"<script>alert(1)</script>", id="html-after-jpeg"),
    ],
)
def test_text_riding_along_with_a_photo_is_not_stored(data):
    clean = photo_clean(data, name="carrier")

    assert set(Image.open(io.BytesIO(clean.image)).info) == JFIF_ONLY
    assert b"<script>" not in clean.image
    assert b"confidential" not in clean.image


# Refusals


@pytest.mark.parametrize(
    ("width", "height", "idat", "message"),
    [
        # 400 Mpx of real deflated pixels: 50 MB inflated, 400 MB once decoded.
        pytest.param(20_000, 20_000, zeros_deflated,
                     "The photo “bomb.png” has too many pixels; the limit is 40 megapixels.",
                     id="bomb-400mpx"),
        # The pixel data is garbage: only refusing on the header can give this message.
        pytest.param(8_000, 6_000, lambda width, height: b"\x00" * 16,
                     "The photo “bomb.png” is 8000×6000 pixels; the limit is 40 megapixels.",
                     id="header-48mpx"),
    ],
)
@pytest.mark.django_db
def test_decompression_bomb_is_refused_before_decoding(category, make_report, width, height,
                                                        idat, message):
    data = png_declaring(width, height, idat(width, height))
    assert len(data) < 200_000

    with pytest.raises(PhotoRejected) as refused:
        make_report(category, photos=[("bomb.png", data)])

    assert (refused.value.message, refused.value.field) == (message, "photos")
    assert nothing_created() == (0, 0, 0)


def first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def bmp_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="BMP")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        pytest.param("notes.jpg", b"this is not a picture, just text", NOT_A_PHOTO, id="text"),
        pytest.param("page.jpg", b"<!DOCTYPE html><html><body><script>alert(1)</script>"
                     b"</body></html>", NOT_A_PHOTO, id="html"),
        pytest.param("logo.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"'
                     b' width="10" height="10"><script>alert(1)</script></svg>', NOT_A_PHOTO,
                     id="svg"),
        pytest.param("old.bmp", bmp_bytes(), NOT_A_PHOTO, id="bmp-is-not-accepted"),
        pytest.param("cut.jpg", first_half(jpeg_bytes(size=(200, 200))),
                     "The photo “{}” is damaged and cannot be read.", id="truncated-jpeg"),
        pytest.param("empty.jpg", b"", "The photo “{}” is empty.", id="empty"),
    ],
)
@pytest.mark.django_db
def test_file_that_is_not_a_usable_photo_is_refused(category, make_report, name, data, message):
    with pytest.raises(PhotoRejected) as refused:
        make_report(category, photos=[("ok.jpg", jpeg_bytes()), (name, data)])

    assert (refused.value.message, refused.value.field) == (message.format(name), "photos")
    assert nothing_created() == (0, 0, 0)


@pytest.mark.django_db
def test_photo_over_the_byte_limit_is_refused(category, make_report, settings):
    settings.RASAD_PHOTO_MAX_BYTES = 100_000
    data = jpeg_bytes().ljust(150_000, b"\x00")

    with pytest.raises(PhotoRejected) as refused:
        make_report(category, photos=[("big.jpg", data)])

    assert refused.value.message == "The photo “big.jpg” is 0.2 MB; the limit is 0.1 MB."
    assert nothing_created() == (0, 0, 0)


@pytest.mark.django_db
def test_photo_exactly_at_the_byte_limit_is_accepted(category, make_report, settings):
    data = jpeg_bytes()
    settings.RASAD_PHOTO_MAX_BYTES = len(data)

    report = make_report(category, photos=[("edge.jpg", data)])

    assert Photo.objects.get(report=report).state == Photo.State.READY


@pytest.mark.parametrize(
    ("uploads", "links"),
    [pytest.param(6, 0, id="six-uploads"), pytest.param(3, 3, id="three-and-three-links")],
)
@pytest.mark.django_db
def test_more_than_five_photos_are_refused(category, make_report,
                                           django_capture_on_commit_callbacks, uploads, links):
    photos = [(f"p{i}.jpg", jpeg_bytes()) for i in range(uploads)]
    media_urls = [f"https://photos.example.org/{i}.jpg" for i in range(links)]

    with django_capture_on_commit_callbacks() as callbacks, \
            pytest.raises(ValidationFailed) as refused:
        make_report(category, photos=photos, media_urls=media_urls)

    assert refused.value.errors == {"photos": ["A report can have at most 5 photos."]}
    assert nothing_created() == (0, 0, 0)
    assert callbacks == []


@pytest.mark.django_db
def test_five_photos_are_accepted(category, make_report):
    report = make_report(category, photos=[(f"p{i}.jpg", jpeg_bytes()) for i in range(5)])

    assert Photo.objects.filter(report=report, state=Photo.State.READY).count() == 5
