/* Rasad manager dashboard: KPI cards against the period before, trend charts (Chart.js),
   rankings of departments and districts, a district map shaded by backlog or on-time share,
   and the slowest open incidents.

   One request (/api/v1/dashboard/) brings every figure; the filters live in the page's URL
   (month=, year=, from= & to=, last=, department=, category=, district=, channel=, map=,
   slow=) so a view can be shared. Every figure links to the incidents behind it on the
   console (/console/?status=&category=&district=&channel=&from=&to=&incident=). Numbers and
   dates are in the reader's locale (Rasad.fmtNumber / fmtDate: Persian digits and Solar
   Hijri dates in fa, Arabic-Indic digits in ar); charts are mirrored right-to-left. */
(function () {
  "use strict";
  const R = window.Rasad;
  const cfg = R.config;
  const { gettext, interpolate, ngettext } = R;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const num = (n, opts) => R.fmtNumber(n, opts);
  const DASH = "—";
  const CHART_LOCALES = { fa: "fa-IR-u-nu-arabext", ar: "ar-u-nu-arab", en: "en-GB" };
  const chartLocale = CHART_LOCALES[R.lang] || R.lang;
  const ALL_STATUSES = (cfg.statuses || []).map((s) => s.code);
  const RESOLVED = cfg.resolved_statuses || ["resolved", "closed"];

  const state = { params: null, data: null, metric: "backlog", slow: "oldest", seq: 0, renders: 0 };
  const charts = {};

  /* ---------------------------------------------------------------- formatting */
  const share = (v) => (v == null ? DASH : num(v, { style: "percent", maximumFractionDigits: 1 }));
  const count = (v) => (v == null ? DASH : num(v));
  function hours(h) {
    if (h == null) return DASH;
    if (h < 48) return interpolate(gettext("%(n)s h"), { n: num(h, { maximumFractionDigits: 1 }) });
    return interpolate(gettext("%(n)s days"), { n: num(h / 24, { maximumFractionDigits: 1 }) });
  }
  function localDate(iso) {
    const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
    return new Date(y, m - 1, d, 12);
  }
  const day = (iso, opts) => R.fmtDate(localDate(iso), opts || { dateStyle: "medium" });
  const pad = (n) => String(n).padStart(2, "0");
  const isoDay = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

  /* A Gregorian month, as the figures and the monthly report count it. In Persian its name
     comes with the Solar Hijri dates it spans (a Gregorian month straddles two). */
  function monthLabel(year, month) {
    const first = new Date(year, month - 1, 1, 12);
    const last = new Date(year, month, 0, 12);
    if (R.lang === "fa") {
      const name = new Intl.DateTimeFormat("fa-IR-u-ca-gregory-nu-arabext", { month: "long", year: "numeric" }).format(first);
      return `${name} (${R.fmtDate(first, { day: "numeric", month: "short" })} – ${R.fmtDate(last, { day: "numeric", month: "short", year: "numeric" })})`;
    }
    return R.fmtDate(first, { month: "long", year: "numeric" });
  }

  function bucketLabel(iso, step) {
    if (step === "month" && R.lang !== "fa") return day(iso, { month: "short", year: "numeric" });
    if (step === "month") return day(iso, { day: "numeric", month: "short", year: "2-digit" });
    return day(iso, { day: "numeric", month: "short" });
  }

  /* ---------------------------------------------------------------- filters and the URL */
  const form = $("#dash-filters");
  const FILTERS = ["department", "category", "district", "channel"];

  function monthOptions() {
    const select = $("#f-month");
    const now = new Date();
    for (let i = 0; i < 36; i += 1) {
      const d = new Date(now.getFullYear(), now.getMonth() - i, 1, 12);
      const value = `${d.getFullYear()}-${pad(d.getMonth() + 1)}`;
      select.append(R.el("option", { value, text: monthLabel(d.getFullYear(), d.getMonth() + 1) }));
    }
    const years = $("#f-year");
    for (let y = now.getFullYear(); y > now.getFullYear() - 4; y -= 1) {
      years.append(R.el("option", { value: String(y), text: num(y, { useGrouping: false }) }));
    }
    $("#f-from").max = $("#f-to").max = isoDay(new Date(now.getFullYear() + 1, 11, 31));
  }

  function ensureOption(select, value, text) {
    if (!value || $$("option", select).some((o) => o.value === value)) return;
    select.append(R.el("option", { value, text: text || value }));
  }

  /* The form from the page's URL (unknown values are kept: the API names what is wrong). */
  function formFromUrl() {
    const q = new URLSearchParams(location.search);
    let kind = "last";
    if (q.get("month")) { kind = "month"; ensureOption($("#f-month"), q.get("month")); $("#f-month").value = q.get("month"); }
    else if (q.get("year")) { kind = "year"; ensureOption($("#f-year"), q.get("year")); $("#f-year").value = q.get("year"); }
    else if (q.get("from") || q.get("to")) { kind = "range"; $("#f-from").value = q.get("from") || ""; $("#f-to").value = q.get("to") || ""; }
    $("#f-period").value = kind;
    for (const name of FILTERS) {
      const value = (q.get(name) || "").split(",")[0];
      ensureOption($(`#f-${name}`), value);
      $(`#f-${name}`).value = value;
    }
    categoriesForDepartment();
    if (q.get("category")) $("#f-category").value = q.get("category").split(",")[0];
    state.metric = q.get("map") === "on_time" ? "on_time" : "backlog";
    state.slow = q.get("slow") === "overdue" ? "overdue" : "oldest";
    state.extra = {};
    // Parameters the form cannot show (several codes, `last` other than 30) pass through.
    for (const name of [...FILTERS, "last"]) if ((q.get(name) || "").includes(",") || (name === "last" && q.get(name))) state.extra[name] = q.get(name);
    periodFieldsShow();
  }

  /* The API's query (and the page's, with map= and slow=) from the form. */
  function readForm() {
    const q = new URLSearchParams();
    const kind = $("#f-period").value;
    if (kind === "month" && $("#f-month").value) q.set("month", $("#f-month").value);
    else if (kind === "year" && $("#f-year").value) q.set("year", $("#f-year").value);
    else if (kind === "range") {
      if ($("#f-from").value) q.set("from", $("#f-from").value);
      if ($("#f-to").value) q.set("to", $("#f-to").value);
    } else if (state.extra && state.extra.last) q.set("last", state.extra.last);
    for (const name of FILTERS) {
      const value = (state.extra && state.extra[name]) || $(`#f-${name}`).value;
      if (value) q.set(name, value);
    }
    return q;
  }

  function periodFieldsShow() {
    const kind = $("#f-period").value;
    for (const field of $$(".field[data-for]", form)) field.classList.toggle("hidden", field.dataset.for !== kind);
  }

  function categoriesForDepartment() {
    const department = $("#f-department").value;
    const select = $("#f-category");
    for (const option of $$("option", select)) {
      if (!option.value) continue;
      option.hidden = !!department && option.dataset.department !== department;
    }
    const chosen = select.selectedOptions[0];
    if (chosen && chosen.hidden) select.value = "";
  }

  function urlWrite(q) {
    const page = new URLSearchParams(q);
    if (state.metric !== "backlog") page.set("map", state.metric);
    if (state.slow !== "oldest") page.set("slow", state.slow);
    const query = page.toString();
    history.replaceState(null, "", query ? `${location.pathname}?${query}` : location.pathname);
  }

  form.addEventListener("change", (e) => {
    if (e.target.id === "f-period") {
      periodFieldsShow();
      const now = new Date();
      if ($("#f-period").value === "range" && !$("#f-from").value) {
        $("#f-from").value = isoDay(new Date(now.getFullYear(), now.getMonth(), 1));
        $("#f-to").value = isoDay(now);
      }
      if ($("#f-period").value === "last") delete state.extra.last;
    }
    if (e.target.id === "f-department") categoriesForDepartment();
    if (state.extra) delete state.extra[e.target.name];
    if ($("#f-period").value === "range" && (!$("#f-from").value || !$("#f-to").value)) return;
    load();
  });
  form.addEventListener("reset", () => setTimeout(() => {
    state.extra = {};
    $("#f-period").value = "last";
    periodFieldsShow();
    categoriesForDepartment();
    load();
  }, 0));

  /* ---------------------------------------------------------------- links to the incidents */
  function categoryCodes(codes) {
    if (codes) return codes;
    const f = state.data ? state.data.filters : {};
    if (f.category && f.category.length) return f.category;
    if (f.department && f.department.length) {
      return (cfg.categories || []).filter((c) => f.department.includes(c.department)).map((c) => c.code);
    }
    return [];
  }

  /* The console with the filters of the figure: statuses, the dashboard's filters (a
     department as its categories), the period's dates, one incident. */
  function consoleHref(o) {
    const f = (state.data && state.data.filters) || {};
    const q = new URLSearchParams();
    q.set("status", (o.status || ["open"]).join(","));
    const categories = categoryCodes(o.category);
    if (categories.length) q.set("category", categories.join(","));
    const districts = o.district || f.district || [];
    if (districts.length) q.set("district", districts.join(","));
    if (f.channel && f.channel.length) q.set("channel", f.channel.join(","));
    if (o.range) { q.set("from", o.range.starts_at); q.set("to", o.range.ends_at); }
    if (o.sla_breached) q.set("sla_breached", "true");
    if (cfg.restricted) q.set("mine", "true");
    if (o.incident) q.set("incident", String(o.incident));
    return `${cfg.urls.console}?${q}`;
  }

  /* ---------------------------------------------------------------- KPI cards */
  /* better: +1 when a rise is good, -1 when it is bad, 0 neutral. */
  function kpiList(d) {
    const t = d.totals;
    const p = d.previous_totals;
    const range = d.period;
    const list = [
      { key: "reports", label: gettext("Reports received"), value: t.reports, before: p.reports, show: count, better: 0,
        href: consoleHref({ status: ALL_STATUSES, range }) },
      { key: "incidents_opened", label: gettext("Incidents opened"), value: t.incidents_opened, before: p.incidents_opened, show: count, better: 0,
        href: consoleHref({ status: ALL_STATUSES, range }) },
      { key: "first_response", label: gettext("Median time to first response"), value: t.first_response_h_median, before: p.first_response_h_median,
        show: hours, better: -1, sub: t.responses ? ngettext("%(n)s response", "%(n)s responses", t.responses, { n: num(t.responses) }) : "",
        href: consoleHref({ status: ALL_STATUSES, range }) },
      { key: "resolve_median", label: gettext("Median time to resolve"), value: t.resolve_h_median, before: p.resolve_h_median, show: hours, better: -1,
        sub: t.resolutions ? ngettext("%(n)s resolution", "%(n)s resolutions", t.resolutions, { n: num(t.resolutions) }) : "",
        href: consoleHref({ status: RESOLVED, range }) },
      { key: "resolve_p90", label: gettext("Time to resolve, 90th percentile"), value: t.resolve_h_p90, before: p.resolve_h_p90, show: hours, better: -1,
        href: consoleHref({ status: RESOLVED, range }) },
      { key: "on_time", label: gettext("Resolved within SLA"), value: t.on_time_share, before: p.on_time_share, show: share, better: 1, points: true,
        sub: t.resolutions ? interpolate(gettext("%(n)s of %(total)s"), { n: num(t.resolved_in_sla), total: num(t.resolutions) }) : "",
        href: consoleHref({ status: RESOLVED, range }) },
      { key: "backlog", label: gettext("Backlog"), value: d.backlog.open, before: d.previous_backlog.open, show: count, better: -1,
        sub: interpolate(gettext("%(n)s overdue · on %(day)s"), { n: num(d.backlog.overdue), day: day(d.backlog.day, { day: "numeric", month: "short" }) }),
        href: consoleHref({ status: ["open"] }) },
      { key: "overdue", label: gettext("Open past their SLA"), value: d.backlog.overdue, before: d.previous_backlog.overdue, show: count, better: -1,
        href: consoleHref({ status: ["open"], sla_breached: true }) },
      { key: "reopened", label: gettext("Reopened"), value: t.reopened_share, before: p.reopened_share, show: share, better: -1, points: true,
        sub: t.resolutions ? interpolate(gettext("%(n)s of %(total)s"), { n: num(t.reopened), total: num(t.resolutions) }) : "",
        href: consoleHref({ status: ["reopened", ...RESOLVED], range }) },
      { key: "confirmed", label: gettext("Confirmed fixed by the reporter"), value: t.confirmed_share, before: p.confirmed_share, show: share, better: 1, points: true,
        sub: t.resolutions ? interpolate(gettext("%(n)s of %(total)s"), { n: num(t.confirmed_fixed), total: num(t.resolutions) }) : "",
        href: consoleHref({ status: RESOLVED, range }) },
      { key: "satisfaction", label: gettext("Satisfaction"), value: t.satisfaction, before: p.satisfaction, better: 1,
        show: (v) => (v == null ? DASH : interpolate(gettext("%(n)s / 5"), { n: num(v, { maximumFractionDigits: 1 }) })),
        sub: ngettext("%(n)s answer", "%(n)s answers", t.survey_answers, { n: num(t.survey_answers) }),
        href: consoleHref({ status: RESOLVED, range }) },
    ];
    if (t.reports_per_1000 != null) {
      list.push({ key: "per_1000", label: gettext("Reports per 1,000 residents"), value: t.reports_per_1000, before: p.reports_per_1000,
        show: (v) => (v == null ? DASH : num(v, { maximumFractionDigits: 1 })), better: 0,
        href: consoleHref({ status: ALL_STATUSES, range }) });
    }
    return list;
  }

  /* The change against the period before: relative for counts and times, in percentage
     points for shares. */
  function change(k) {
    if (k.value == null || k.before == null) return { text: gettext("no earlier figure"), cls: "none" };
    const diff = k.value - k.before;
    if (Math.abs(diff) < 1e-9) return { text: gettext("no change"), cls: "flat" };
    const arrow = diff > 0 ? "▲" : "▼";
    const tone = k.better === 0 ? "neutral" : (diff > 0) === (k.better > 0) ? "good" : "bad";
    let text;
    if (k.points) text = interpolate(gettext("%(n)s pts"), { n: num(Math.abs(diff) * 100, { maximumFractionDigits: 1 }) });
    else if (k.before === 0) text = interpolate(gettext("from %(n)s"), { n: k.show(k.before) });
    else {
      const ratio = Math.abs(diff / k.before);
      text = num(ratio, { style: "percent", maximumFractionDigits: ratio < 0.1 ? 1 : 0 });
    }
    return { text: `${arrow} ${text}`, cls: `${diff > 0 ? "up" : "down"} ${tone}` };
  }

  function renderKpis(d) {
    const box = $("#kpis");
    const before = interpolate(gettext("Before: %(value)s (%(first)s – %(last)s)"), {
      value: "%(value)s", first: day(d.previous.first), last: day(d.previous.last) });
    box.replaceChildren(...kpiList(d).map((k) => {
      const c = change(k);
      return R.el("a", { class: "kpi", href: k.href, "data-kpi": k.key,
        title: before.replace("%(value)s", k.show(k.before)) }, [
        R.el("span", { class: "kpi-label", text: k.label }),
        R.el("strong", { class: "kpi-value", text: k.show(k.value) }),
        k.sub ? R.el("span", { class: "kpi-sub muted", text: k.sub }) : null,
        R.el("span", { class: `kpi-change ${c.cls}`, text: c.text }),
      ]);
    }));
    box.setAttribute("aria-busy", "false");
  }

  function renderPeriod(d) {
    const p = d.period;
    const toDate = p.to_date !== p.last ? " " + interpolate(gettext("(to %(day)s)"), { day: day(p.to_date) }) : "";
    $("#dash-period").textContent = interpolate(gettext("%(first)s – %(last)s%(to_date)s, compared with %(before_first)s – %(before_last)s"), {
      first: day(p.first), last: day(p.last), to_date: toDate,
      before_first: day(d.previous.first), before_last: day(d.previous.last) }) +
      (d.refreshed_to ? " · " + interpolate(gettext("figures as of %(time)s"), { time: R.fmtDate(d.refreshed_to) }) : "");
  }

  /* ---------------------------------------------------------------- charts */
  if (window.Chart) {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#37414b";
  }

  function chartOptions(format, extra) {
    const dir = R.rtl ? "rtl" : "ltr";
    return Object.assign({
      responsive: true, maintainAspectRatio: false, animation: false, locale: chartLocale,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { position: "top", align: "start", rtl: R.rtl, textDirection: dir, labels: { boxWidth: 12 } },
        tooltip: { rtl: R.rtl, textDirection: dir,
          callbacks: { label: (ctx) => `${ctx.dataset.label}: ${format(ctx.parsed.y)}` } },
      },
      scales: {
        // Right to left: time runs from the right, the value axis stands on the right.
        x: { reverse: R.rtl, ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 12 }, grid: { display: false } },
        y: { position: R.rtl ? "right" : "left", beginAtZero: true, ticks: { callback: (v) => format(v) } },
      },
      onHover: (e, elements) => { e.native.target.style.cursor = elements.length ? "pointer" : "default"; },
      // A click on a point opens its incidents on the console.
      onClick: (e, elements) => {
        if (!elements.length || !state.data) return;
        const point = state.data.trend.points[elements[0].index];
        location.href = consoleHref({ status: ALL_STATUSES, range: point });
      },
    }, extra || {});
  }

  function chartDraw(id, config) {
    if (!window.Chart) return;
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart(document.getElementById(id), config);
  }

  function renderCharts(d) {
    const points = d.trend.points;
    const labels = points.map((p) => bucketLabel(p.start, d.trend.step));
    const whole = (v) => num(v, { maximumFractionDigits: 0 });
    chartDraw("chart-volume", {
      type: "bar",
      data: { labels, datasets: [
        { type: "line", label: gettext("Reports received"), data: points.map((p) => p.reports), borderColor: "#0b5cad",
          backgroundColor: "#0b5cad", pointRadius: 2, order: 0 },
        { label: gettext("Incidents opened"), data: points.map((p) => p.incidents_opened), backgroundColor: "#90caf9", order: 1 },
        { label: gettext("Resolutions"), data: points.map((p) => p.resolutions), backgroundColor: "#7e57c2", order: 2 },
      ] },
      options: chartOptions(whole),
    });
    const pct = (v) => (v == null ? DASH : num(v, { style: "percent", maximumFractionDigits: 0 }));
    const ontime = chartOptions(pct);
    ontime.scales.y.max = 1;
    chartDraw("chart-ontime", {
      type: "line",
      data: { labels, datasets: [{ label: gettext("Resolved within SLA"), data: points.map((p) => p.on_time_share),
        borderColor: "#1a7f37", backgroundColor: "rgba(26,127,55,.12)", fill: true, spanGaps: true, pointRadius: 2 }] },
      options: ontime,
    });
    const most = Math.max(0, ...points.map((p) => p.resolve_h_median || 0));
    const inDays = most > 72;
    const unit = inDays ? gettext("Median time to resolve (days)") : gettext("Median time to resolve (hours)");
    chartDraw("chart-resolve", {
      type: "line",
      data: { labels, datasets: [{ label: unit, data: points.map((p) => (p.resolve_h_median == null ? null : inDays ? p.resolve_h_median / 24 : p.resolve_h_median)),
        borderColor: "#b35900", backgroundColor: "#b35900", spanGaps: true, pointRadius: 2 }] },
      options: chartOptions((v) => (v == null ? DASH : num(v, { maximumFractionDigits: 1 }))),
    });
  }

  /* ---------------------------------------------------------------- rankings */
  function movement(row) {
    if (row.rank == null) return null;
    if (row.previous_rank == null) return R.el("span", { class: "move new", text: gettext("new") });
    if (!row.movement) return R.el("span", { class: "move flat", text: "=", title: gettext("no change") });
    const up = row.movement > 0;
    return R.el("span", { class: `move ${up ? "up" : "down"}`,
      title: interpolate(gettext("rank %(rank)s before"), { rank: num(row.previous_rank) }),
      text: `${up ? "↑" : "↓"}${num(Math.abs(row.movement))}` });
  }

  function renderRanking(by, rows, d) {
    const body = $(`#rank-${by} tbody`);
    const range = d.period;
    body.replaceChildren(...rows.map((row) => {
      let href = null;
      if (by === "district" && row.code) href = consoleHref({ status: ALL_STATUSES, district: [row.code], range });
      if (by === "department" && row.code) {
        const codes = (cfg.categories || []).filter((c) => c.department === row.code).map((c) => c.code);
        if (codes.length) href = consoleHref({ status: ALL_STATUSES, category: codes, range });
      }
      const name = href ? R.el("a", { href, text: row.name }) : R.el("span", { text: row.name });
      const rank = row.rank == null
        ? R.el("span", { class: "muted small unranked", text: gettext("not ranked"),
          title: interpolate(gettext("fewer than %(n)s cases"), { n: num(d.min_cases) }) })
        : R.el("strong", { text: num(row.rank) });
      return R.el("tr", { class: row.rank == null ? "unranked" : null, "data-code": row.code || "" }, [
        R.el("td", { class: "rank-cell" }, [rank, " ", movement(row)]),
        R.el("th", { scope: "row" }, [name]),
        R.el("td", { class: "num", text: count(row.incidents_opened) }),
        R.el("td", { class: "num", text: share(row.response_rate) }),
        R.el("td", { class: "num", text: share(row.on_time_share) }),
        R.el("td", { class: "num", text: row.resolve_days_mean == null ? DASH : num(row.resolve_days_mean, { maximumFractionDigits: 1 }) }),
      ]);
    }));
    if (!rows.length) body.append(R.el("tr", {}, [R.el("td", { colspan: "6", class: "muted", text: gettext("Nothing in this period.") })]));
  }

  /* ---------------------------------------------------------------- district map */
  const map = R.mapByName(cfg.map);
  const BACKLOG_COLOURS = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#e6550d", "#a63603"];
  const ONTIME_COLOURS = ["#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"];
  const ONTIME_STEPS = [0.5, 0.7, 0.85, 0.95];
  const NO_DATA = "#cfd8dc";
  let districtLayer = null;
  let legend = null;

  function backlogSteps(max) {
    const step = Math.max(1, Math.ceil(max / 5));
    return [1, 2, 3, 4].map((i) => i * step);
  }
  function binOf(value, steps) {
    let i = 0;
    while (i < steps.length && value >= steps[i]) i += 1;
    return i;
  }
  function districtValue(code) {
    const v = (state.data && state.data.districts[code]) || {};
    return state.metric === "backlog" ? (v.open || 0) : (v.on_time_share == null ? null : v.on_time_share);
  }
  function districtColour(code, steps) {
    const value = districtValue(code);
    if (state.metric === "backlog") return BACKLOG_COLOURS[binOf(value, steps)];
    return value == null ? NO_DATA : ONTIME_COLOURS[binOf(value, ONTIME_STEPS)];
  }
  function districtText(code, name) {
    const v = (state.data && state.data.districts[code]) || {};
    return `<strong>${R.esc(name)}</strong><br>` +
      R.esc(interpolate(gettext("Backlog: %(n)s (%(late)s overdue)"), { n: num(v.open || 0), late: num(v.overdue || 0) })) + "<br>" +
      R.esc(interpolate(gettext("On time: %(share)s of %(n)s resolutions"), { share: share(v.on_time_share), n: num(v.resolutions || 0) }));
  }

  function legendDraw(steps) {
    if (!map) return;
    if (legend) legend.remove();
    legend = L.control({ position: "bottomright" });
    legend.onAdd = () => {
      const box = L.DomUtil.create("div", "dash-legend");
      box.id = "dash-legend";
      const rows = [];
      if (state.metric === "backlog") {
        rows.push([BACKLOG_COLOURS[0], interpolate(gettext("under %(n)s"), { n: num(steps[0]) })]);
        for (let i = 0; i < steps.length; i += 1) {
          const high = steps[i + 1];
          rows.push([BACKLOG_COLOURS[i + 1], high ? `${num(steps[i])}–${num(high - 1)}` : interpolate(gettext("%(n)s or more"), { n: num(steps[i]) })]);
        }
      } else {
        const pct = (v) => num(v, { style: "percent", maximumFractionDigits: 0 });
        rows.push([ONTIME_COLOURS[0], interpolate(gettext("under %(n)s"), { n: pct(ONTIME_STEPS[0]) })]);
        for (let i = 0; i < ONTIME_STEPS.length; i += 1) {
          const high = ONTIME_STEPS[i + 1];
          rows.push([ONTIME_COLOURS[i + 1], high ? `${pct(ONTIME_STEPS[i])}–${pct(high)}` : interpolate(gettext("%(n)s or more"), { n: pct(ONTIME_STEPS[i]) })]);
        }
        rows.push([NO_DATA, gettext("no resolutions")]);
      }
      const title = state.metric === "backlog" ? gettext("Open incidents") : gettext("Resolved within SLA");
      box.append(R.el("strong", { text: title }),
        ...rows.map(([colour, text]) => R.el("span", {}, [R.el("i", { class: "sw", style: `background:${colour}` }), text])));
      return box;
    };
    legend.addTo(map);
  }

  function renderMap() {
    if (!map || !state.data) return;
    const values = Object.values(state.data.districts).map((v) => v.open || 0);
    const steps = backlogSteps(Math.max(0, ...values));
    if (!districtLayer) {
      districtLayer = L.geoJSON(cfg.districts, {
        onEachFeature: (feature, layer) => {
          layer.on("click", () => {
            const code = feature.properties.code;
            location.href = state.metric === "backlog"
              ? consoleHref({ status: ["open"], district: [code] })
              : consoleHref({ status: RESOLVED, district: [code], range: state.data.period });
          });
        },
      }).addTo(map);
      if (districtLayer.getLayers().length) map.fitBounds(districtLayer.getBounds(), { padding: [8, 8], animate: false });
    }
    districtLayer.eachLayer((layer) => {
      const p = layer.feature.properties;
      layer.setStyle({ fillColor: districtColour(p.code, steps), fillOpacity: 0.75, color: "#37474f", weight: 1 });
      layer.bindTooltip(districtText(p.code, p.name), { sticky: true, direction: "top" });
      if (layer.getElement()) layer.getElement().setAttribute("data-district", p.code);
    });
    legendDraw(steps);
    for (const button of $$("[data-metric]")) button.setAttribute("aria-pressed", String(button.dataset.metric === state.metric));
  }

  for (const button of $$("[data-metric]")) {
    button.addEventListener("click", () => { state.metric = button.dataset.metric; renderMap(); urlWrite(state.params); });
  }

  /* ---------------------------------------------------------------- slowest open incidents */
  function renderSlowest() {
    if (!state.data) return;
    const rows = state.data.slowest[state.slow] || [];
    const list = $("#slowest");
    list.replaceChildren(...rows.map((r) => {
      const where = [r.category_name, r.district_name].filter(Boolean).join(" · ");
      const late = r.overdue_h > 0 ? interpolate(gettext("%(time)s past due"), { time: hours(r.overdue_h) }) : "";
      return R.el("li", { "data-id": String(r.id) }, [
        R.el("a", { href: consoleHref({ status: ["open"], incident: r.id, category: [], district: [] }) }, [
          R.el("span", { class: "slow-head" }, [
            R.el("strong", { text: `#${r.id}` }), " ", R.el("span", { text: where }), " ", R.statusBadge(r.status)]),
          R.el("span", { class: "muted small", text: [
            interpolate(gettext("open for %(time)s"), { time: hours(r.age_h) }),
            interpolate(gettext("reported %(day)s"), { day: R.fmtDate(r.first_reported_at, { dateStyle: "medium" }) }),
            late].filter(Boolean).join(" · ") }),
        ]),
      ]);
    }));
    $("#slowest-empty").classList.toggle("hidden", rows.length > 0);
    for (const button of $$("[data-slow]")) button.setAttribute("aria-pressed", String(button.dataset.slow === state.slow));
  }

  for (const button of $$("[data-slow]")) {
    button.addEventListener("click", () => { state.slow = button.dataset.slow; renderSlowest(); urlWrite(state.params); });
  }

  /* ---------------------------------------------------------------- monthly report */
  function renderReportLink(d) {
    let month = d.period.month;
    if (!month) {
      const today = localDate(d.today);
      const last = new Date(today.getFullYear(), today.getMonth() - 1, 1, 12);
      month = `${last.getFullYear()}-${pad(last.getMonth() + 1)}`;
    }
    const [y, m] = month.split("-").map(Number);
    const q = new URLSearchParams({ month, lang: R.lang, format: $("#report-format").value });
    $("#report-link").href = `${cfg.urls.report}?${q}`;
    $("#report-month").textContent = monthLabel(y, m);
  }
  $("#report-format").addEventListener("change", () => { if (state.data) renderReportLink(state.data); });

  /* ---------------------------------------------------------------- load */
  function statusShow(text, kind) {
    const box = $("#dash-status");
    box.textContent = text || "";
    box.className = `dash-status ${kind || ""}`;
    box.classList.toggle("hidden", !text);
  }

  async function load() {
    const seq = ++state.seq;
    const q = readForm();
    state.params = q;
    urlWrite(q);
    document.body.dataset.dashLoading = "true";
    statusShow(gettext("Loading…"));
    let res;
    try {
      res = await R.api(`${cfg.urls.api}?${q}`);
    } catch (e) {
      res = { ok: false, status: 0, data: null };
    }
    if (seq !== state.seq) return;
    document.body.dataset.dashLoading = "false";
    if (!res.ok) {
      statusShow(R.errorText(res), "error");
      document.body.classList.add("dash-stale");
      document.body.dataset.dashError = String(res.status);
      return;
    }
    delete document.body.dataset.dashError;
    document.body.classList.remove("dash-stale");
    statusShow("");
    const d = res.data;
    state.data = d;
    renderPeriod(d);
    renderKpis(d);
    renderCharts(d);
    renderRanking("department", d.ranking.department, d);
    renderRanking("district", d.ranking.district, d);
    $("#rank-note").textContent = interpolate(gettext("Ranked by on-time share, then response rate, then average days to resolve; units with fewer than %(n)s cases are listed but not ranked. Arrows: places gained or lost since the period before."), { n: num(d.min_cases) });
    renderMap();
    renderSlowest();
    renderReportLink(d);
    state.renders += 1;
    document.body.dataset.dashRenders = String(state.renders);
    document.body.dataset.dashReady = "true";
  }

  /* ---------------------------------------------------------------- start */
  monthOptions();
  formFromUrl();
  if (map) R.roadsFallback(map);
  load();

  window.RasadDashboard = { state, charts, load, get data() { return state.data; } };
})();
