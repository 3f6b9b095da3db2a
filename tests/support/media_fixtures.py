"""Small real media files the tests make themselves: what uploaders' devices write.

Each function writes one file at ``path`` and returns the path. ffmpeg runs here with the test's own
argv (lavfi sources are the test's business, never the product's), a second or two of tiny video.
"""

import subprocess
from pathlib import Path

FFMPEG = ("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y")
TINY_VIDEO = "testsrc=size=160x120:rate=15:duration=1.5"
TINY_AUDIO = "sine=frequency=440:duration=1.5"


def _ffmpeg(*args, stdout=None):
    subprocess.run([*FFMPEG, *args], check=True, timeout=60, stdout=stdout)


def piped(path: Path, fmt: str, *args) -> Path:
    """``ffmpeg … -f <fmt> pipe:1 > path``: the muxer cannot seek back to write the duration."""
    with open(path, "wb") as out:
        _ffmpeg(*args, "-f", fmt, "pipe:1", stdout=out)
    return path


def recorder_webm(path: Path) -> Path:
    """VP8 + Opus WebM written to a pipe, as a browser's MediaRecorder leaves it: no duration."""
    return piped(
        path,
        "webm",
        *("-f", "lavfi", "-i", TINY_VIDEO, "-f", "lavfi", "-i", TINY_AUDIO),
        *("-c:v", "libvpx", "-deadline", "realtime", "-b:v", "100k", "-c:a", "libopus"),
    )


def recorder_flac(path: Path) -> Path:
    """FLAC written to a pipe (no sample count in STREAMINFO): no duration either."""
    return piped(path, "flac", "-f", "lavfi", "-i", TINY_AUDIO)


def oversized_mjpeg_mkv(path: Path, side: int = 8200) -> Path:
    """One black MJPEG frame of side x side (over ffmpeg's decode limit) in Matroska; ~0.5 s to make."""
    _ffmpeg(
        *("-f", "lavfi", "-i", f"color=c=black:s={side}x{side}:d=0.04:r=25", "-frames:v", "1"),
        *("-c:v", "mjpeg", "-q:v", "31", "-pix_fmt", "yuvj420p", str(path)),
    )
    return path


# The CMYK ink values of the charts below (Pillow's convention: 0 = no ink, 255 = full ink).
CMYK_INK = (200, 30, 0, 10)


def cmyk_jpeg(path: Path, size=(300, 200), dpi=150) -> Path:
    """A CMYK JPEG wall chart (what Photoshop saves for print), one flat ink mix."""
    from PIL import Image

    Image.new("CMYK", size, CMYK_INK).save(path, "JPEG", dpi=(dpi, dpi), quality=95)
    return path


def cmyk_psd(path: Path, size=(300, 200)) -> Path:
    """A CMYK PSD with merged image data of one flat ink mix (psd-tools writes it).

    PSD stores CMYK inverted (255 = no ink) and psd-tools inverts when it reads, but not when
    ``frompil`` writes: the picture is inverted here so that reading it back gives CMYK_INK.
    """
    from PIL import Image, ImageChops
    from psd_tools import PSDImage

    PSDImage.frompil(ImageChops.invert(Image.new("CMYK", size, CMYK_INK))).save(path)
    return path


A3_300DPI = (3508, 4961)


def poster_psd(path: Path, size=A3_300DPI, dpi=300) -> Path:
    """A flattened CMYK poster as Photoshop saves it for print: RLE merged data, ``dpi`` stated.

    The picture has some texture (gradients in C and M, noise in Y, blocks of spot colour), so the
    RLE data is about a quarter of the raw size, as a real chart's is. A3 at 300 dpi by default
    (the benchmark's 17.4 Mpx, 70 MB decoded); tests use smaller sizes.
    """
    import struct

    from PIL import Image, ImageChops, ImageDraw
    from psd_tools import PSDImage

    width, height = size
    gradient = Image.linear_gradient("L")
    noise = Image.effect_noise((max(1, width // 4), max(1, height // 4)), 40).resize(size)
    image = Image.merge(
        "CMYK", (gradient.resize(size), gradient.rotate(90).resize(size), noise, Image.new("L", size, 0))
    )
    draw = ImageDraw.Draw(image)
    for x in range(0, width, max(1, width // 18)):
        draw.rectangle([x, x, x + width // 24, x + width // 12], fill=(0, 200, 200, 0))
    PSDImage.frompil(ImageChops.invert(image)).save(path)  # inverted: see cmyk_psd
    # psd-tools writes no resolution: put a ResolutionInfo (0x03ED) into the resources section.
    data = Path(path).read_bytes()
    colour_end = 26 + 4 + struct.unpack(">I", data[26:30])[0]
    resources_length = struct.unpack(">I", data[colour_end : colour_end + 4])[0]
    fixed = round(dpi * 65536)
    resolution = struct.pack(">IHHIHH", fixed, 1, 2, fixed, 1, 2)
    block = b"8BIM" + struct.pack(">H", 0x03ED) + b"\0\0" + struct.pack(">I", len(resolution)) + resolution
    resources = block + data[colour_end + 4 : colour_end + 4 + resources_length]
    Path(path).write_bytes(
        data[:colour_end]
        + struct.pack(">I", len(resources))
        + resources
        + data[colour_end + 4 + resources_length :]
    )
    return Path(path)


# Tian'anmen, as a phone writes it: EXIF GPS rationals, XMP, and the QuickTime ISO 6709 string.
GPS_IFD = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 29.0), 6: 50.0}
GPS_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
    b' xmlns:xmp="http://ns.adobe.com/xap/1.0/" exif:GPSLatitude="39,54.45N" exif:GPSLongitude="116,23.48E"'
    b' photoshop:City="Beijing" xmp:Rating="5"><exif:GPSAltitude>50/1</exif:GPSAltitude></rdf:Description>'
    b"</rdf:RDF></x:xmpmeta>"
)
LOCATION = "+39.9+116.4/"


def gps_photo(path: Path, fmt: str = "JPEG", size=(64, 48)) -> Path:
    """A phone photo: noisy pixels, EXIF orientation 6 and the GPS IFD, XMP with GPS and city."""
    import random

    from PIL import Image

    image = Image.frombytes("RGB", size, random.Random(1).randbytes(size[0] * size[1] * 3))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Phone maker"
    exif[0x8825] = GPS_IFD
    if fmt == "PNG":  # Pillow writes XMP into PNGs only as a text chunk it is given
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", GPS_XMP.decode())
        image.save(path, fmt, exif=exif, pnginfo=info)
    else:
        image.save(path, fmt, exif=exif, xmp=GPS_XMP)
    return path


def located_mp4(path: Path) -> Path:
    """A phone clip: H.264 + AAC with a location tag (©xyz) and a language on the sound."""
    _ffmpeg(
        *("-f", "lavfi", "-i", TINY_VIDEO, "-f", "lavfi", "-i", TINY_AUDIO),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"),
        *("-metadata", f"location={LOCATION}", "-metadata:s:a:0", "language=chi", str(path)),
    )
    return path
