/* Rasad: what every page shares — config, translated strings, API calls, dates in the
   reader's calendar, escaping, a small IndexedDB store, and the offline street layer. */
(function () {
  "use strict";
  const configEl = document.getElementById("rasad-config");
  const config = configEl ? JSON.parse(configEl.textContent) : {};
  const lang = document.documentElement.lang || "en";
  const t = (msg) => (window.gettext ? window.gettext(msg) : msg);
  const fmt = (msg, values) => (window.interpolate ? window.interpolate(t(msg), values, true) : msg);

  function esc(value) {
    return String(value == null ? "" : value).replace(/[&<>"'`=\/]/g, (ch) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;",
      "=": "&#61;", "/": "&#47;" }[ch]));
  }

  // fa: Solar Hijri (Jalali) calendar with Persian digits; ar: Arabic-Indic digits.
  const LOCALES = { fa: "fa-IR-u-ca-persian-nu-arabext", ar: "ar-u-nu-arab", en: "en-GB" };
  const locale = LOCALES[lang] || lang;
  function fmtDate(iso, opts) {
    if (!iso) return "";
    const d = iso instanceof Date ? iso : new Date(iso);
    return new Intl.DateTimeFormat(locale, opts || { dateStyle: "medium", timeStyle: "short" }).format(d);
  }
  function fmtNumber(n, opts) { return new Intl.NumberFormat(locale, opts).format(n); }

  const STATUS = { new: "new", verified: "verified", assigned: "assigned", en_route: "en route",
    on_site: "on site", resolved: "resolved", closed: "closed", rejected: "rejected",
    merged: "merged", reopened: "reopened" };
  function statusLabel(status) { return t(STATUS[status] || status); }

  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function api(path, options) {
    const opts = options || {};
    const headers = Object.assign({ "Accept": "application/json", "Accept-Language": lang }, opts.headers || {});
    let body = opts.body;
    if (opts.json !== undefined) { body = JSON.stringify(opts.json); headers["Content-Type"] = "application/json"; }
    const method = opts.method || (body ? "POST" : "GET");
    if (method !== "GET") headers["X-CSRFToken"] = cookie("csrftoken");
    if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;
    const response = await fetch(path, { method, headers, body, credentials: "same-origin" });
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) { try { data = await response.json(); } catch (e) { data = null; } }
    return { ok: response.ok, status: response.status, data };
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "id-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  /* A tiny promise wrapper over IndexedDB: one database, named stores keyed by `key`. */
  function store(dbName, storeName) {
    const opened = new Promise((resolve, reject) => {
      const req = indexedDB.open(dbName, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(storeName, { keyPath: "key" });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const run = (mode, fn) => opened.then((db) => new Promise((resolve, reject) => {
      const tx = db.transaction(storeName, mode);
      const result = fn(tx.objectStore(storeName));
      tx.oncomplete = () => resolve(result && result.result !== undefined ? result.result : result);
      tx.onerror = () => reject(tx.error);
    }));
    return {
      put: (item) => run("readwrite", (s) => s.put(item)),
      get: (key) => run("readonly", (s) => s.get(key)),
      all: () => run("readonly", (s) => s.getAll()),
      remove: (key) => run("readwrite", (s) => s.delete(key)),
    };
  }

  /* When basemap tiles fail (no internet), draw the city's streets from our own road network. */
  function roadsFallback(map) {
    let failures = 0;
    let layer = null;
    let active = false;
    async function draw() {
      const b = map.getBounds();
      const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
      let res;
      try {
        res = await api(`/api/v1/map/roads/?bbox=${bbox}&zoom=${map.getZoom()}`);
      } catch (e) {
        return;  // offline and not cached: the map keeps what it has
      }
      if (!res.ok) return;
      if (layer) layer.remove();
      layer = L.geoJSON(res.data, { interactive: false, style: (f) => ({
        color: ["motorway", "trunk", "primary"].includes(f.properties.class) ? "#e2a33b" : "#8a96a3",
        weight: ["motorway", "trunk", "primary", "secondary"].includes(f.properties.class) ? 4 : 2 }) });
      layer.addTo(map);
      layer.bringToBack();
    }
    map.eachLayer((l) => {
      if (l instanceof L.TileLayer) {
        l.on("tileerror", () => {
          failures += 1;
          if (!active && failures >= 2) {
            active = true;
            map.getContainer().classList.add("tiles-offline");
            draw();
            map.on("moveend", draw);
          }
        });
      }
    });
    return { draw, get active() { return active; } };
  }

  function mapByName(name) { return window[name]; }

  /* Show #offline-banner while the browser has no connection. */
  function offlineBanner() {
    const banner = document.getElementById("offline-banner");
    if (!banner) return;
    const update = () => banner.classList.toggle("hidden", navigator.onLine);
    window.addEventListener("online", update);
    window.addEventListener("offline", update);
    update();
  }

  window.Rasad = { config, lang, t, fmt, esc, fmtDate, fmtNumber, statusLabel, api, uuid, store,
    roadsFallback, mapByName, offlineBanner, rtl: document.documentElement.dir === "rtl" };
})();
