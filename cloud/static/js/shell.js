// The site's shell, on every page.
//
// 大字模式 / 高对比度: the header's two buttons are GET forms the server answers by setting a
// cookie and sending the page back (works without scripts). With scripts, switch in place: the
// class on <html>, the same cookie the server reads, the button's pressed state.
(function () {
  "use strict";
  var MODES = {
    text: { cookie: "kepu_text", on: "large", className: "text-large" },
    contrast: { cookie: "kepu_contrast", on: "high", className: "contrast-high" }
  };
  var YEAR = 365 * 24 * 3600;
  document.querySelectorAll("form[data-display-pref]").forEach(function (form) {
    var mode = MODES[form.dataset.displayPref];
    if (!mode) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var input = form.querySelector('input[name="' + form.dataset.displayPref + '"]');
      var turnOn = input.value === mode.on;
      var secure = window.location.protocol === "https:" ? "; Secure" : "";
      document.cookie = mode.cookie + "=" + (turnOn ? mode.on : "normal") + "; Max-Age=" + YEAR +
        "; Path=/; SameSite=Lax" + secure;
      document.documentElement.classList.toggle(mode.className, turnOn);
      input.value = turnOn ? "normal" : mode.on;
      form.querySelector("button").setAttribute("aria-pressed", turnOn ? "true" : "false");
    });
  });
})();

// A table wider than a phone scrolls sideways inside itself (site.css); one that does is made
// focusable, so the keyboard can scroll it too.
(function () {
  "use strict";
  document.querySelectorAll("main table").forEach(function (table) {
    if (table.scrollWidth > table.clientWidth + 1 && !table.hasAttribute("tabindex")) {
      table.setAttribute("tabindex", "0");
    }
  });
})();
