// 更换文件 on a resource's page: a tus upload of the new file, then the resource takes it and is
// processed again (PATCH /api/v1/resources/<id> with the upload's id).
(function () {
  "use strict";
  var form = document.getElementById("replace-form");
  if (!form) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var input = form.querySelector('input[type="file"]');
  var bar = form.querySelector(".upload-progress");
  var status = form.querySelector(".upload-status");
  var button = form.querySelector(".start-upload");
  var limit = Number(form.dataset.limit);

  function say(text, isError) { status.textContent = text; status.className = "upload-status" + (isError ? " error" : ""); }
  function mib(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }
  var controls = window.KepuUploadControls(form, {
    say: function (text) { say(text); },
    cancelled: function (text) { say(text); bar.hidden = true; button.disabled = false; },
  });

  function attach(uploadUrl) {
    var uploadId = uploadUrl.split("/").filter(Boolean).pop();
    return fetch(form.dataset.resourceUrl, {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ upload_id: uploadId }),
    }).then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = input.files[0];
    if (!file) { say("请选择新的文件", true); input.focus(); return; }
    if (file.size > limit) { say("文件超过大小限制（最大 " + mib(limit) + "）", true); return; }
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    say("正在上传…");
    var upload = new tus.Upload(file, {
      endpoint: form.dataset.tusEndpoint,
      chunkSize: 16 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      removeFingerprintOnSuccess: true,
      headers: { "X-CSRFToken": csrf },
      metadata: { filename: file.name, filetype: file.type, resource_type: form.dataset.kind },
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
        say("正在上传… " + bar.value + "%（" + mib(sent) + " / " + mib(total) + "）");
      },
      onSuccess: function () {
        controls.finished();
        say("上传完成，正在更换文件…");
        attach(upload.url).then(function (result) {
          if (result.ok) {
            say("已更换文件，正在重新处理");
            window.location.reload();
          } else {
            say(result.data.error ? result.data.error.message : "更换文件失败", true);
            button.disabled = false;
          }
        });
      },
    });
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
      controls.started(upload);
    });
  });
})();
