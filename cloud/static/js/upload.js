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
  var controls = window.KepuUploadControls(form, {
    say: function (text) { say(text); },
    cancelled: function (text) { say(text); bar.hidden = true; button.disabled = false; },
  });

  function kind() { return form.querySelector('input[name="kind"]:checked').value; }
  function say(text, isError) { status.textContent = text; status.className = "upload-status" + (isError ? " error" : ""); }
  // The same rule as cloud/units.py human_size: 512 B, 1.5 KB, 23 MB, 4 GB.
  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    var units = ["KB", "MB", "GB", "TB"], value = bytes;
    for (var i = 0; i < units.length; i++) {
      value /= 1024;
      var shown = value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
      if (shown < 1024 || i === units.length - 1) return shown + " " + units[i];
    }
  }

  form.querySelectorAll('input[name="kind"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      form.querySelectorAll(".kind-hint").forEach(function (p) { p.hidden = p.dataset.kind !== kind(); });
    });
  });

  function choose(file) {
    chosen = file;
    form.querySelector(".file-name").textContent = file ? file.name + "（" + size(file.size) + "）" : "";
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

  function createResource(uploadUrl, onDuplicate) {
    var uploadId = uploadUrl.split("/").filter(Boolean).pop();
    var tags = form.tags.value.split(/[,，、]/).map(function (t) { return t.trim(); }).filter(Boolean);
    return fetch(form.dataset.createUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({
        kind: kind(), title: form.title.value, summary: form.summary.value,
        channel: form.channel.value, tags: tags, upload_id: uploadId, on_duplicate: onDuplicate,
      }),
    }).then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); });
  }

  // The same file as an earlier resource of the institution: say which (with links) and let
  // the uploader go on if they mean it; the finished upload stays usable meanwhile.
  function offerDuplicate(uploadUrl, error) {
    say(error.message, true);
    var box = document.createElement("div");
    box.className = "flash duplicate-notice";
    box.setAttribute("data-testid", "duplicate-notice");
    var list = document.createElement("ul");
    (error.details.duplicates || []).forEach(function (d) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = d.page_url;
      link.textContent = d.title;
      item.appendChild(link);
      item.appendChild(document.createTextNode("（" + d.state_label + "）"));
      list.appendChild(item);
    });
    var go = document.createElement("button");
    go.type = "button";
    go.textContent = "仍然上传";
    go.addEventListener("click", function () {
      box.remove();
      say("正在登记资源…");
      register(uploadUrl, "create");
    });
    box.appendChild(list);
    box.appendChild(go);
    status.after(box);
  }

  function register(uploadUrl, onDuplicate) {
    createResource(uploadUrl, onDuplicate).then(function (result) {
      var error = result.data.error;
      if (result.ok) {
        say("上传成功，正在处理");
        window.location.href = result.data.page_url;
      } else if (error && error.code === "duplicate_upload") {
        offerDuplicate(uploadUrl, error);
      } else {
        say(error ? error.message : "登记资源失败", true);
        button.disabled = false;
      }
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!form.title.value.trim()) { say("请填写标题", true); form.title.focus(); return; }
    if (!chosen) { say("请选择要上传的文件", true); return; }
    if (chosen.size > limits[kind()]) { say("文件超过大小限制（最大 " + size(limits[kind()]) + "）", true); return; }
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
        controls.failed();
        button.disabled = false;
      },
      onProgress: function (sent, total) {
        bar.value = total ? Math.floor((sent / total) * 100) : 0;
        say("正在上传… " + bar.value + "%（" + size(sent) + " / " + size(total) + "）");
      },
      onSuccess: function () {
        controls.finished();
        say("上传完成，正在登记资源…");
        register(upload.url, "refuse");
      },
    });
    // Resume an interrupted upload of the same file instead of starting again.
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
      controls.started(upload);
    });
  });
})();
