// 复制文字: put an article's plain text on the clipboard.
(function () {
  "use strict";
  document.querySelectorAll(".copy-text").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.target).innerText;
      var status = button.parentNode.querySelector(".copy-status");
      navigator.clipboard.writeText(text).then(
        function () { status.textContent = "已复制"; },
        function () { status.textContent = "复制失败，请手动选择文字复制"; }
      );
    });
  });
})();
