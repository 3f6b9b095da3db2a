// 暂停 / 继续 / 取消 for a tus upload in progress (used by upload.js and replace-file.js).
// Pausing keeps the upload on the server, so 继续 (or choosing the same file again later) goes on
// from where it stopped; cancelling sends the tus DELETE, which removes what was stored.
(function () {
  "use strict";
  window.KepuUploadControls = function (box, hooks) {
    var pause = box.querySelector(".pause-upload");
    var cancel = box.querySelector(".cancel-upload");
    var upload = null;
    var paused = false;

    function show(visible) {
      pause.hidden = !visible;
      cancel.hidden = !visible;
    }

    function setPaused(value) {
      paused = value;
      pause.textContent = value ? "继续上传" : "暂停";
      pause.setAttribute("aria-pressed", value ? "true" : "false");
    }

    pause.addEventListener("click", function () {
      if (!upload) return;
      if (paused) {
        setPaused(false);
        hooks.say("正在继续上传…");
        upload.start();
      } else {
        setPaused(true);
        upload.abort(false).then(function () { hooks.say("已暂停，点击“继续上传”接着上传（已上传的部分会保留）"); });
      }
    });

    cancel.addEventListener("click", function () {
      if (!upload) return;
      var current = upload;
      upload = null;
      show(false);
      setPaused(false);
      hooks.say("正在取消…");
      current.abort(true).then(function () {
        hooks.cancelled("已取消上传，已上传的部分已删除");
      }).catch(function () {
        // Never started on the server, or already gone: nothing is left there either way.
        hooks.cancelled("已取消上传");
      });
    });

    show(false);
    return {
      started: function (value) { upload = value; setPaused(false); show(true); },
      finished: function () { upload = null; setPaused(false); show(false); },
      // Failed for good (after its retries): what reached the server can still be removed.
      failed: function () { setPaused(false); pause.hidden = true; cancel.hidden = upload === null || !upload.url; },
    };
  };
})();
