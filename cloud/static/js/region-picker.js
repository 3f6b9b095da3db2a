// Cascading 省/市/县 picker: each <select> loads the children of the one before it.
(function () {
  "use strict";
  document.querySelectorAll(".region-picker").forEach(function (picker) {
    var selects = Array.prototype.slice.call(picker.querySelectorAll("select"));
    var target = document.getElementById(picker.dataset.target);
    var preset = (picker.dataset.selected || "").split(",").filter(Boolean);
    var placeholders = selects.map(function (s) { return s.options[0].textContent; });

    function reset(from) {
      for (var i = from; i < selects.length; i++) {
        selects[i].innerHTML = "";
        selects[i].add(new Option(placeholders[i], ""));
        selects[i].disabled = i > from;
      }
    }

    function load(level, parent) {
      var url = picker.dataset.url + (parent ? "?parent=" + encodeURIComponent(parent) : "");
      return fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          reset(level);
          data.items.forEach(function (item) { selects[level].add(new Option(item.name, item.code)); });
          selects[level].disabled = false;
        });
    }

    function update() {
      var chosen = "";
      selects.forEach(function (s) { if (s.value) chosen = s.value; });
      target.value = chosen;
    }

    selects.forEach(function (select, level) {
      select.addEventListener("change", function () {
        update();
        if (level + 1 < selects.length) {
          if (select.value) { load(level + 1, select.value); } else { reset(level + 1); }
        }
      });
    });

    var chain = Promise.resolve(load(0, null));
    preset.slice(0, selects.length).forEach(function (code, level) {
      chain = chain.then(function () {
        selects[level].value = code;
        update();
        if (level + 1 < selects.length) return load(level + 1, code);
      });
    });
  });
})();
