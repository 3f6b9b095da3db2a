// 编写图文: Quill for the text; pictures are uploaded at once and inserted by their signed URL.
// The toolbar is written in the template (Chinese labels); the link box's words are in site.css.
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
    modules: { toolbar: { container: "#editor-toolbar", handlers: { image: pickImage } } },
  });
  // The link box's text field: Quill's own placeholder is an English example address.
  var linkBox = quill.theme.tooltip && quill.theme.tooltip.textbox;
  if (linkBox) {
    linkBox.setAttribute("data-link", "请输入网址");
    linkBox.setAttribute("aria-label", "链接网址");
  }
  // The heading picker Quill builds from the <select>: give it a name screen readers say.
  form.querySelectorAll(".ql-picker.ql-header .ql-picker-label").forEach(function (label) {
    label.setAttribute("aria-label", "段落样式");
  });

  // What is saved: Quill's semantic HTML (real <ul>/<ol> lists, not its editing markup), with
  // its non-breaking spaces turned back into spaces so lines wrap as typed.
  function bodyHtml() { return quill.getSemanticHTML().replace(/&nbsp;/g, " "); }

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
                             channel: form.channel.value, tags: tags, body_html: bodyHtml() }),
    }).then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
      .then(function (result) {
        if (result.ok) { window.location.href = result.data.page_url; }
        else { say(result.data.error.message, true); }
      });
  });
})();
