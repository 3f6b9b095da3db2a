// 我的上传 and a resource's page: while something is processing, poll its status and refresh.
(function () {
  "use strict";
  var holder = document.querySelector("[data-live-url]");
  if (!holder) return;
  function busy() { return document.querySelector('[data-state="processing"]') !== null; }
  if (!busy()) return;
  var rows = {};
  document.querySelectorAll("[data-resource-id]").forEach(function (row) { rows[row.dataset.resourceId] = row; });

  function show(cell, item) {
    var job = item.processing || {};
    var html = '<span class="state state-' + item.state + '" data-testid="state"></span>';
    cell.innerHTML = html;
    cell.querySelector(".state").textContent = item.state_label;
    if (item.state === "processing") {
      var bar = document.createElement("progress");
      bar.max = 100; bar.value = job.progress || 0; bar.className = "job-progress";
      var step = document.createElement("small");
      step.className = "job-step"; step.textContent = job.step || "";
      cell.appendChild(bar); cell.appendChild(step);
    } else if (item.state === "rejected") {
      var reason = document.createElement("small");
      reason.className = "error reject-reason";
      reason.setAttribute("data-testid", "reject-reason");
      reason.textContent = "未通过原因：" + (item.rejection_reason || "未填写");
      cell.appendChild(reason);
    } else if (item.state === "failed" && job.error) {
      var error = document.createElement("small");
      error.className = "error job-error";
      error.setAttribute("data-testid", "job-error");
      error.textContent = job.error;
      cell.appendChild(error);
    }
  }

  function poll() {
    fetch(holder.dataset.liveUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var items = data.items || [data];
        var changed = false;
        items.forEach(function (item) {
          var row = rows[item.id] || (holder.dataset.state !== undefined ? holder : null);
          if (!row) return;
          if (row.dataset.state !== item.state) changed = true;
          show(row.querySelector(".status-cell"), item);
        });
        // A finished job brings renditions and buttons: the simplest correct view is a reload.
        if (changed) { window.location.reload(); return; }
        setTimeout(poll, 1500);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
