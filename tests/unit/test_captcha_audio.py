"""The spoken captcha (语音验证码) and the refresh button (issue 12: audio alternative)."""

import io
import re
import wave

from captcha.audio import AudioCaptcha

from tests.conftest import captcha_answer

PHONE = "13800138000"


def spoken(monkeypatch):
    """Record what the captcha library is asked to speak (it still speaks it)."""
    said = []
    real = AudioCaptcha.generate

    def generate(self, chars):
        said.append(chars)
        return real(self, chars)

    monkeypatch.setattr(AudioCaptcha, "generate", generate)
    return said


def test_the_audio_is_a_wav_of_the_same_challenge_given_once(app, client, auth, monkeypatch):
    said = spoken(monkeypatch)
    captcha_id = auth.new_captcha()
    other_id = auth.new_captcha()
    response = client.get(f"/api/v1/captcha/{captcha_id}.wav")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert "no-store" in response.headers["Cache-Control"]
    with wave.open(io.BytesIO(response.data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 1, 8000)
        seconds = wav.getnframes() / wav.getframerate()
    assert 3 < seconds < 30  # four characters with pauses between them
    assert said == [captcha_answer(app, captcha_id)]
    assert said != [captcha_answer(app, other_id)]
    # given once, like the picture
    again = client.get(f"/api/v1/captcha/{captcha_id}.wav")
    assert again.status_code == 404
    assert again.get_json()["error"]["message"] == "语音验证码已失效，请刷新验证码"
    # hearing it does not spend it: the answer heard still works, once
    assert auth.request_code(PHONE, captcha_id=captcha_id).status_code == 200
    assert client.get(f"/api/v1/captcha/{other_id}.wav").status_code == 200


def test_picture_and_speech_are_each_given_once_independently(client, auth):
    captcha_id = auth.new_captcha()
    assert client.get(f"/api/v1/captcha/{captcha_id}.png").status_code == 200
    assert client.get(f"/api/v1/captcha/{captcha_id}.wav").status_code == 200
    assert client.get(f"/api/v1/captcha/{captcha_id}.png").status_code == 404
    assert client.get(f"/api/v1/captcha/{captcha_id}.wav").status_code == 404


def test_a_spent_or_unknown_challenge_has_no_audio(client, auth):
    captcha_id = auth.new_captcha()
    auth.request_code(PHONE, captcha_id=captcha_id, answer="0000")
    assert client.get(f"/api/v1/captcha/{captcha_id}.wav").status_code == 404
    assert client.get(f"/api/v1/captcha/{'0' * 32}.wav").status_code == 404
    assert client.get("/api/v1/captcha/short.wav").status_code == 404


def test_new_captcha_names_its_audio(client, auth):
    from tests.conftest import csrf_token

    token = csrf_token(client, "/account/register")
    body = client.post("/api/v1/captcha", headers={"X-CSRFToken": token}).get_json()
    assert body["audio_url"] == f"/api/v1/captcha/{body['id']}.wav"


def test_the_form_offers_refresh_and_audio_for_its_challenge(client):
    html = client.get("/account/register").get_data(as_text=True)
    captcha_id = re.search(r'name="captcha_id" type="hidden" value="([0-9a-f]{32})"', html).group(1)
    assert 'data-testid="captcha-refresh">换一张</button>' in html
    assert f'data-audio-url="/api/v1/captcha/{captcha_id}.wav"' in html
    assert "收听语音验证码" in html


def test_a_failed_form_does_not_keep_the_answer_typed_for_the_old_picture(app, client):
    from tests.conftest import csrf_token

    token = csrf_token(client, "/account/register")
    html = client.post(
        "/account/register",
        data={
            "phone": PHONE,
            "captcha": "AB12",
            "code": "000000",
            "password": "x",
            "password2": "y",
            "csrf_token": token,
        },
    ).get_data(as_text=True)
    assert 'value="13800138000"' in html  # the phone is kept
    captcha_input = re.search(r'<input[^>]*name="captcha"[^>]*>', html).group(0)
    assert "AB12" not in captcha_input
