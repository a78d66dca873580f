/* Rasad dispatcher console: a live map of incidents, crews and routes.

   The map asks /api/v1/map/incidents/ only for its viewport (server-side grid clusters at
   low zoom, points at high zoom); crews and routes come from the crews API; every change
   is pushed over /ws/live/. A dropped socket reconnects with backoff and catches up with
   `since=` and a fresh viewport. Citizen text is only ever inserted escaped (Rasad.esc) or
   as textContent. */
(function () {
  "use strict";
  const R = window.Rasad;
  const cfg = R.config;
  /* Messages are written as gettext("…"), ngettext("…", "…", n) and interpolate(…) so that
     `makemessages -d djangojs` finds them; Rasad's wrap the catalogue from /jsi18n/. */
  const { gettext, interpolate, ngettext } = R;
  const map = R.mapByName(cfg.map);
  if (!map) return;
  const canDispatch = !!cfg.can_dispatch;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const now = () => performance.timeOrigin + performance.now();

  const STATUS_COLOURS = {
    new: "#1565c0", verified: "#2e7d32", assigned: "#ef6c00", en_route: "#f9a825",
    on_site: "#6a1b9a", resolved: "#5e35b1", closed: "#78909c", rejected: "#9e9e9e",
    merged: "#bdbdbd", reopened: "#d81b60", referred: "#00838f" };
  const BREACH = "#c62828";
  const DECLUTTER_MAX = 1500;
  const SELECTED = "#0b5cad";
  const CREW_COLOURS = ["#00897b", "#5e35b1", "#f4511e", "#3949ab", "#7cb342", "#8d6e63",
    "#d81b60", "#00acc1", "#6d4c41", "#c0ca33"];
  // Crew actions, not a dispatcher's buttons.
  // `referred` has its own section: it needs the agency.
  const NOT_FROM_CONSOLE = new Set(["assigned", "en_route", "on_site", "merged", "referred"]);
  const NEEDS_REASON = new Set(["rejected", "reopened"]);

  const categoriesById = new Map((cfg.categories || []).map((c) => [c.id, c]));
  const categoriesByCode = new Map((cfg.categories || []).map((c) => [c.code, c]));
  const districtsById = new Map((cfg.districts || []).map((d) => [d.id, d]));
  const districtsByCode = new Map((cfg.districts || []).map((d) => [d.code, d]));
  const statusNames = new Map((cfg.statuses || []).map((s) => [s.code, s.name]));
  const channelNames = new Map((cfg.channels || []).map((c) => [c.code, c.name]));
  const statusName = (code) => statusNames.get(code) || R.statusLabel(code);
  const categoryName = (idOrCode) => {
    const c = categoriesById.get(idOrCode) || categoriesByCode.get(idOrCode);
    return c ? c.name : String(idOrCode == null ? "" : idOrCode);
  };
  const num = (n, opts) => R.fmtNumber(n, opts);

  const relative = R.relativeTime;

  /* ---------------------------------------------------------------- state */
  const state = {
    data: null,                 // the last viewport response
    markers: new Map(),         // incident id → circle marker on the map
    items: new Map(),           // incident id → list item data
    selected: new Set(),
    selectedCrews: new Set(),
    crews: new Map(),           // crew id → {feature, marker, trail, colour}
    crewByCode: new Map(),
    plans: [],
    planIncidents: new Set(),
    lastPlanResult: null,
    detailId: null,
    detail: null,
    heat: false,
    filters: null,
    tab: "incidents",
  };
  // Timings for tests and benchmarks (performance.timeOrigin-based wall-clock ms).
  const metrics = { firstDrawAt: null, requests: [], arrivals: {}, drawn: {}, drawnLog: [],
    crewMoves: {}, reconnects: 0, catchUps: [] };
  function drawnMark(id) {
    const at = now();
    metrics.drawn[id] = at;
    metrics.drawnLog.push([id, at]);
    if (metrics.drawnLog.length > 5000) metrics.drawnLog.shift();
  }

  /* ---------------------------------------------------------------- layers */
  map.createPane("routes").style.zIndex = 390;
  const routeRenderer = L.canvas({ pane: "routes" });
  const trailLayer = L.layerGroup().addTo(map);
  const planLayer = L.layerGroup().addTo(map);
  const incidentLayer = L.layerGroup().addTo(map);
  const pointLayer = L.markerClusterGroup({
    maxClusterRadius: 28, disableClusteringAtZoom: 18, showCoverageOnHover: false,
    spiderfyOnMaxZoom: true, chunkedLoading: true, iconCreateFunction: localClusterIcon });
  pointLayer.addTo(map);
  const liveLayer = L.layerGroup().addTo(map);
  const crewLayer = L.layerGroup().addTo(map);
  const heatLayer = L.heatLayer([], { radius: 28, blur: 20, maxZoom: 17, minOpacity: 0.35 });

  L.control.layers(null, {
    [gettext("Crews")]: crewLayer, [gettext("Crew trails")]: trailLayer, [gettext("Routes")]: planLayer,
  }, { position: "topleft", collapsed: true }).addTo(map);

  const HeatControl = L.Control.extend({
    options: { position: "topleft" },
    onAdd() {
      const box = L.DomUtil.create("div", "leaflet-bar console-ctl");
      const button = L.DomUtil.create("button", "", box);
      button.type = "button";
      button.id = "heat-toggle";
      button.textContent = gettext("Heatmap");
      button.setAttribute("aria-pressed", "false");
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.on(button, "click", () => heatSet(!state.heat));
      return box;
    },
  });
  new HeatControl().addTo(map);

  const Legend = L.Control.extend({
    options: { position: "bottomleft" },
    onAdd() {
      const box = L.DomUtil.create("div", "console-legend");
      const open = (cfg.statuses || []).filter((s) => s.open);
      box.innerHTML = open.map((s) => `<span><i class="sw" style="background:${STATUS_COLOURS[s.code]}"></i>${R.esc(s.name)}</span>`).join("") +
        `<span><i class="sw breach"></i>${R.esc(gettext("SLA breached"))}</span>` +
        `<span><i class="sw big"></i>${R.esc(gettext("larger = higher priority"))}</span>`;
      return box;
    },
  });
  new Legend().addTo(map);

  function heatSet(on) {
    state.heat = on;
    const button = $("#heat-toggle");
    if (button) button.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) {
      heatLayer.addTo(map);
      map.removeLayer(incidentLayer); map.removeLayer(pointLayer); map.removeLayer(liveLayer);
    } else {
      map.removeLayer(heatLayer);
      incidentLayer.addTo(map); pointLayer.addTo(map); liveLayer.addTo(map);
    }
    if (state.data) heatFill(state.data);
  }

  /* ---------------------------------------------------------------- markers */
  function radiusFor(priority) {
    return 5 + Math.max(0, Math.min(100, priority || 0)) / 100 * 8;
  }

  function incidentStyle(p) {
    const selected = state.selected.has(p.id);
    const breached = !!p.sla_breached;
    return {
      radius: radiusFor(p.priority) + (selected ? 2 : 0),
      fillColor: STATUS_COLOURS[p.status] || "#546e7a", fillOpacity: 0.9,
      color: selected ? SELECTED : (breached ? BREACH : "#ffffff"),
      weight: selected ? 4 : (breached ? 3 : 1.5),
      dashArray: breached && !selected ? "4 3" : null,
    };
  }

  function incidentMarker(latlng, p) {
    const marker = L.circleMarker(latlng, incidentStyle(p));
    marker.feature = { properties: p };
    marker.bindTooltip(() => {
      const q = marker.feature.properties;
      return `#${q.id} · ${R.esc(categoryName(q.category_id || q.category))} · ${R.esc(statusName(q.status))}` +
        (q.sla_breached ? ` · ${R.esc(gettext("SLA breached"))}` : "");
    }, { direction: "top", offset: [0, -6] });
    marker.on("click", (e) => incidentClicked(marker.feature.properties.id, e.originalEvent));
    return marker;
  }

  function donut(statuses, count) {
    let at = 0;
    const stops = [];
    for (const [status, n] of Object.entries(statuses || {})) {
      const share = n / count * 100;
      stops.push(`${STATUS_COLOURS[status] || "#546e7a"} ${at.toFixed(1)}% ${(at + share).toFixed(1)}%`);
      at += share;
    }
    return stops.length ? `conic-gradient(${stops.join(",")})` : "#546e7a";
  }

  function clusterIcon(p) {
    const size = Math.round(30 + Math.min(26, 9 * Math.log10(p.count)));
    const cls = "cl-icon" + (p.sla_breached ? " breach" : "");
    const label = num(p.count, { notation: p.count >= 10000 ? "compact" : "standard" });
    return L.divIcon({
      className: "cl-wrap", iconSize: [size, size],
      html: `<span class="${cls}" style="width:${size}px;height:${size}px;background:${donut(p.statuses, p.count)}"><b>${R.esc(label)}</b></span>`,
    });
  }

  function localClusterIcon(cluster) {
    const children = cluster.getAllChildMarkers();
    const statuses = {};
    let breached = false;
    for (const m of children) {
      const q = m.feature.properties;
      statuses[q.status] = (statuses[q.status] || 0) + 1;
      breached = breached || !!q.sla_breached;
    }
    return clusterIcon({ count: children.length, statuses, sla_breached: breached });
  }

  function clusterMarker(latlng, p) {
    const statusText = Object.entries(p.statuses || {}).map(([s, n]) => `${statusName(s)}: ${num(n)}`).join(", ");
    const marker = L.marker(latlng, { icon: clusterIcon(p), keyboard: false,
      title: `${num(p.count)} · ${statusText}` });
    marker.bindTooltip(`<b>${R.esc(num(p.count))}</b> ${R.esc(gettext("incidents"))}<br>${R.esc(statusText)}<br>` +
      `${R.esc(gettext("highest priority"))}: ${R.esc(num(Math.round(p.max_priority)))}` +
      (p.sla_breached ? `<br><span class="breach-text">${R.esc(gettext("SLA breached"))}</span>` : ""), { direction: "top" });
    marker.on("click", () => map.setView(latlng, Math.min(map.getZoom() + 2, cfg.points_zoom || 16)));
    return marker;
  }

  /* ---------------------------------------------------------------- viewport data */
  function bboxParam() {
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
    const west = clamp(b.getWest(), -180, 180), east = clamp(b.getEast(), -180, 180);
    const south = clamp(b.getSouth(), -90, 90), north = clamp(b.getNorth(), -90, 90);
    return [west, south, Math.max(east, west + 1e-6), Math.max(north, south + 1e-6)].map((v) => v.toFixed(6)).join(",");
  }

  function readFilters() {
    const form = $("#filter-form");
    const values = (name) => $$(`input[name=${name}]:checked`, form).map((i) => i.value);
    const f = { status: values("status"), category: values("category"), district: values("district"),
      channel: values("channel"), age: $("#filter-age").value,
      sla_breached: $("input[name=sla_breached]", form).checked, mine: $("input[name=mine]", form).checked };
    state.filters = f;
    try { localStorage.setItem("rasad.console.filters", JSON.stringify(f)); } catch (e) { /* private mode */ }
    const defaults = (cfg.statuses || []).filter((s) => s.open).map((s) => s.code).sort().join(",");
    const active = (f.status.slice().sort().join(",") !== defaults ? 1 : 0) + (f.category.length ? 1 : 0) +
      (f.district.length ? 1 : 0) + (f.channel.length ? 1 : 0) + (f.age ? 1 : 0) + (f.sla_breached ? 1 : 0) + (f.mine ? 1 : 0) +
      (state.range ? 1 : 0);
    const badge = $("#filter-count");
    badge.textContent = num(active);
    badge.classList.toggle("hidden", !active);
    return f;
  }

  /* A link from elsewhere (the dashboard's figures) sets the filters instead of the saved
     ones: ?status=&category=&district=&channel= (comma-separated codes; status `open` means
     every open status), sla_breached=true, mine=true, from=&to= (first reported between two
     moments, ISO; asked as ages at each request) and incident=<id> (its details opened). */
  const LINKED = ["status", "category", "district", "channel", "sla_breached", "mine", "from", "to", "incident"];
  function linkedFilters() {
    const q = new URLSearchParams(location.search);
    if (!LINKED.some((k) => q.has(k))) return null;
    const list = (k) => (q.get(k) || "").split(",").filter(Boolean);
    const open = (cfg.statuses || []).filter((s) => s.open).map((s) => s.code);
    const status = list("status").flatMap((s) => (s === "open" ? open : [s]));
    const moment = (k) => { const t = Date.parse(q.get(k) || ""); return Number.isNaN(t) ? null : t; };
    state.range = moment("from") || moment("to") ? { from: moment("from"), to: moment("to") } : null;
    state.linkedIncident = Number(q.get("incident")) || null;
    history.replaceState(null, "", location.pathname);
    $("#console-filters").open = true;
    return { status: status.length ? status : open, category: list("category"), district: list("district"),
      channel: list("channel"), age: "", sla_breached: q.get("sla_breached") === "true", mine: q.get("mine") === "true" };
  }

  function rangeShow() {
    const old = $("#filter-range");
    if (old) old.remove();
    if (!state.range) return;
    const when = (t) => (t ? R.fmtDate(new Date(t), { dateStyle: "medium" }) : "…");
    const text = interpolate(gettext("First reported %(from)s – %(to)s"), {
      from: when(state.range.from), to: when(state.range.to && state.range.to - 1) });
    $("#filter-form").prepend(R.el("p", { id: "filter-range", class: "filter-range small" }, [
      R.el("span", { text }), " ",
      R.el("button", { type: "button", class: "link", text: gettext("Any date"),
        onclick: () => { state.range = null; rangeShow(); readFilters(); refresh(); } })]));
  }

  function restoreFilters() {
    let saved = linkedFilters();
    rangeShow();
    if (!saved) {
      try { saved = JSON.parse(localStorage.getItem("rasad.console.filters") || "null"); } catch (e) { saved = null; }
    }
    if (!saved) return;
    const form = $("#filter-form");
    for (const name of ["status", "category", "district", "channel"]) {
      if (!Array.isArray(saved[name])) continue;
      for (const input of $$(`input[name=${name}]`, form)) input.checked = saved[name].includes(input.value);
    }
    $("#filter-age").value = saved.age || "";
    $("input[name=sla_breached]", form).checked = !!saved.sla_breached;
    $("input[name=mine]", form).checked = !!saved.mine;
  }

  function filterQuery(f) {
    const q = new URLSearchParams();
    q.set("status", f.status.length ? f.status.join(",") : "open");
    if (f.category.length) q.set("category", f.category.join(","));
    if (f.district.length) q.set("district", f.district.join(","));
    if (f.channel.length) q.set("channel", f.channel.join(","));
    if (f.age) { const [kind, hours] = f.age.split(":"); q.set(kind === "min" ? "min_age_h" : "max_age_h", hours); }
    if (state.range) {
      const hoursAgo = (t) => Math.min(24 * 3650, Math.max(0, (Date.now() - t) / 3600000)).toFixed(3);
      if (state.range.from) q.set("max_age_h", hoursAgo(state.range.from));
      if (state.range.to) q.set("min_age_h", hoursAgo(state.range.to));
    }
    if (f.sla_breached) q.set("sla_breached", "true");
    if (f.mine) q.set("mine", "true");
    return q;
  }

  /* Whether a pushed event can be judged against the filters here (district, channel, age
     and department are not in the event: then only the refetch decides). */
  function eventMatches(ev) {
    const f = state.filters;
    if (f.district.length || f.channel.length || f.age || f.sla_breached || f.mine || state.range) return null;
    const statuses = f.status.length ? f.status : (cfg.statuses || []).filter((s) => s.open).map((s) => s.code);
    if (!statuses.includes(ev.status)) return false;
    if (f.category.length && !f.category.includes(ev.category)) return false;
    return true;
  }

  let fetchController = null;
  let fetchSeq = 0;
  let lastRefreshAt = 0;
  let lastSync = null;          // server clock of the last complete viewport answer

  async function refresh() {
    const seq = ++fetchSeq;
    if (fetchController) fetchController.abort();
    const controller = new AbortController();
    fetchController = controller;
    const q = filterQuery(state.filters || readFilters());
    q.set("bbox", bboxParam());
    q.set("zoom", String(Math.round(map.getZoom())));
    const url = `${cfg.urls.map}?${q}`;
    const started = performance.now();
    lastRefreshAt = started;
    let data;
    try {
      const response = await fetch(url, { credentials: "same-origin", signal: controller.signal,
        headers: { "Accept": "application/json", "Accept-Language": R.lang } });
      if (!response.ok) { toast(gettext("The map could not be loaded."), "bad"); return; }
      data = await response.json();
    } catch (e) {
      if (e.name !== "AbortError") toast(gettext("The map could not be loaded."), "bad");
      return;
    }
    if (seq !== fetchSeq) return;
    const fetched = performance.now();
    render(data, started);
    const drawn = performance.now();
    lastSync = data.server_time;
    metrics.requests.push({ url, started, fetch_ms: fetched - started, render_ms: drawn - fetched,
      mode: data.mode, features: data.features.length, total: data.total });
    if (metrics.requests.length > 500) metrics.requests.shift();
    if (metrics.firstDrawAt === null) {
      metrics.firstDrawAt = drawn;
      performance.mark("console:first-draw");
      document.body.dataset.mapReady = "true";
    }
  }

  function render(data, requestStarted) {
    state.data = data;
    incidentLayer.clearLayers();
    pointLayer.clearLayers();
    state.markers.clear();
    // Live markers drawn after this request left are not in its answer: keep those.
    liveLayer.eachLayer((layer) => {
      if (layer.options.liveAt < requestStarted + performance.timeOrigin) return;
      liveLayer.removeLayer(layer);
    });
    // A few hundred points are de-overlapped (markercluster, spiderfied at the last zoom);
    // thousands go straight onto the canvas, which draws them in a few milliseconds.
    const declutter = data.mode === "points" && data.features.length <= DECLUTTER_MAX;
    const points = [];
    for (const f of data.features) {
      const [lon, lat] = f.geometry.coordinates;
      const p = f.properties;
      if (p.cluster) {
        incidentLayer.addLayer(clusterMarker([lat, lon], p));
        continue;
      }
      const liveMarker = liveMarkerFor(p.id);
      if (liveMarker) liveLayer.removeLayer(liveMarker);
      const marker = incidentMarker([lat, lon], p);
      state.markers.set(p.id, marker);
      if (declutter) points.push(marker); else incidentLayer.addLayer(marker);
    }
    if (points.length) pointLayer.addLayers(points);
    heatFill(data);
    renderList(data);
  }

  function heatFill(data) {
    if (!state.heat) return;
    // Clusters weigh their count, points their priority; the largest cluster (or a few
    // urgent points together) saturates.
    let max = 1;
    for (const f of data.features) max = Math.max(max, f.properties.count || 1);
    // maxZoom = this zoom: leaflet.heat would otherwise fade lower zooms, but the server has
    // already summed the incidents of each cell.
    heatLayer.setOptions({ max: data.mode === "clusters" ? Math.max(2, max * 0.6) : 2,
      maxZoom: Math.round(map.getZoom()) });
    heatLayer.setLatLngs(data.features.map((f) => {
      const [lon, lat] = f.geometry.coordinates;
      const p = f.properties;
      return [lat, lon, p.cluster ? p.count : 0.5 + (p.priority || 0) / 100];
    }));
  }

  /* ---------------------------------------------------------------- incident list */
  function itemHtml(item, fresh) {
    const checked = state.selected.has(item.id) ? " checked" : "";
    const district = districtsById.get(item.district_id);
    const meta = [R.fmtDate(item.first_reported_at), relative(item.first_reported_at),
      item.report_count ? ngettext("%(n)s report", "%(n)s reports", item.report_count, { n: num(item.report_count) }) : "",
      district ? district.name : ""].filter(Boolean).map(R.esc).join(" · ");
    return `<li class="inc-item${fresh ? " fresh" : ""}${state.detailId === item.id ? " current" : ""}" data-id="${item.id}">` +
      `<input type="checkbox" class="sel" data-id="${item.id}"${checked} aria-label="${R.esc(interpolate(gettext("Select incident #%(id)s"), { id: item.id }))}">` +
      `<button type="button" class="inc-open" data-id="${item.id}">` +
      `<span class="row1"><span class="badge status-${R.esc(item.status)}">${R.esc(statusName(item.status))}</span> ` +
      `<strong>${R.esc(categoryName(item.category_id || item.category))}</strong> <span class="muted">#${item.id}</span>` +
      `<span class="prio" title="${R.esc(gettext("priority"))}">${R.esc(num(Math.round(item.priority || 0)))}</span></span>` +
      (item.sla_breached ? `<span class="badge breach-badge">${R.esc(gettext("SLA breached"))}</span> ` : "") +
      (fresh ? `<span class="badge new-badge">${R.esc(gettext("just in"))}</span> ` : "") +
      (item.summary ? `<span class="summary" dir="auto">${R.esc(item.summary)}</span>` : "") +
      (item.address ? `<span class="address muted small" dir="auto">${R.esc(item.address)}</span>` : "") +
      (meta ? `<span class="meta muted small">${meta}</span>` : "") +
      `</button></li>`;
  }

  function renderList(data) {
    const list = $("#incident-list");
    state.items.clear();
    const rows = data.list || [];
    for (const item of rows) state.items.set(item.id, item);
    const fresh = [];
    liveLayer.eachLayer((layer) => {
      const ev = layer.options.event;
      if (ev && !state.items.has(ev.incident_id)) fresh.push(ev);
    });
    list.innerHTML = fresh.map((ev) => itemHtml(eventItem(ev), true)).join("") + rows.map((i) => itemHtml(i, false)).join("");
    $("#incident-empty").classList.toggle("hidden", rows.length + fresh.length > 0);
    $("#tab-incidents-count").textContent = num(data.total || 0);
    const shown = rows.length;
    $("#list-note").textContent = data.total > shown ? interpolate(gettext("the %(n)s most urgent of %(total)s"), { n: num(shown), total: num(data.total) }) : "";
    $("#view-count").textContent = ngettext("%(n)s incident in view", "%(n)s incidents in view", data.total || 0, { n: num(data.total || 0) }) +
      (data.truncated ? " · " + interpolate(gettext("map shows the %(cap)s most urgent"), { cap: num(cfg.points_cap || 5000) }) : "");
    syncSelectVisible();
  }

  function eventItem(ev) {
    return { id: ev.incident_id, status: ev.status, priority: ev.priority, category: ev.category,
      report_count: ev.report_count, sla_breached: false, summary: "", address: "", first_reported_at: null };
  }

  function liveMarkerFor(id) {
    let found = null;
    liveLayer.eachLayer((layer) => { if (layer.options.incidentId === id) found = layer; });
    return found;
  }

  function listPrepend(ev) {
    const list = $("#incident-list");
    const existing = list.querySelector(`li[data-id="${ev.incident_id}"]`);
    const item = Object.assign({}, state.items.get(ev.incident_id) || eventItem(ev),
      { status: ev.status, priority: ev.priority });
    const html = itemHtml(item, !state.items.has(ev.incident_id));
    if (existing) existing.outerHTML = html; else list.insertAdjacentHTML("afterbegin", html);
    $("#incident-empty").classList.add("hidden");
  }

  function listRemove(id) {
    const li = $(`#incident-list li[data-id="${id}"]`);
    if (li) li.remove();
  }

  $("#incident-list").addEventListener("click", (e) => {
    const box = e.target.closest("input.sel");
    if (box) { selectToggle(Number(box.dataset.id), box.checked); return; }
    const open = e.target.closest("button.inc-open");
    if (open) {
      const id = Number(open.dataset.id);
      if (e.shiftKey) { selectToggle(id, !state.selected.has(id)); return; }
      detailOpen(id, { pan: true });
    }
  });

  $("#select-visible").addEventListener("change", (e) => {
    for (const box of $$("#incident-list input.sel")) {
      box.checked = e.target.checked;
      if (e.target.checked) state.selected.add(Number(box.dataset.id)); else state.selected.delete(Number(box.dataset.id));
    }
    selectionChanged();
  });

  function syncSelectVisible() {
    const boxes = $$("#incident-list input.sel");
    $("#select-visible").checked = boxes.length > 0 && boxes.every((b) => b.checked);
  }

  /* ---------------------------------------------------------------- selection */
  function incidentClicked(id, originalEvent) {
    if (originalEvent && (originalEvent.shiftKey || originalEvent.ctrlKey || originalEvent.metaKey)) {
      selectToggle(id, !state.selected.has(id));
      return;
    }
    detailOpen(id, { pan: false });
  }

  function selectToggle(id, on) {
    if (on) state.selected.add(id); else state.selected.delete(id);
    selectionChanged([id]);
  }

  function selectionChanged(ids) {
    const touched = ids || Array.from(state.markers.keys());
    for (const id of touched) {
      const marker = state.markers.get(id) || liveMarkerFor(id);
      if (marker && marker.setStyle) marker.setStyle(incidentStyle(marker.feature.properties));
      const box = $(`#incident-list input.sel[data-id="${id}"]`);
      if (box) box.checked = state.selected.has(id);
    }
    if (!ids) for (const box of $$("#incident-list input.sel")) box.checked = state.selected.has(Number(box.dataset.id));
    for (const box of $$("#con-crews input.crew-sel")) box.checked = state.selectedCrews.has(Number(box.dataset.id));
    for (const [id, crew] of state.crews) crew.marker.getElement()?.classList.toggle("selected", state.selectedCrews.has(id));
    syncSelectVisible();
    const ni = state.selected.size, nc = state.selectedCrews.size;
    $("#selection-summary").textContent = ni || nc
      ? ngettext("%(i)s incident", "%(i)s incidents", ni, { i: num(ni) }) + " · " + ngettext("%(c)s crew selected", "%(c)s crews selected", nc, { c: num(nc) })
      : gettext("Shift-click incidents, tick crews, then plan.");
    $("#clear-selection").disabled = !(ni || nc);
    const plan = $("#plan-button");
    if (plan) {
      plan.disabled = nc === 0;
      plan.textContent = nc === 0 ? gettext("Plan routes")
        : ni ? ngettext("Plan %(i)s incident", "Plan %(i)s incidents", ni, { i: num(ni) }) + " " + ngettext("on %(c)s crew", "on %(c)s crews", nc, { c: num(nc) })
          : ngettext("Plan all verified incidents on %(c)s crew", "Plan all verified incidents on %(c)s crews", nc, { c: num(nc) });
    }
  }

  $("#clear-selection").addEventListener("click", () => {
    const ids = Array.from(state.selected);
    state.selected.clear();
    state.selectedCrews.clear();
    selectionChanged(ids);
  });

  /* ---------------------------------------------------------------- tabs */
  function tabShow(name) {
    state.tab = name;
    for (const tab of ["incidents", "crews", "plans"]) {
      const button = $(`#tab-${tab}`);
      button.setAttribute("aria-selected", tab === name ? "true" : "false");
      button.tabIndex = tab === name ? 0 : -1;
      $(`#pane-${tab}`).classList.toggle("hidden", tab !== name || state.detailId !== null);
    }
  }
  for (const tab of ["incidents", "crews", "plans"]) {
    $(`#tab-${tab}`).addEventListener("click", () => { detailClose(); tabShow(tab); });
  }

  /* ---------------------------------------------------------------- toast */
  const toast = R.toaster("console-toast", "console-toast");
  const errorText = R.errorText;

  /* ---------------------------------------------------------------- incident detail */
  let detailSeq = 0;
  async function detailOpen(id, opts) {
    const seq = ++detailSeq;
    state.detailId = id;
    const pane = $("#pane-detail");
    for (const tab of ["incidents", "crews", "plans"]) $(`#pane-${tab}`).classList.add("hidden");
    pane.classList.remove("hidden");
    if (!state.detail || state.detail.id !== id) pane.innerHTML = `<p class="muted">${R.esc(gettext("Loading…"))}</p>`;
    const res = await R.api(`/api/v1/incidents/${id}/`);
    if (seq !== detailSeq || state.detailId !== id) return;
    if (!res.ok) { pane.innerHTML = `<p class="error">${R.esc(errorText(res))}</p>`; return; }
    const f = res.data;
    const form = detailFormRead(pane, id);
    state.detail = Object.assign({ id }, f.properties, { lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1] });
    renderDetail(state.detail, form);
    for (const li of $$("#incident-list li.current")) li.classList.remove("current");
    const li = $(`#incident-list li[data-id="${id}"]`);
    if (li) li.classList.add("current");
    const latlng = [state.detail.lat, state.detail.lon];
    if (opts && opts.pan) map.panTo(latlng);
    // Only when the dispatcher opened it: a live reload must not reopen a closed popup.
    if (opts) popupShow(latlng, state.detail);
  }

  let popup = null;
  function popupShow(latlng, d) {
    const box = document.createElement("div");
    box.className = "inc-popup";
    const title = document.createElement("strong");
    title.textContent = `#${d.id} ${categoryName(d.category)}`;
    const status = document.createElement("span");
    status.className = `badge status-${d.status}`;
    status.textContent = statusName(d.status);
    box.append(title, document.createTextNode(" "), status);
    const first = (d.reports || [])[0];
    if (first && first.properties.description) {
      const p = document.createElement("p");
      p.className = "summary";
      p.dir = "auto";
      p.textContent = first.properties.description.slice(0, 240);
      box.append(p);
    }
    if (popup) map.closePopup(popup);
    popup = L.popup({ autoPan: false, closeButton: true, offset: [0, -6] }).setLatLng(latlng).setContent(box).openOn(map);
  }

  function detailClose() {
    state.detailId = null;
    state.detail = null;
    detailSeq += 1;
    $("#pane-detail").classList.add("hidden");
    $("#pane-detail").innerHTML = "";
    for (const li of $$("#incident-list li.current")) li.classList.remove("current");
    if (popup) map.closePopup(popup);
    tabShow(state.tab);
  }

  /* What the dispatcher has typed or ticked in the detail: a live re-render of the same
     incident must not throw it away. */
  function detailFormRead(pane, id) {
    if (!state.detail || state.detail.id !== id || !pane.firstChild) return null;
    const value = (sel) => { const el = $(sel, pane); return el ? el.value : ""; };
    const pub = $("#transition-public", pane);
    return { reason: value("#transition-note"), note: value("#note-text"), mergeId: value("#merge-target-id"),
      merge: value("#merge-target"), pin: value("#pin-crew"), public: pub ? pub.checked : true,
      split: $$("input.split-sel:checked", pane).map((b) => b.value) };
  }

  function detailFormWrite(pane, form) {
    if (!form) return;
    const put = (sel, v) => { const el = $(sel, pane); if (el && v) el.value = v; };
    put("#transition-note", form.reason); put("#note-text", form.note); put("#merge-target-id", form.mergeId);
    put("#pin-crew", form.pin);
    const pub = $("#transition-public", pane);
    if (pub) pub.checked = form.public;
    for (const box of $$("input.split-sel", pane)) box.checked = form.split.includes(box.value);
    const merge = $("#merge-target", pane);
    if (merge) merge.dataset.want = form.merge || "";
  }

  function renderDetail(d, form) {
    const pane = $("#pane-detail");
    const reports = d.reports || [];
    const allowed = (d.allowed_transitions || []).filter((s) => !NOT_FROM_CONSOLE.has(s));
    const crewOptions = Array.from(state.crews.values()).map((c) =>
      `<option value="${c.feature.id}">${R.esc(c.feature.properties.code)} — ${R.esc(c.feature.properties.name)}</option>`).join("");
    const selected = state.selected.has(d.id);
    let html = `<div class="detail-head">
      <button type="button" class="btn secondary small" id="detail-back">${R.esc(gettext("Back to list"))}</button>
      <label class="con-check"><input type="checkbox" id="detail-select"${selected ? " checked" : ""}> ${R.esc(gettext("Selected for planning"))}</label>
    </div>
    <h2 class="detail-title">#${d.id} ${R.esc(categoryName(d.category))}</h2>
    <p><span class="badge status-${R.esc(d.status)}">${R.esc(statusName(d.status))}</span>
      ${d.sla_breached ? `<span class="badge breach-badge">${R.esc(gettext("SLA breached"))}</span>` : ""}
      <span class="muted">${R.esc(gettext("priority"))} ${R.esc(num(Math.round(d.priority || 0)))}</span></p>
    <dl class="facts">
      <dt>${R.esc(gettext("First reported"))}</dt><dd>${R.esc(R.fmtDate(d.first_reported_at))}</dd>
      <dt>${R.esc(gettext("SLA due"))}</dt><dd>${R.esc(R.fmtDate(d.sla_due_at))}</dd>
      <dt>${R.esc(gettext("Reports"))}</dt><dd>${R.esc(num(d.report_count || reports.length))}</dd>
      ${d.district ? `<dt>${R.esc(gettext("District"))}</dt><dd>${R.esc((districtsByCode.get(d.district) || { name: d.district }).name)}</dd>` : ""}
    </dl>`;
    if (canDispatch && allowed.length) {
      html += `<section class="detail-actions"><h3>${R.esc(gettext("Decide"))}</h3>
        <label for="transition-note">${R.esc(gettext("Reason or note"))}</label>
        <textarea id="transition-note" rows="2" maxlength="4000"></textarea>
        <label class="con-check"><input type="checkbox" id="transition-public" checked> ${R.esc(gettext("Tell the reporters"))}</label>
        <div class="buttons">${allowed.map((s) => `<button type="button" class="btn${s === "rejected" ? " danger" : s === "verified" ? "" : " secondary"}" data-transition="${R.esc(s)}">${R.esc(transitionLabel(s))}</button>`).join("")}</div>
      </section>`;
    }
    html += `<section><h3>${R.esc(gettext("Reports"))}</h3><ul class="report-list">` + reports.map((r) => {
      const p = r.properties;
      const photos = (p.photos || []).filter((ph) => ph.thumbnail_url || ph.url).map((ph) =>
        `<a href="${R.esc(ph.url || ph.thumbnail_url)}" target="_blank" rel="noopener"><img src="${R.esc(ph.thumbnail_url || ph.url)}" alt="${R.esc(gettext("photo"))}" loading="lazy"></a>`).join("");
      return `<li>${canDispatch && reports.length > 1 ? `<input type="checkbox" class="split-sel" value="${r.id}" aria-label="${R.esc(interpolate(gettext("Split report %(code)s off"), { code: p.tracking_code }))}">` : ""}
        <div><span class="muted small">${R.esc(p.tracking_code)} · ${R.esc(channelNames.get(p.channel) || p.channel)} · ${R.esc(R.fmtDate(p.created_at))}</span>
        ${p.description ? `<p class="citizen-text" dir="auto">${R.esc(p.description)}</p>` : ""}
        ${p.address ? `<p class="muted small" dir="auto">${R.esc(p.address)}</p>` : ""}
        ${photos ? `<div class="thumbs">${photos}</div>` : ""}</div></li>`;
    }).join("") + `</ul>`;
    if (canDispatch && reports.length > 1) {
      html += `<button type="button" class="btn secondary small" id="split-button" disabled>${R.esc(gettext("Split the ticked reports into a new incident"))}</button>`;
    }
    html += `</section>`;
    if (d.status === "referred") {
      html += `<section class="detail-referral"><h3>${R.esc(gettext("Referred"))}</h3><p id="referral-info" class="muted small">${R.esc(gettext("Loading…"))}</p></section>`;
    }
    if (canDispatch && (d.allowed_transitions || []).includes("referred")) {
      html += `<section class="detail-refer"><h3>${R.esc(gettext("Refer to an outside agency"))}</h3>
        <div class="row"><select id="refer-agency" aria-label="${R.esc(gettext("Outside agency"))}"><option value="">${R.esc(gettext("Loading agencies…"))}</option></select>
        <button type="button" class="btn secondary small" id="refer-button">${R.esc(gettext("Refer"))}</button></div>
        <p class="muted small">${R.esc(gettext("The note above goes to the agency and the reporters."))}</p>
      </section>`;
    }
    if (canDispatch) {
      html += `<section class="detail-merge"><h3>${R.esc(gettext("Merge"))}</h3>
        <label for="merge-target">${R.esc(gettext("Merge this incident into"))}</label>
        <div class="row"><select id="merge-target"><option value="">${R.esc(gettext("Loading nearby incidents…"))}</option></select>
        <input type="number" id="merge-target-id" min="1" placeholder="#" aria-label="${R.esc(gettext("or an incident number"))}"></div>
        <button type="button" class="btn secondary small" id="merge-button">${R.esc(gettext("Merge"))}</button>
      </section>
      <section class="detail-pin"><h3>${R.esc(gettext("Pin to a crew"))}</h3>
        <div class="row"><select id="pin-crew">${crewOptions}</select>
        <button type="button" class="btn secondary small" id="pin-button">${R.esc(gettext("Pin"))}</button>
        <button type="button" class="btn secondary small" id="unpin-button">${R.esc(gettext("Unpin"))}</button></div>
        <p class="muted small">${R.esc(gettext("A pinned incident is planned only on that crew's route."))}</p>
      </section>`;
    }
    html += `<section class="detail-note"><h3>${R.esc(gettext("Internal note"))}</h3>
      <textarea id="note-text" rows="2" maxlength="4000"></textarea>
      <button type="button" class="btn secondary small" id="note-button">${R.esc(gettext("Add note"))}</button></section>`;
    html += `<section><h3>${R.esc(gettext("History"))}</h3><ol class="timeline">` + (d.timeline || []).map((e) =>
      `<li><span class="muted small">${R.esc(R.fmtDate(e.created_at))}${e.by ? " · " + R.esc(e.by) : ""}${e.public === false ? " · " + R.esc(gettext("internal")) : ""}</span><br>` +
      (e.to_status ? `${e.from_status ? R.esc(statusName(e.from_status)) + " → " : ""}<b>${R.esc(statusName(e.to_status))}</b>` : "") +
      (e.note ? `<div class="citizen-text" dir="auto">${R.esc(e.note)}</div>` : "") + `</li>`).join("") + `</ol></section>`;
    pane.innerHTML = html;
    detailFormWrite(pane, form);
    $("#detail-back").addEventListener("click", detailClose);
    $("#detail-select").addEventListener("change", (e) => selectToggle(d.id, e.target.checked));
    for (const button of $$("[data-transition]", pane)) button.addEventListener("click", () => transition(d, button.dataset.transition));
    const split = $("#split-button");
    if (split) {
      const boxes = $$("input.split-sel", pane);
      const update = () => {
        const n = boxes.filter((b) => b.checked).length;
        split.disabled = n === 0 || n === boxes.length;
      };
      boxes.forEach((b) => b.addEventListener("change", update));
      update();
      split.addEventListener("click", () => splitReports(d, boxes.filter((b) => b.checked).map((b) => Number(b.value))));
    }
    if (canDispatch) {
      mergeCandidates(d);
      $("#merge-button").addEventListener("click", () => {
        const typed = Number($("#merge-target-id").value);
        mergeInto(d, typed || Number($("#merge-target").value));
      });
      $("#pin-button").addEventListener("click", () => pin(d, Number($("#pin-crew").value)));
      $("#unpin-button").addEventListener("click", () => pin(d, null));
    }
    $("#note-button").addEventListener("click", () => noteAdd(d));
    if ($("#refer-agency")) referAgencies(d);
    if ($("#referral-info")) referralInfo(d);
  }

  // Outside agencies (GET /api/v1/agencies/), those that handle this category first.
  let agencies = null;
  async function referAgencies(d) {
    if (!agencies) {
      const res = await R.api("/api/v1/agencies/");
      agencies = res.ok ? res.data : [];
    }
    const select = $("#refer-agency");
    if (!select || state.detailId !== d.id) return;
    const sorted = agencies.slice().sort((a, b) => (b.categories.includes(d.category) - a.categories.includes(d.category)));
    select.innerHTML = `<option value="">${R.esc(sorted.length ? gettext("Choose an agency") : gettext("No outside agency yet"))}</option>` +
      sorted.map((a) => `<option value="${R.esc(a.code)}">${R.esc(a.name)}</option>`).join("");
    $("#refer-button").addEventListener("click", () => refer(d, select.value));
  }

  async function refer(d, agency) {
    if (!agency) { toast(gettext("Choose the agency to refer it to."), "bad"); return; }
    const res = await R.api(`/api/v1/incidents/${d.id}/refer/`, { json: {
      agency, note: $("#transition-note") ? $("#transition-note").value.trim() : "", version: d.version } });
    if (!res.ok) { toast(errorText(res), "bad"); return; }
    toast(interpolate(gettext("#%(id)s referred to %(agency)s"), { id: d.id, agency: res.data.agency_name }));
    applyIncidentChange({ incident_id: d.id, status: "referred", priority: d.priority, category: d.category,
      lon: d.lon, lat: d.lat, report_count: d.report_count });
    detailOpen(d.id);
    scheduleRefresh();
  }

  async function referralInfo(d) {
    const res = await R.api(`/api/v1/referrals/?incident=${d.id}`);
    const box = $("#referral-info");
    if (!box || state.detailId !== d.id) return;
    const r = res.ok && res.data.length ? res.data[0] : null;
    if (!r) { box.textContent = ""; return; }
    box.innerHTML = R.esc(interpolate(gettext("With %(agency)s since %(date)s (%(state)s); answer due %(due)s."), {
      agency: r.agency_name, date: R.fmtDate(r.referred_at), state: r.state_name || r.state, due: r.due_at ? R.fmtDate(r.due_at) : "—" }, true)) +
      (r.overdue ? ` <span class="badge breach-badge" data-testid="referral-overdue">${R.esc(gettext("Agency's answer overdue"))}</span>` : "");
  }

  function transitionLabel(status) {
    const labels = { verified: gettext("Verify"), rejected: gettext("Reject"), resolved: gettext("Mark resolved"),
      closed: gettext("Close"), reopened: gettext("Reopen") };
    return labels[status] || interpolate(gettext("Move to %(status)s"), { status: statusName(status) });
  }

  async function transition(d, to) {
    const note = $("#transition-note").value.trim();
    if (NEEDS_REASON.has(to) && !note) {
      toast(gettext("Give a reason: the reporters will read it."), "bad");
      $("#transition-note").focus();
      return;
    }
    const res = await R.api(`/api/v1/incidents/${d.id}/transition/`, { json: {
      to, note, public: $("#transition-public").checked, version: d.version } });
    if (!res.ok) { toast(errorText(res), "bad"); detailOpen(d.id); return; }
    $("#transition-note").value = "";
    toast(interpolate(gettext("#%(id)s is now %(status)s"), { id: d.id, status: statusName(to) }));
    applyIncidentChange({ incident_id: d.id, status: to, priority: d.priority, category: d.category,
      lon: d.lon, lat: d.lat, report_count: d.report_count });
    detailOpen(d.id);
    scheduleRefresh();
  }

  async function mergeCandidates(d) {
    const select = $("#merge-target");
    const q = new URLSearchParams({ category: d.category, lon: d.lon, lat: d.lat, radius: "2000" });
    const res = await R.api(`/api/v1/incidents/nearby/?${q}`);
    if (!select.isConnected || state.detailId !== d.id) return;
    const others = res.ok ? (res.data.features || []).filter((f) => f.properties.id !== d.id && f.id !== d.id) : [];
    select.innerHTML = `<option value="">${R.esc(others.length ? gettext("Choose an incident") : gettext("No open incident of this category nearby"))}</option>` +
      others.map((f) => {
        const p = f.properties;
        const id = p.id || f.id;
        return `<option value="${id}">#${id} · ${R.esc(statusName(p.status))} · ${R.esc(ngettext("%(n)s report", "%(n)s reports", p.report_count, { n: num(p.report_count) }))}</option>`;
      }).join("");
    if (select.dataset.want) select.value = select.dataset.want;
  }

  async function mergeInto(d, target) {
    if (!target) { toast(gettext("Choose the incident to merge into."), "bad"); return; }
    const res = await R.api(`/api/v1/incidents/${d.id}/merge/`, { json: { target } });
    if (!res.ok) { toast(errorText(res), "bad"); return; }
    toast(interpolate(gettext("#%(a)s merged into #%(b)s"), { a: d.id, b: target }));
    state.selected.delete(d.id);
    listRemove(d.id);
    detailOpen(target, { pan: true });
    scheduleRefresh();
  }

  async function splitReports(d, reportIds) {
    const res = await R.api(`/api/v1/incidents/${d.id}/split/`, { json: { report_ids: reportIds } });
    if (!res.ok) { toast(errorText(res), "bad"); return; }
    const created = res.data.properties ? res.data.properties.id || res.data.id : res.data.id;
    for (const box of $$("input.split-sel")) box.checked = false;
    toast(interpolate(gettext("Split off into #%(id)s"), { id: created }));
    detailOpen(d.id);
    scheduleRefresh();
  }

  async function pin(d, crewId) {
    const res = await R.api("/api/v1/dispatch/pin/", { json: { incident: d.id, crew: crewId } });
    if (!res.ok) { toast(errorText(res), "bad"); return; }
    const crew = crewId ? state.crews.get(crewId) : null;
    toast(crew ? interpolate(gettext("#%(id)s pinned to %(crew)s; plan that crew to apply it."), { id: d.id, crew: crew.feature.properties.code })
      : interpolate(gettext("#%(id)s unpinned"), { id: d.id }));
  }

  async function noteAdd(d) {
    const note = $("#note-text").value.trim();
    if (!note) return;
    const res = await R.api(`/api/v1/incidents/${d.id}/notes/`, { json: { note, public: false } });
    if (!res.ok) { toast(errorText(res), "bad"); return; }
    $("#note-text").value = "";
    toast(gettext("Note added"));
    detailOpen(d.id);
  }

  /* ---------------------------------------------------------------- crews */
  function crewColour(index) { return CREW_COLOURS[index % CREW_COLOURS.length]; }

  function crewIcon(p, colour, selected) {
    return L.divIcon({ className: "con-crew-wrap", iconSize: null,
      html: `<span class="con-crew${selected ? " selected" : ""}" style="--c:${colour}">${R.esc(p.code)}</span>` });
  }

  async function loadCrews() {
    const res = await R.api("/api/v1/crews/");
    if (!res.ok) return;
    const features = res.data.features || [];
    const seen = new Set();
    features.forEach((f, index) => {
      seen.add(f.id);
      const [lon, lat] = f.geometry.coordinates;
      let crew = state.crews.get(f.id);
      if (!crew) {
        const colour = crewColour(index);
        const marker = L.marker([lat, lon], { icon: crewIcon(f.properties, colour, false), zIndexOffset: 1000, keyboard: true,
          title: `${f.properties.code} — ${f.properties.name}` });
        marker.on("click", () => crewToggle(f.id));
        crew = { feature: f, marker, trail: L.polyline([], { color: colour, weight: 3, opacity: 0.55, dashArray: "2 6", interactive: false }), colour };
        crew.marker.addTo(crewLayer);
        crew.trail.addTo(trailLayer);
        state.crews.set(f.id, crew);
        state.crewByCode.set(f.properties.code, crew);
      } else {
        crew.feature = f;
        crew.marker.setLatLng([lat, lon]);
      }
      crew.marker.bindTooltip(() => crewTooltip(crew), { direction: "top", offset: [0, -12] });
    });
    for (const [id, crew] of state.crews) {
      if (seen.has(id)) continue;
      crewLayer.removeLayer(crew.marker); trailLayer.removeLayer(crew.trail);
      state.crews.delete(id); state.crewByCode.delete(crew.feature.properties.code);
    }
    renderCrews();
    await Promise.all(Array.from(state.crews.values()).map(loadTrail));
  }

  function crewTooltip(crew) {
    const p = crew.feature.properties;
    return `<b>${R.esc(p.code)}</b> — ${R.esc(p.name)}<br>${R.esc(p.vehicle || "")}<br>` +
      (p.at_depot ? R.esc(gettext("at the depot")) : R.esc(interpolate(gettext("seen %(when)s"), { when: relative(p.last_position_at) })));
  }

  async function loadTrail(crew) {
    const res = await R.api(`/api/v1/crews/${crew.feature.id}/trail/?minutes=30`);
    if (!res.ok || !res.data.geometry) return;
    crew.trail.setLatLngs(res.data.geometry.coordinates.map(([lon, lat]) => [lat, lon]));
  }

  function renderCrews() {
    const list = $("#con-crews");
    const crews = Array.from(state.crews.values());
    list.innerHTML = crews.map((c) => {
      const p = c.feature.properties;
      const checked = state.selectedCrews.has(c.feature.id) ? " checked" : "";
      return `<li data-id="${c.feature.id}">
        <label class="con-crew-row"><input type="checkbox" class="crew-sel" data-id="${c.feature.id}"${checked}>
        <span class="con-crew-chip" style="--c:${c.colour}">${R.esc(p.code)}</span>
        <span><strong>${R.esc(p.name)}</strong><br><span class="muted small">${R.esc((p.skills || []).join(", "))}</span><br>
        <span class="muted small crew-seen">${p.at_depot ? R.esc(gettext("at the depot")) : R.esc(interpolate(gettext("seen %(when)s"), { when: relative(p.last_position_at) }))}</span></span></label>
        <button type="button" class="btn secondary small crew-find" data-id="${c.feature.id}">${R.esc(gettext("Show"))}</button></li>`;
    }).join("");
    $("#crew-empty").classList.toggle("hidden", crews.length > 0);
    $("#tab-crews-count").textContent = num(crews.length);
  }

  $("#con-crews").addEventListener("change", (e) => {
    const box = e.target.closest("input.crew-sel");
    if (box) crewToggle(Number(box.dataset.id), box.checked);
  });
  $("#con-crews").addEventListener("click", (e) => {
    const button = e.target.closest("button.crew-find");
    if (!button) return;
    const crew = state.crews.get(Number(button.dataset.id));
    if (crew) map.setView(crew.marker.getLatLng(), Math.max(map.getZoom(), 15));
  });

  function crewToggle(id, on) {
    const want = on === undefined ? !state.selectedCrews.has(id) : on;
    if (want) state.selectedCrews.add(id); else state.selectedCrews.delete(id);
    const crew = state.crews.get(id);
    if (crew) crew.marker.setIcon(crewIcon(crew.feature.properties, crew.colour, want));
    selectionChanged([]);
  }

  function onCrewPosition(ev) {
    const crew = state.crews.get(ev.crew_id);
    if (!crew) { loadCrews(); return; }
    if (ev.lon == null || ev.lat == null) return;
    const latlng = [ev.lat, ev.lon];
    // A crew without a recent trail starts one from where its marker was.
    if (crew.trail.getLatLngs().length === 0) crew.trail.addLatLng(crew.marker.getLatLng());
    crew.marker.setLatLng(latlng);
    crew.trail.addLatLng(latlng);
    const trail = crew.trail.getLatLngs();
    if (trail.length > 600) crew.trail.setLatLngs(trail.slice(-600));
    crew.feature.geometry.coordinates = [ev.lon, ev.lat];
    crew.feature.properties.last_position_at = ev.at;
    crew.feature.properties.at_depot = false;
    const seen = $(`#con-crews li[data-id="${ev.crew_id}"] .crew-seen`);
    if (seen) seen.textContent = interpolate(gettext("seen %(when)s"), { when: relative(ev.at) });
    metrics.crewMoves[ev.crew_id] = { at: now(), lon: ev.lon, lat: ev.lat };
  }

  /* ---------------------------------------------------------------- routes */
  async function loadPlans() {
    const res = await R.api("/api/v1/plans/");
    if (!res.ok) return;
    state.plans = res.data.plans || [];
    state.planIncidents = new Set(state.plans.flatMap((p) => p.stops.map((s) => s.incident.id)));
    drawPlans();
    renderPlans();
  }

  function planColour(plan) {
    const crew = state.crewByCode.get(plan.crew);
    return crew ? crew.colour : "#37474f";
  }

  function drawPlans() {
    planLayer.clearLayers();
    for (const plan of state.plans) {
      const colour = planColour(plan);
      if (plan.geometry && plan.geometry.coordinates && plan.geometry.coordinates.length > 1) {
        L.polyline(plan.geometry.coordinates.map(([lon, lat]) => [lat, lon]), {
          color: colour, weight: 5, opacity: 0.85, renderer: routeRenderer, pane: "routes",
          className: "route-line" }).addTo(planLayer);
      }
      for (const stop of plan.stops) {
        const [lon, lat] = stop.incident.location.coordinates;
        const marker = L.marker([lat, lon], { zIndexOffset: 500, icon: L.divIcon({ className: "stop-wrap", iconSize: [24, 24],
          html: `<span class="stop-icon${stop.locked ? " locked" : ""}" style="--c:${colour}">${R.esc(num(stop.sequence))}</span>` }) });
        marker.bindTooltip(`${R.esc(plan.crew)} · ${R.esc(num(stop.sequence))}. #${stop.incident.id} ${R.esc(stop.incident.category_name)}<br>` +
          `${R.esc(gettext("ETA"))} ${R.esc(R.fmtDate(stop.eta, { timeStyle: "short" }))}`, { direction: "top" });
        marker.on("click", () => detailOpen(stop.incident.id, { pan: false }));
        marker.addTo(planLayer);
      }
    }
  }

  function renderPlans() {
    const result = state.lastPlanResult;
    const resultBox = $("#plan-result");
    if (result) {
      const stops = result.plans.reduce((n, p) => n + p.stops.length, 0);
      resultBox.innerHTML = `<div class="plan-summary panel">
        <strong>${R.esc(ngettext("Planned %(stops)s stop", "Planned %(stops)s stops", stops, { stops: num(stops) }) + " " + ngettext("on %(crews)s route", "on %(crews)s routes", result.plans.length, { crews: num(result.plans.length) }))}</strong>
        <span class="muted small">${R.esc(result.engine)} · ${R.esc(result.matrix_source)} · ${R.esc(num((result.seconds.total || 0), { maximumFractionDigits: 1 }))} s</span>
        ${result.unassigned.length ? `<h3>${R.esc(ngettext("%(n)s incident not assigned", "%(n)s incidents not assigned", result.unassigned.length, { n: num(result.unassigned.length) }))}</h3><ul class="unassigned">` +
          result.unassigned.map((u) => `<li><button type="button" class="link" data-open="${u.incident_id}">#${u.incident_id}</button> — ${R.esc(u.reason)}</li>`).join("") + `</ul>` : ""}
        <button type="button" class="link small" id="plan-result-dismiss">${R.esc(gettext("Dismiss"))}</button></div>`;
      $("#plan-result-dismiss").addEventListener("click", () => { state.lastPlanResult = null; renderPlans(); });
    } else {
      resultBox.innerHTML = "";
    }
    const list = $("#plan-list");
    list.innerHTML = state.plans.map((plan) => {
      const crew = state.crewByCode.get(plan.crew);
      const n = plan.stops.length;
      return `<article class="plan-card" data-plan="${plan.id}">
        <header><span class="con-crew-chip" style="--c:${planColour(plan)}">${R.esc(plan.crew)}</span>
          <span class="small">${R.esc(interpolate(gettext("version %(v)s"), { v: num(plan.version) }) + " · " + ngettext("%(n)s stop", "%(n)s stops", n, { n: num(n) }) + " · " +
            interpolate(gettext("%(km)s km · %(min)s min"), { km: num(plan.distance_m / 1000, { maximumFractionDigits: 1 }), min: num(Math.round(plan.duration_s / 60)) }))}</span>
          <span class="buttons"><button type="button" class="btn secondary small" data-show-plan="${plan.id}">${R.esc(gettext("Show"))}</button>
          ${canDispatch && crew ? `<button type="button" class="btn secondary small" data-replan="${crew.feature.id}">${R.esc(gettext("Re-plan"))}</button>` : ""}</span></header>
        <ol class="stops">${plan.stops.map((s, i) => `<li data-stop="${s.id}">
          <span class="stop-icon${s.locked ? " locked" : ""}" style="--c:${planColour(plan)}">${R.esc(num(s.sequence))}</span>
          <button type="button" class="link stop-open" data-open="${s.incident.id}">#${s.incident.id} ${R.esc(s.incident.category_name)}</button>
          <span class="badge status-${R.esc(s.incident.status)}">${R.esc(statusName(s.incident.status))}</span>
          <span class="muted small">${R.esc(gettext("ETA"))} ${R.esc(R.fmtDate(s.eta, { timeStyle: "short" }))}${s.locked ? " · " + R.esc(gettext("locked")) : ""}</span>
          ${canDispatch ? `<span class="stop-buttons">
            <button type="button" class="icon" data-move="-1" data-plan="${plan.id}" data-index="${i}" ${i === 0 ? "disabled" : ""} aria-label="${R.esc(gettext("Move up"))}" title="${R.esc(gettext("Move up"))}">▲</button>
            <button type="button" class="icon" data-move="1" data-plan="${plan.id}" data-index="${i}" ${i === n - 1 ? "disabled" : ""} aria-label="${R.esc(gettext("Move down"))}" title="${R.esc(gettext("Move down"))}">▼</button>
            <button type="button" class="icon" data-lock="${s.id}" data-locked="${s.locked ? "1" : "0"}" aria-pressed="${s.locked ? "true" : "false"}" title="${R.esc(s.locked ? gettext("Unlock") : gettext("Lock in place"))}">${R.esc(s.locked ? gettext("Unlock") : gettext("Lock"))}</button>
            <button type="button" class="icon danger" data-remove="${s.id}" ${s.state !== "pending" ? "disabled" : ""} title="${R.esc(gettext("Remove from route"))}" aria-label="${R.esc(gettext("Remove from route"))}">✕</button>
          </span>` : ""}</li>`).join("")}</ol></article>`;
    }).join("");
    $("#plan-empty").classList.toggle("hidden", state.plans.length > 0 || !!result);
    $("#tab-plans-count").textContent = num(state.plans.length);
  }

  $("#pane-plans").addEventListener("click", async (e) => {
    const el = e.target.closest("button");
    if (!el) return;
    if (el.dataset.open) { detailOpen(Number(el.dataset.open), { pan: true }); return; }
    if (el.dataset.showPlan) {
      const plan = state.plans.find((p) => p.id === Number(el.dataset.showPlan));
      const pts = plan ? plan.stops.map((s) => [s.incident.location.coordinates[1], s.incident.location.coordinates[0]]) : [];
      if (plan && plan.geometry) for (const [lon, lat] of plan.geometry.coordinates) pts.push([lat, lon]);
      if (pts.length) map.fitBounds(L.latLngBounds(pts), { padding: [40, 40], maxZoom: 17 });
      return;
    }
    if (el.dataset.replan) { planRun([Number(el.dataset.replan)], []); return; }
    if (el.dataset.move) {
      const plan = state.plans.find((p) => p.id === Number(el.dataset.plan));
      const i = Number(el.dataset.index), j = i + Number(el.dataset.move);
      const ids = plan.stops.map((s) => s.incident.id);
      [ids[i], ids[j]] = [ids[j], ids[i]];
      el.disabled = true;
      const res = await R.api(`/api/v1/plans/${plan.id}/reorder/`, { json: { incident_ids: ids } });
      if (!res.ok) toast(errorText(res), "bad"); else toast(gettext("Route reordered"));
      loadPlans();
      return;
    }
    if (el.dataset.lock) {
      const locked = el.dataset.locked !== "1";
      const res = await R.api(`/api/v1/stops/${el.dataset.lock}/lock/`, { json: { locked } });
      if (!res.ok) toast(errorText(res), "bad");
      loadPlans();
      return;
    }
    if (el.dataset.remove) {
      el.disabled = true;
      const res = await R.api(`/api/v1/stops/${el.dataset.remove}/remove/`, { json: {} });
      if (!res.ok) toast(errorText(res), "bad"); else toast(gettext("Stop removed; the incident is back to verified"));
      loadPlans();
      scheduleRefresh();
    }
  });

  async function planRun(crewIds, incidentIds) {
    const button = $("#plan-button");
    if (button) { button.disabled = true; button.classList.add("busy"); }
    toast(gettext("Planning routes…"));
    const body = { crew_ids: crewIds, budget_s: 2 };
    if (incidentIds && incidentIds.length) body.incident_ids = incidentIds;
    const res = await R.api("/api/v1/dispatch/plan/", { json: body });
    if (button) button.classList.remove("busy");
    selectionChanged([]);
    if (!res.ok) { toast(errorText(res), "bad"); return; }
    state.lastPlanResult = res.data;
    const planned = new Set(res.data.plans.flatMap((p) => p.stops.map((s) => s.incident.id)));
    const ids = Array.from(state.selected).filter((id) => planned.has(id));
    for (const id of ids) state.selected.delete(id);
    selectionChanged(ids);
    detailClose();
    tabShow("plans");
    toast(ngettext("Route published for %(n)s crew", "Routes published for %(n)s crews", res.data.plans.length, { n: num(res.data.plans.length) }));
    await loadPlans();
    scheduleRefresh(0);
  }

  const planButton = $("#plan-button");
  if (planButton) planButton.addEventListener("click", () => planRun(Array.from(state.selectedCrews), Array.from(state.selected)));

  /* ---------------------------------------------------------------- live events */
  /* Pushed events are drawn at once; the authoritative viewport (cluster counts, the list
     with citizen text) is refetched once things calm down: 1 s after the last event, and
     at least every 5 s during a burst, so a storm of reports does not become a storm of
     whole-viewport queries. */
  const QUIET_MS = 1000;
  const MAX_WAIT_MS = 5000;
  let refreshTimer = null;
  let refreshDue = null;        // the latest moment the pending refetch may start
  function scheduleRefresh(delay) {
    const at = performance.now();
    if (delay !== undefined) {
      clearTimeout(refreshTimer);
      refreshDue = null;
      refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, delay);
      return;
    }
    if (refreshDue === null) refreshDue = at + MAX_WAIT_MS;
    clearTimeout(refreshTimer);
    const wait = Math.max(0, Math.min(QUIET_MS, refreshDue - at));
    refreshTimer = setTimeout(() => { refreshTimer = null; refreshDue = null; refresh(); }, wait);
  }
  let plansTimer = null;
  function schedulePlans() {
    if (plansTimer) return;
    plansTimer = setTimeout(() => { plansTimer = null; loadPlans(); }, 300);
  }
  let detailTimer = null;
  function scheduleDetail(id) {
    clearTimeout(detailTimer);
    detailTimer = setTimeout(() => { if (state.detailId === id) detailOpen(id); }, 300);
  }

  function applyIncidentChange(ev) {
    const id = ev.incident_id;
    const inView = ev.lat != null && map.getBounds().contains([ev.lat, ev.lon]);
    if (!inView) return false;
    const matches = eventMatches(ev);
    const marker = state.markers.get(id) || liveMarkerFor(id);
    if (matches === false) {
      if (marker) { incidentLayer.removeLayer(marker); pointLayer.removeLayer(marker); liveLayer.removeLayer(marker); state.markers.delete(id); }
      listRemove(id);
      return true;
    }
    if (matches === null) return false;
    if (marker) {
      Object.assign(marker.feature.properties, { status: ev.status, priority: ev.priority, report_count: ev.report_count });
      marker.setStyle(incidentStyle(marker.feature.properties));
    } else {
      const p = { id, status: ev.status, priority: ev.priority, category: ev.category,
        category_id: (categoriesByCode.get(ev.category) || {}).id, report_count: ev.report_count, sla_breached: false };
      const fresh = incidentMarker([ev.lat, ev.lon], p);
      fresh.options.liveAt = now();
      fresh.options.incidentId = id;
      fresh.options.event = ev;
      liveLayer.addLayer(fresh);
      const pulse = L.marker([ev.lat, ev.lon], { interactive: false, keyboard: false,
        icon: L.divIcon({ className: "pulse-wrap", iconSize: [36, 36], html: '<span class="pulse"></span>' }) });
      pulse.options.liveAt = now();
      liveLayer.addLayer(pulse);
      setTimeout(() => liveLayer.removeLayer(pulse), 4000);
    }
    listPrepend(ev);
    return true;
  }

  function onIncidentEvent(ev) {
    const id = ev.incident_id;
    (metrics.arrivals[id] = metrics.arrivals[id] || []).push(now());
    if (applyIncidentChange(ev)) drawnMark(id);
    if (state.detailId === id) scheduleDetail(id);
    if (state.planIncidents.has(id)) schedulePlans();
    const inView = ev.lat != null && map.getBounds().contains([ev.lat, ev.lon]);
    if (inView) scheduleRefresh();
  }

  function onEvent(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.server_time) serverTime = msg.server_time;
    switch (msg.kind) {
      case "incident.created": case "incident.updated": case "incident.status": onIncidentEvent(msg); break;
      case "crew.position": onCrewPosition(msg); break;
      case "plan.published": schedulePlans(); break;
      default: break;
    }
  }

  /* A socket that drops reconnects with exponential backoff (Rasad.live), then catches up:
     what changed since the last server time it heard, and a fresh viewport. */
  let serverTime = null;        // the server clock of the last event heard
  let downSince = null;         // serverTime when the socket dropped
  const live = R.live({
    url: cfg.urls.live,
    onEvent(msg) {
      if (msg.kind === "hello" && !serverTime) serverTime = msg.server_time;
      onEvent(msg);
    },
    onOpen(reopened) { if (reopened) catchUp(); },
    onClose() { if (downSince === null) downSince = serverTime; },
  });

  async function catchUp() {
    metrics.reconnects += 1;
    // A margin for events in flight when the socket died.
    const base = downSince || lastSync;
    downSince = null;
    const tasks = [loadCrews(), loadPlans()];
    if (base) {
      const since = new Date(new Date(base).getTime() - 5000).toISOString();
      const q = filterQuery(state.filters);
      q.set("bbox", bboxParam());
      q.set("zoom", String(Math.round(map.getZoom())));
      q.set("since", since);
      tasks.push(R.api(`${cfg.urls.map}?${q}`).then((res) => {
        if (!res.ok) return;
        const changed = res.data.features || [];
        metrics.catchUps.push({ at: now(), since, changed: changed.map((f) => f.properties.id) });
        for (const f of changed) {
          const p = f.properties;
          const ev = { incident_id: p.id, status: p.status, priority: p.priority,
            category: (categoriesById.get(p.category_id) || {}).code, report_count: p.report_count,
            lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1] };
          if (applyIncidentChange(ev)) drawnMark(p.id);
        }
        if (changed.length) toast(ngettext("%(n)s incident changed while the connection was down", "%(n)s incidents changed while the connection was down", changed.length, { n: num(changed.length) }));
      }));
    }
    await Promise.all(tasks);
    scheduleRefresh(0);
  }

  /* ---------------------------------------------------------------- start */
  restoreFilters();
  readFilters();
  $("#filter-form").addEventListener("change", () => { readFilters(); refresh(); });
  $("#filter-form").addEventListener("reset", () => setTimeout(() => {
    try { localStorage.removeItem("rasad.console.filters"); } catch (e) { /* private mode */ }
    state.range = null;
    rangeShow();
    readFilters(); refresh();
  }, 0));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.detailId !== null) detailClose(); });

  if (cfg.area_bounds) {
    const [x0, y0, x1, y1] = cfg.area_bounds;
    map.fitBounds([[y0, x0], [y1, x1]], { padding: [16, 16], animate: false });
  }
  let moveTimer = null;
  map.on("moveend", () => { clearTimeout(moveTimer); moveTimer = setTimeout(refresh, 120); });
  R.roadsFallback(map);
  selectionChanged([]);
  // The map first: crews, trails and routes queue behind it on the server, not before it.
  refresh().finally(() => {
    if (state.linkedIncident) detailOpen(state.linkedIncident, { pan: true });
    return loadCrews().then(loadPlans);
  });
  live.connect();

  window.RasadConsole = {
    map, state, metrics, refresh, loadCrews, loadPlans,
    live: {
      get state() { return document.body.dataset.live; },
      get socket() { return live.socket; },
      /* Drop the socket as a network failure would (tests, benchmarks). */
      drop() { live.drop(); },
    },
  };
})();
