"""Every file in ../shared/testdata/{video,audio,images,psd}, uploaded through the app, ends
processed with the right facts or failed with a Chinese reason: never a crash or a hang."""

import io
import os
import re

import pytest

from tests.conftest import TESTDATA, post_multipart

FOLDERS = {"video": "video", "audio": "audio", "images": "image", "psd": "wallchart"}
CASES = sorted(
    (kind, f"{folder}/{name}")
    for folder, kind in FOLDERS.items()
    if os.path.isdir(os.path.join(TESTDATA, folder))
    for name in os.listdir(os.path.join(TESTDATA, folder))
)

# Facts from ../shared/testdata/README.md: (width, height) of the source as a viewer sees it,
# plus per-file extras. Files listed in FAILS must fail (hostile or broken on purpose).
FACTS = {
    "video/moviepy_fire2.mp4": {"width": 1280, "height": 720, "rotation": 180, "sd": (854, 480)},
    "video/moviepy_smpte-2997.mp4": {"width": 1920, "height": 1080, "duration": 10.05, "sd": (854, 480)},
    "video/moviepy_big_buck_bunny_432_433.webm": {"width": 1280, "height": 720, "sd": (854, 480)},
    "video/mediabunny_rotate-buck-bunny.mp4": {"width": 1080, "height": 1920, "sd": (270, 480)},
    "video/filetype_fixture-mjpeg.mov": {"width": 640, "height": 480, "sd": (640, 480)},
    "audio/moviepy_crunching.mp3": {"duration": 8.3},
    "audio/filetype_fixture.wav": {"duration": 1.23},
    "audio/filetype_fixture.flac": {"duration": 1.23},
    "images/pillow_flower.jpg": {"width": 480, "height": 360},
    "images/pillow_iptc.jpg": {"width": 640, "height": 480},
    "images/sharp_2569067123_aca715a2ee_o.jpg": {"width": 2725, "height": 2225},
    "images/pillow_pil_sample_cmyk.jpg": {"width": 100, "height": 100, "colour_mode": "CMYK"},
    "psd/psdtools_300dpi.psb": {"width": 100, "height": 150, "dpi": 300},
    "psd/psdtools_cmyk-spot.psd": {"width": 640, "height": 637, "colour_mode": "CMYK"},
    "psd/psdtools_gray1.psd": {"width": 1800, "height": 1200, "colour_mode": "Grayscale"},
    "psd/agpsd_key-origin-shape-bbox.psd": {"width": 800, "height": 800},
}
FAILS = {
    "video/filetype_fixture-corrupt.mkv",
    "audio/jsonize_broken-wav.wav",
    "images/pillow_decompression_bomb.gif",
    "images/sharp_65536-uint32-limit.png",
    "images/sharp_truncated.jpg",
    "images/sharp_corrupt-header.jpg",
    "images/pillow_truncated_image.png",
    "psd/pillow_combined_larger_than_size.psd",
    "psd/pillow_psd-oob-write.psd",
}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def uploader(auth):
    auth.create_uploader()
    return auth.token()


@pytest.mark.parametrize(("kind", "relpath"), CASES, ids=[c[1] for c in CASES])
def test_testdata_file_ends_processed_or_failed_in_chinese(client, uploader, kind, relpath):
    with open(os.path.join(TESTDATA, relpath), "rb") as fh:
        data = {"kind": kind, "title": os.path.basename(relpath), "channel": "科技",
                "file": (io.BytesIO(fh.read()), os.path.basename(relpath))}  # fmt: skip
    response = post_multipart(client, "/api/v1/resources", data, uploader)
    body = response.get_json()
    if response.status_code == 422:
        # refused at the door (content is not what the type allows): a Chinese reason
        assert relpath in FAILS, body
        assert CJK.search(body["error"]["message"])
        return
    assert response.status_code == 201, body
    if relpath in FAILS:
        assert body["state"] == "failed", body
        assert CJK.search(body["processing"]["error"]), body["processing"]
        return
    assert body["state"] == "processed", body["processing"]
    files = {f["role"]: f for f in body["files"]}
    source = files["source"]
    expected = FACTS.get(relpath, {})
    for key in ("width", "height", "colour_mode"):
        if key in expected:
            assert source[key] == expected[key], (key, source)
    if "dpi" in expected:
        assert round(source["dpi"]) == expected["dpi"]
    if "duration" in expected:
        assert source["duration"] == pytest.approx(expected["duration"], abs=0.1)
    if "rotation" in expected:
        assert source["facts"]["rotation"] in (expected["rotation"], -expected["rotation"])
    if kind == "video":
        assert {"sd", "poster", "thumbnail"} <= set(files)
        sd = files["sd"]
        assert sd["mime_type"] == "video/mp4" and sd["video_codec"] == "h264"
        assert sd["height"] <= 480 and sd["width"] % 2 == 0 and sd["height"] % 2 == 0
        assert sd["facts"].get("rotation", 0) == 0
        if "sd" in expected:
            assert (sd["width"], sd["height"]) == expected["sd"]
        if "duration" in expected:
            assert sd["duration"] == pytest.approx(expected["duration"], abs=0.15)
    elif kind == "audio":
        assert files["listening"]["mime_type"] == "audio/mpeg" and files["listening"]["audio_codec"] == "mp3"
    else:
        assert {"preview", "thumbnail"} <= set(files)
        if kind == "wallchart":
            assert source["facts"]["orientation"] in ("portrait", "landscape", "square")
