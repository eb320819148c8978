// rcdm viewer: draws the overview's charts with the vendored Chart.js (no inline scripts: the page's CSP forbids them).
(function () {
  "use strict";
  var holder = document.getElementById("chart-data");
  if (!holder || typeof Chart === "undefined") { return; }
  var data = JSON.parse(holder.textContent);
  var palette = ["#1f6feb", "#2da44e", "#bf8700", "#cf222e", "#8250df", "#0a7ea4", "#e16f24", "#57606a",
                 "#6e7781", "#a475f9", "#4ac26b", "#d4a72c"];
  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;

  function label(value) { return value === null || value === undefined ? "(unknown)" : String(value); }

  var years = document.getElementById("chart-by-year");
  if (years) {
    window.rcdmCharts = window.rcdmCharts || {};
    window.rcdmCharts.byYear = new Chart(years, {
      type: "bar",
      data: {
        labels: data.by_year.map(function (r) { return label(r.year); }),
        datasets: [
          { label: "studies", data: data.by_year.map(function (r) { return r.studies; }), backgroundColor: palette[0], yAxisID: "y" },
          { label: "images", data: data.by_year.map(function (r) { return r.images; }), backgroundColor: palette[1], yAxisID: "y1" }
        ]
      },
      options: {
        scales: {
          y: { beginAtZero: true, position: "left", title: { display: true, text: "studies" } },
          y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "images" } }
        }
      }
    });
  }
  var modalities = document.getElementById("chart-by-modality");
  if (modalities) {
    window.rcdmCharts = window.rcdmCharts || {};
    window.rcdmCharts.byModality = new Chart(modalities, {
      type: "doughnut",
      data: {
        labels: data.by_modality.map(function (r) { return label(r.modality); }),
        datasets: [{ label: "studies", data: data.by_modality.map(function (r) { return r.studies; }),
                     backgroundColor: data.by_modality.map(function (_, i) { return palette[i % palette.length]; }) }]
      },
      options: { plugins: { legend: { position: "right" } } }
    });
  }
  document.documentElement.setAttribute("data-charts-drawn", "true");
})();
