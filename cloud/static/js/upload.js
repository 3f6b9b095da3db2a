// 上传资源: a tus resumable upload with a progress bar, then the resource is created from it.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var limits = JSON.parse(form.dataset.limits);
  var input = form.querySelector('input[type="file"]');
  var zone = form.querySelector(".drop-zone");
  var bar = form.querySelector(".upload-progress");
  var status = form.querySelector(".upload-status");
  var button = form.querySelector(".start-upload");
  var chosen = null;
  var upload = null;

  function kind() { return form.querySelector('input[name="kind"]:checked').value; }
  function say(text, isError) { status.textContent = text; status.className = "upload-status" + (isError ? " error" : ""); }
  function mib(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }

  form.querySelectorAll('input[name="kind"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      form.querySelectorAll(".kind-hint").forEach(function (p) { p.hidden = p.dataset.kind !== kind(); });
    });
  });

  function choose(file) {
    chosen = file;
    form.querySelector(".file-name").textContent = file ? file.name + "（" + mib(file.size) + "）" : "";
  }
  zone.addEventListener("click", function () { input.click(); });
  zone.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") input.click(); });
  input.addEventListener("change", function () { choose(input.files[0] || null); });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) { if (e.dataTransfer.files.length) choose(e.dataTransfer.files[0]); });

  function createResource(uploadUrl) {
    var uploadId = uploadUrl.split("/").filter(Boolean).pop();
    var tags = form.tags.value.split(/[,，、]/).map(function (t) { return t.trim(); }).filter(Boolean);
    return fetch(form.dataset.createUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({
        kind: kind(), title: form.title.value, summary: form.summary.value,
        channel: form.channel.value, tags: tags, upload_id: uploadId,
      }),
    }).then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!form.title.value.trim()) { say("请填写标题", true); form.title.focus(); return; }
    if (!chosen) { say("请选择要上传的文件", true); return; }
    if (chosen.size > limits[kind()]) { say("文件超过大小限制（最大 " + mib(limits[kind()]) + "）", true); return; }
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    say("正在上传…");
    upload = new tus.Upload(chosen, {
      endpoint: form.dataset.tusEndpoint,
      chunkSize: 16 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      removeFingerprintOnSuccess: true,
      headers: { "X-CSRFToken": csrf },
      metadata: { filename: chosen.name, filetype: chosen.type, resource_type: kind() },
      onError: function (error) {
        var body = error.originalResponse && error.originalResponse.getBody();
        var message = "上传失败，请检查网络后重试";
        try { message = JSON.parse(body).error.message || message; } catch (ignored) { /* not JSON */ }
        say(message, true);
        button.disabled = false;
      },
      onProgress: function (sent, total) {
        bar.value = total ? Math.floor((sent / total) * 100) : 0;
        say("正在上传… " + bar.value + "%（" + mib(sent) + " / " + mib(total) + "）");
      },
      onSuccess: function () {
        say("上传完成，正在登记资源…");
        createResource(upload.url).then(function (result) {
          if (result.ok) {
            say("上传成功，正在处理");
            window.location.href = result.data.page_url;
          } else {
            say(result.data.error ? result.data.error.message : "登记资源失败", true);
            button.disabled = false;
          }
        });
      },
    });
    // Resume an interrupted upload of the same file instead of starting again.
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  });
})();
