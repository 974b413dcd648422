// The dashboard's enhancements: the chart, the queue's outcome cells, the live chart.
// Everything works without this file except the chart; htmx does the refreshing.
"use strict";

(function () {
  let chart = null;

  function drawChart() {
    const canvas = document.getElementById("daily-chart");
    const source = document.getElementById("chart-data");
    if (!canvas || !source || !window.Chart) return;
    const data = JSON.parse(source.textContent);
    chart = new window.Chart(canvas, {
      data: {
        labels: data.days,
        datasets: [
          { type: "bar", label: "Orders", data: data.orders, yAxisID: "orders",
            backgroundColor: "#4a78b5" },
          { type: "line", label: "Revenue ($)", data: data.revenue, yAxisID: "revenue",
            borderColor: "#c4622d", backgroundColor: "#c4622d", tension: 0.2 },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          orders: { position: "left", beginAtZero: true, title: { display: true, text: "Orders" } },
          revenue: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                     title: { display: true, text: "Revenue ($)" } },
        },
      },
    });
  }

  // The chart follows the figures: each time they refresh, the last 30 days are read again.
  async function refreshChart() {
    if (!chart) return;
    const response = await fetch("/stats/daily", { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const days = (await response.json()).days;
    chart.data.labels = days.map((day) => day.day);
    chart.data.datasets[0].data = days.map((day) => day.orders);
    chart.data.datasets[1].data = days.map((day) => day.revenue_cents / 100);
    chart.update();
  }

  // The queue refreshes itself only while nobody is typing or clicking in it.
  window.dashboardQueueIdle = function () {
    const queue = document.getElementById("approval-queue");
    return !(queue && queue.contains(document.activeElement));
  };

  // Approve or Cancel answered: the row's status cell becomes the server's answer.
  window.dashboardShowOutcome = function (form, event) {
    const row = form.closest("tr");
    const cell = row && row.querySelector("td.status-cell");
    if (!cell) return;
    const xhr = event.detail.xhr;
    if (!event.detail.successful) {
      cell.insertAdjacentHTML("beforeend", '<p class="refusal" role="alert"></p>');
      cell.lastElementChild.textContent =
        xhr.status === 403 ? "You may not do this." : "The server did not answer; try again.";
      return;
    }
    const template = document.createElement("template");
    template.innerHTML = "<table><tbody><tr>" + xhr.responseText + "</tr></tbody></table>";
    const outcome = template.content.querySelector("td.status-cell");
    if (!outcome) return;
    cell.replaceWith(outcome);
    const actions = row.querySelector("td.actions");
    if (actions) actions.replaceChildren();
    document.activeElement && document.activeElement.blur && document.activeElement.blur();
  };

  document.addEventListener("DOMContentLoaded", drawChart);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target.id === "figures" || (event.detail.elt && event.detail.elt.id === "figures")) {
      refreshChart();
    }
  });
})();
