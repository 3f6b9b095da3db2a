// 使用统计: draw the dashboard's charts with ECharts from the page's JSON (#dashboard-data[data-json]).
// Every chart container names its data set (data-chart) and its type (data-type: bar or line);
// the same numbers are in the tables next to it. Tooltips are drawn on the canvas (richText),
// not as HTML, so nothing needs an inline style under the site's Content-Security-Policy.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof echarts === "undefined") { return; }
  var data = JSON.parse(source.dataset.json);
  var charts = [];

  function option(set, type) {
    return {
      animation: false,
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { data: data.events.map(function (e) { return e.label; }) },
      grid: { left: 48, right: 16, top: 40, bottom: 56, containLabel: true },
      xAxis: { type: "category", data: set.labels, axisLabel: { rotate: set.labels.length > 12 ? 45 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: data.events.map(function (e) {
        return { name: e.label, type: type, data: set.series[e.key], smooth: false };
      })
    };
  }

  document.querySelectorAll("[data-chart]").forEach(function (element) {
    var set = data[element.dataset.chart];
    if (!set) { return; }
    var chart = echarts.init(element, null, { renderer: "canvas", locale: "ZH" });
    chart.setOption(option(set, element.dataset.type === "line" ? "line" : "bar"));
    element.dataset.drawn = "1";
    charts.push(chart);
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
