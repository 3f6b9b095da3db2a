// 编写图文: Quill for the text; pictures are uploaded at once and inserted by their signed URL.
(function () {
  "use strict";
  var form = document.getElementById("article-form");
  if (!form) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var status = form.querySelector(".upload-status");
  function say(text, isError) { status.textContent = text; status.className = "upload-status" + (isError ? " error" : ""); }

  var quill = new Quill("#editor", {
    theme: "snow",
    placeholder: "在这里输入正文…",
    modules: {
      toolbar: {
        container: [[{ header: [2, 3, 4, false] }], ["bold", "italic", "underline", "strike"],
                    [{ list: "ordered" }, { list: "bullet" }], ["blockquote", "link", "image"], ["clean"]],
        handlers: { image: pickImage },
      },
    },
  });

  function pickImage() {
    var input = document.createElement("input");
    input.type = "file";
    input.accept = "image/jpeg,image/png,image/gif,image/webp";
    input.addEventListener("change", function () {
      if (!input.files.length) return;
      var data = new FormData();
      data.append("file", input.files[0]);
      say("正在上传图片…");
      fetch(form.dataset.imageUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf }, body: data })
        .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
        .then(function (result) {
          if (!result.ok) { say(result.data.error.message, true); return; }
          var at = (quill.getSelection(true) || { index: quill.getLength() }).index;
          quill.insertEmbed(at, "image", result.data.url, "user");
          say("图片已插入");
        })
        .catch(function () { say("图片上传失败，请检查网络", true); });
    });
    input.click();
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!form.title.value.trim()) { say("请填写标题", true); return; }
    var tags = form.tags.value.split(/[,，、]/).map(function (t) { return t.trim(); }).filter(Boolean);
    say("正在保存…");
    fetch(form.dataset.createUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ kind: "article", title: form.title.value, summary: form.summary.value,
                             channel: form.channel.value, tags: tags, body_html: quill.root.innerHTML }),
    }).then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
      .then(function (result) {
        if (result.ok) { window.location.href = result.data.page_url; }
        else { say(result.data.error.message, true); }
      });
  });
})();
