// Registration / password reset: refresh the captcha (or hear it spoken), request an SMS code,
// count down the resend.
(function () {
  "use strict";
  var form = document.querySelector("form.sms-form");
  if (!form) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var img = form.querySelector(".captcha-img");
  var captchaId = form.querySelector('input[name="captcha_id"]');
  var captchaInput = form.querySelector('input[name="captcha"]');
  var sendButton = form.querySelector(".send-code");
  var status = form.querySelector(".sms-status");
  var refreshButton = form.querySelector(".captcha-refresh");
  var listenButton = form.querySelector(".captcha-listen");
  var audio = form.querySelector(".captcha-audio");
  var audioUrl = listenButton.dataset.audioUrl;
  var heard = null;  // the object URL of this challenge's speech, once fetched

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    });
  }

  function forgetAudio() {
    if (heard) URL.revokeObjectURL(heard);
    heard = null;
    audio.pause();
    audio.removeAttribute("src");
    audio.hidden = true;
  }

  function refreshCaptcha() {
    return post(form.dataset.captchaUrl).then(function (result) {
      if (!result.ok) {
        status.textContent = result.data.error ? result.data.error.message : "获取验证码失败，请稍后再试";
        status.className = "sms-status error";
        return;
      }
      captchaId.value = result.data.id;
      img.src = result.data.image_url;
      audioUrl = result.data.audio_url;
      forgetAudio();
      captchaInput.value = "";
    });
  }

  // The speech is given once per challenge: fetch it into memory so it can be played again.
  function listen() {
    if (heard) { audio.currentTime = 0; audio.play(); return; }
    listenButton.disabled = true;
    fetch(audioUrl, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("gone");
      return response.blob();
    }).then(function (blob) {
      heard = URL.createObjectURL(blob);
      audio.src = heard;
      audio.hidden = false;
      audio.play().catch(function () { /* autoplay refused: the controls are shown */ });
      audio.focus();
    }).catch(function () {
      status.textContent = "语音验证码已失效，已为您换一张，请再次点击收听";
      status.className = "sms-status error";
      return refreshCaptcha();
    }).then(function () { listenButton.disabled = false; });
  }

  function countdown(seconds) {
    sendButton.disabled = true;
    var left = seconds;
    sendButton.textContent = left + "秒后重新获取";
    var timer = setInterval(function () {
      left -= 1;
      if (left <= 0) {
        clearInterval(timer);
        sendButton.disabled = false;
        sendButton.textContent = "获取验证码";
      } else {
        sendButton.textContent = left + "秒后重新获取";
      }
    }, 1000);
  }

  img.addEventListener("click", refreshCaptcha);
  refreshButton.addEventListener("click", function () {
    refreshCaptcha().then(function () { captchaInput.focus(); });
  });
  listenButton.addEventListener("click", listen);
  // A captcha is drawn only once: a page shown again from history cannot load its picture, so
  // fetch a new challenge (once in a row, so a refused request cannot loop).
  var replaced = false;
  img.addEventListener("load", function () { replaced = false; });
  img.addEventListener("error", function () {
    if (replaced) return;
    replaced = true;
    refreshCaptcha();
  });
  if (img.complete && img.naturalWidth === 0) {  // it failed before this script ran
    replaced = true;
    refreshCaptcha();
  }
  sendButton.addEventListener("click", function () {
    var phone = form.querySelector('input[name="phone"]').value;
    if (!phone.trim()) { status.textContent = "请先输入手机号"; return; }
    if (!captchaInput.value.trim()) { status.textContent = "请先输入图形验证码"; return; }
    sendButton.disabled = true;
    post(form.dataset.smsUrl, {
      phone: phone,
      purpose: form.dataset.purpose,
      captcha_id: captchaId.value,
      captcha_answer: captchaInput.value,
    }).then(function (result) {
      if (result.ok) {
        status.textContent = result.data.message;
        status.className = "sms-status ok";
        countdown(60);
      } else {
        status.textContent = result.data.error ? result.data.error.message : "发送失败，请稍后再试";
        status.className = "sms-status error";
        var wait = result.data.error && result.data.error.details && result.data.error.details.retry_after;
        if (wait) { countdown(wait); } else { sendButton.disabled = false; }
      }
      // Every attempt spends the captcha on the server: show a fresh one.
      return refreshCaptcha();
    }).catch(function () {
      status.textContent = "网络异常，请稍后再试";
      sendButton.disabled = false;
    });
  });
})();
