// Shows a running run's progress live: polls the dashboard's GetRun endpoint every 2 seconds.
(function () {
  "use strict";
  var FIELDS = ["status", "stage", "billing_periods", "rows_read", "rows_quarantined",
                "focus_rows_written", "started_at", "finished_at"];
  function poll(row) {
    var runId = row.getAttribute("data-run-id");
    fetch("/dashboard/api/runs/" + encodeURIComponent(runId), { credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/login"); return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (run) {
        if (run) {
          FIELDS.forEach(function (name) {
            var cell = row.querySelector("td." + name);
            if (cell) { cell.textContent = run[name]; }
          });
          row.setAttribute("data-status", run.status);
        }
        if (!run || run.status === "RUNNING") { setTimeout(function () { poll(row); }, 2000); }
      })
      .catch(function () { setTimeout(function () { poll(row); }, 2000); });
  }
  document.querySelectorAll('tr[data-status="RUNNING"]').forEach(function (row) {
    setTimeout(function () { poll(row); }, 2000);
  });
})();
