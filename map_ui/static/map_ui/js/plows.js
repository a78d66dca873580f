/* The public plow map: streets coloured by the time since the last pass of the chosen task
   (plowing, or salting and anti-slip), plows where they were a few minutes ago. Both
   documents are cached on the server and polled every minute (ETag: an unchanged document
   costs a 304). Tapping a street opens a popup with a link that files a snow report there.
   Street names only reach the page through textContent. */
(function () {
  "use strict";
  const R = window.Rasad;
  const { gettext, interpolate, el } = R;
  const config = R.config || {};
  const map = R.mapByName(config.map);
  const status = document.getElementById("plow-status");
  const AGES_H = [1, 3, 12];  // band edges, hours
  const COLOURS = ["#1a9850", "#91cf60", "#fdae61", "#d73027"];
  const NONE = "#8a96a3";
  const state = { task: "plowing", edges: null, vehicles: null, etags: {} };

  R.roadsFallback(map);
  const b = config.area_bounds;
  if (b) map.fitBounds(L.latLngBounds([b[1], b[0]], [b[3], b[2]]));
  const streets = L.geoJSON(null, { style, onEachFeature: bindStreet }).addTo(map);
  const vehicles = L.layerGroup().addTo(map);

  function lastPass(props) {
    return state.task === "salting" ? props.last_salted_at : props.last_plowed_at;
  }
  function band(iso) {
    if (!iso) return -1;
    const hours = (Date.now() - new Date(iso).getTime()) / 3.6e6;
    const index = AGES_H.findIndex((edge) => hours < edge);
    return index === -1 ? AGES_H.length : index;
  }
  function style(feature) {
    const p = feature.properties;
    const age = band(lastPass(p));
    // Main roads are drawn wider (priority 0 is a motorway or trunk, 3 a tertiary road).
    const weight = p.priority <= 1 ? 7 : p.priority <= 3 ? 5 : 3;
    if (age < 0) return { color: NONE, weight: Math.max(2, weight - 2), opacity: 0.6, dashArray: "4 6" };
    return { color: COLOURS[age], weight, opacity: 0.9 };
  }
  function reportLink(latlng) {
    const query = new URLSearchParams({ lat: latlng.lat.toFixed(6), lon: latlng.lng.toFixed(6) });
    if (config.report_category) query.set("category", config.report_category);
    return `${config.report_url}?${query}`;
  }
  function bindStreet(feature, layer) {
    layer.on("click", (e) => {
      const p = feature.properties;
      const when = lastPass(p);
      const box = el("div", { class: "plow-popup", "data-edge": String(p.edge) }, [
        el("p", { class: "street-name", text: p.name || gettext("Unnamed street") }),
        el("p", { class: "street-pass", text: when
          ? interpolate(state.task === "salting" ? gettext("Last salted %(when)s") : gettext("Last plowed %(when)s"),
            { when: R.relativeTime(when) }, true)
          : (state.task === "salting" ? gettext("Not salted in the last hours") : gettext("Not plowed in the last hours")) }),
        el("p", {}, [el("a", { class: "btn report-snow", href: reportLink(e.latlng),
          text: gettext("Still blocked? Report snow here") })]),
      ]);
      L.popup().setLatLng(e.latlng).setContent(box).openOn(map);
    });
  }

  async function fetchDoc(name, url) {
    const headers = state.etags[name] ? { "If-None-Match": state.etags[name] } : {};
    const res = await fetch(url, { headers, credentials: "omit" });
    if (res.status === 304) return null;
    if (!res.ok) throw new Error(String(res.status));
    state.etags[name] = res.headers.get("ETag");
    return res.json();
  }
  function drawVehicles() {
    vehicles.clearLayers();
    (state.vehicles ? state.vehicles.features : []).forEach((f) => {
      const [lng, lat] = f.geometry.coordinates;
      const icon = L.divIcon({ className: "plow-vehicle", iconSize: [14, 14] });
      const tasks = (f.properties.tasks || []).map((t) => (t === "salting" ? gettext("salting") : gettext("plowing"))).join(", ");
      L.marker([lat, lng], { icon, keyboard: false, title: tasks, alt: tasks })
        .bindTooltip(interpolate(gettext("%(tasks)s, %(when)s"), { tasks, when: R.relativeTime(f.properties.at) }, true))
        .addTo(vehicles);
    });
  }
  async function refresh() {
    try {
      const [edges, plows] = await Promise.all([fetchDoc("edges", config.edges_url),
        fetchDoc("vehicles", config.vehicles_url)]);
      if (edges) { state.edges = edges; streets.clearLayers(); streets.addData(edges); }
      if (plows) { state.vehicles = plows; drawVehicles(); }
      const at = (state.edges && state.edges.generated_at) || null;
      status.textContent = at ? interpolate(gettext("Updated %(when)s"), { when: R.fmtDate(at, { timeStyle: "short" }) }, true) : "";
      document.body.dataset.plowsLoaded = "true";
    } catch (e) {
      status.textContent = gettext("The map could not be updated. It will try again in a minute.");
    }
  }
  document.querySelectorAll('#plow-task input[name="task"]').forEach((input) => {
    input.addEventListener("change", () => {
      state.task = input.value;
      streets.resetStyle();
    });
  });
  refresh();
  setInterval(() => { refresh(); streets.resetStyle(); }, (config.poll_s || 60) * 1000);
})();
