/* Storm mode on the console: a manager switches it on (POST /api/v1/storm/modes/) or ends it
   (DELETE /api/v1/storm/modes/<id>/); the page then reloads with the panel. */
(function () {
  "use strict";
  const R = window.Rasad;
  const { gettext, ngettext } = R;
  const form = document.getElementById("storm-switch");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const local = data.get("ends_at");
      const body = {
        hazard: data.get("hazard"),
        ends_at: local ? new Date(local).toISOString() : "",
        categories: data.getAll("categories"),
        paused_categories: data.getAll("paused_categories"),
      };
      ["message_ar", "message_fa", "message_en", "pause_message_en"].forEach((k) => { body[k] = data.get(k) || ""; });
      const res = await R.api("/api/v1/storm/modes/", { json: body });
      if (res.ok) { window.location.reload(); return; }
      const errors = (res.data && res.data.errors) || {};
      const first = Object.values(errors)[0];
      document.getElementById("storm-error").textContent =
        Array.isArray(first) && first.length ? String(first[0]) : R.errorText(res);
    });
  }
  // The figures follow the storm: read again every minute; a mode that ended meanwhile
  // (by itself, or another manager) reloads the page without the panel's figures.
  const backlog = document.getElementById("storm-backlog");
  async function refresh() {
    if (document.hidden) return;
    const res = await R.api("/api/v1/storm/dashboard/");
    if (res.status === 204) { window.location.reload(); return; }
    if (!res.ok || !res.data) return;
    const hours = res.data.incoming_per_hour;
    const peak = Math.max(1, ...hours.map((h) => h.reports));
    document.getElementById("storm-incoming").replaceChildren(...hours.map((h) =>
      R.el("span", { style: `block-size: ${Math.round(100 * h.reports / peak)}%`, "data-reports": String(h.reports),
        title: `${R.fmtDate(h.hour, { timeStyle: "short" })}: ${R.fmtNumber(h.reports)}` })));
    backlog.querySelector("tbody").replaceChildren(...res.data.backlog_by_district.map((row) =>
      R.el("tr", { "data-district": row.code }, [R.el("td", { text: row.name }), R.el("td", { text: R.fmtNumber(row.open) }),
        R.el("td", { text: R.fmtNumber(row.hazard) })])));
    const plows = res.data.plows_out;
    document.getElementById("storm-plows").replaceChildren(...plows.map((p) => R.el("li", { text: p.name })));
    const heading = document.getElementById("storm-plows-count");
    if (heading) heading.textContent = ngettext("%(n)s plow out", "%(n)s plows out", plows.length, { n: R.fmtNumber(plows.length) });
  }
  // Once now (the figures in the reader's digits), then every minute.
  if (backlog) { refresh(); window.setInterval(refresh, 60000); }
  window.RasadStorm = { refresh };
  const end = document.getElementById("storm-end");
  if (end) {
    end.addEventListener("click", async () => {
      if (!window.confirm(gettext("End storm mode now?"))) return;
      const res = await R.api(`/api/v1/storm/modes/${end.dataset.mode}/`, { method: "DELETE" });
      if (res.ok) window.location.reload();
    });
  }
})();
