// 选择文件: a file input's words in Chinese, whatever the browser's language (see _form.html
// file_picker). Safe to load more than once: each picker is set up once.
(function () {
  "use strict";
  document.querySelectorAll(".file-picker:not(.enhanced)").forEach(function (box) {
    var input = box.querySelector('input[type="file"]');
    var shown = box.querySelector(".file-picker-name");
    if (!input || !shown) return;
    function show() {
      var names = Array.prototype.map.call(input.files || [], function (file) { return file.name; });
      shown.textContent = names.length ? "已选择：" + names.join("、") : "未选择文件";
    }
    input.addEventListener("change", show);
    show();
    box.classList.add("enhanced");
  });
})();
