// Draws the overview's stacked charts (one per currency) from the page's JSON block.
(function () {
  "use strict";
  var block = document.getElementById("chart-data");
  if (!block || typeof echarts === "undefined") { return; }
  var charts = JSON.parse(block.textContent);
  document.querySelectorAll("[data-chart]").forEach(function (holder) {
    var perCurrency = charts[holder.getAttribute("data-chart")] || {};
    Object.keys(perCurrency).forEach(function (currency) {
      var data = perCurrency[currency];
      var title = document.createElement("div");
      title.textContent = currency;
      var box = document.createElement("div");
      box.className = "chart-box";
      box.setAttribute("data-currency", currency);
      holder.appendChild(title);
      holder.appendChild(box);
      var chart = echarts.init(box, null, { renderer: "canvas" });
      chart.setOption({
        animation: false,
        tooltip: { trigger: "axis", valueFormatter: function (v) { return v.toFixed(2) + " " + currency; } },
        legend: { type: "scroll", top: 0 },
        grid: { top: 40, left: 60, right: 20, bottom: 30 },
        xAxis: { type: "category", data: data.months },
        yAxis: { type: "value" },
        series: data.series.map(function (s) {
          return { name: s.name, type: "bar", stack: "total", data: s.data };
        })
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  });
})();
