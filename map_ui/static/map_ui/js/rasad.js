/* Rasad: what every page shares — config, translated strings, API calls, dates in the
   reader's calendar, escaping, a small IndexedDB store, the offline street layer, and the
   live socket. */
(function () {
  "use strict";
  const configEl = document.getElementById("rasad-config");
  const config = configEl ? JSON.parse(configEl.textContent) : {};
  const lang = document.documentElement.lang || "en";

  /* The catalogue from /jsi18n/ (the English text when it is missing). Pages alias these as
     local consts — `const { gettext, interpolate, ngettext } = R;` — and write their messages
     as gettext("…") and ngettext("…", "…", n) so that `makemessages -d djangojs` finds them. */
  function gettext(msg) { return window.gettext ? window.gettext(msg) : msg; }
  function interpolate(text, values) {
    return window.interpolate ? window.interpolate(text, values, true)
      : text.replace(/%\((\w+)\)s/g, (m, k) => (k in values ? values[k] : m));
  }
  /* With `values`, the chosen form comes back interpolated. */
  function ngettext(singular, pluralForm, count, values) {
    const text = window.ngettext ? window.ngettext(singular, pluralForm, count) : (count === 1 ? singular : pluralForm);
    return values ? interpolate(text, values) : text;
  }
  const t = gettext;
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

  /* "3 min ago", "in 2 h": how far an ISO time is from now, in the page's language. */
  const relativeTime = (() => {
    let rtf = null;
    try { rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto", style: "short" }); } catch (e) { rtf = null; }
    return (iso) => {
      if (!iso || !rtf) return "";
      const s = (new Date(iso).getTime() - Date.now()) / 1000;
      const a = Math.abs(s);
      if (a < 60) return rtf.format(Math.round(s), "second");
      if (a < 3600) return rtf.format(Math.round(s / 60), "minute");
      if (a < 86400) return rtf.format(Math.round(s / 3600), "hour");
      return rtf.format(Math.round(s / 86400), "day");
    };
  })();

  const STATUS = { new: "new", verified: "verified", assigned: "assigned", en_route: "en route",
    on_site: "on site", resolved: "resolved", closed: "closed", rejected: "rejected",
    merged: "merged", reopened: "reopened", referred: "referred to another agency" };
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

  /* One line for a failed api() answer: its detail, else its first field error. */
  function errorText(res) {
    const d = res && res.data;
    if (!d) return gettext("Something went wrong. Try again.");
    if (d.detail) return String(d.detail);
    const first = Object.values(d)[0];
    return Array.isArray(first) ? String(first[0]) : String(first || gettext("Something went wrong. Try again."));
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

  /* A page's toast: the element #`id` shows the message with class `className ok|bad`, and
     hides again after 4 s (8 s when bad). */
  function toaster(id, className) {
    let timer = null;
    return function toast(message, kind) {
      const box = document.getElementById(id);
      box.textContent = message;
      box.className = `${className} ${kind || "ok"}`;
      clearTimeout(timer);
      timer = setTimeout(() => box.classList.add("hidden"), kind === "bad" ? 8000 : 4000);
    };
  }

  /* An element: attrs `text` and `class` set textContent and className, `on…` add listeners,
     null/undefined/false leave an attribute out; null/undefined/false children are skipped. */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach((child) => {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    });
    return node;
  }
  function statusBadge(status, name) {
    const safe = /^[a-z_]+$/.test(status || "") ? status : "new";
    return el("span", { class: `badge status-${safe}`, text: name || statusLabel(status) });
  }

  function registerWorker() {
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
    }
  }

  /* The live socket (options.url, e.g. /ws/live/). It pings every pingMs (10 s) and closes a
     socket not heard from for deadMs (25 s); a socket that drops reconnects with exponential
     backoff (0.5 s doubling to 15 s, with ±25 % jitter so a restarted server is not hit by
     every page at once), at once when the network comes back; close code 4403 (not allowed)
     ends it. Its state shows in #live-indicator and as <body data-live>. Hooks:
     onEvent(msg) for each message (parsed JSON); onOpen(reopened) once open, `reopened` when
     it had been open before (events sent meanwhile are lost); onClose(event) as it closes.
     `connect()` starts it. */
  function live(options) {
    const o = Object.assign({ pingMs: 10000, deadMs: 25000 }, options);
    const s = { socket: null, attempt: 0, timer: null, heartbeat: null, lastHeard: 0, everOpen: false, reconnects: 0 };

    function indicator(stateName) {
      const box = document.getElementById("live-indicator");
      box.dataset.state = stateName;
      const labels = { connecting: gettext("Connecting…"), live: gettext("Live"), reconnecting: gettext("Reconnecting…"),
        offline: gettext("Offline — reconnecting when the network is back"), denied: gettext("Live updates not allowed") };
      box.querySelector(".label").textContent = labels[stateName];
      document.body.dataset.live = stateName;
    }

    function connect() {
      clearTimeout(s.timer);
      if (s.socket) return;
      indicator(s.everOpen ? "reconnecting" : "connecting");
      const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${o.url}`;
      let socket;
      try { socket = new WebSocket(url); } catch (e) { reconnectLater(); return; }
      s.socket = socket;
      socket.onopen = () => {
        const reopened = s.everOpen;
        s.everOpen = true;
        s.attempt = 0;
        s.lastHeard = Date.now();
        indicator("live");
        clearInterval(s.heartbeat);
        s.heartbeat = setInterval(heartbeat, o.pingMs);
        if (reopened) s.reconnects += 1;
        if (o.onOpen) o.onOpen(reopened);
      };
      socket.onmessage = (e) => {
        s.lastHeard = Date.now();
        let msg = null;
        try { msg = JSON.parse(e.data); } catch (err) { return; }
        if (o.onEvent) o.onEvent(msg);
      };
      socket.onclose = (e) => {
        clearInterval(s.heartbeat);
        if (s.socket === socket) s.socket = null;
        if (o.onClose) o.onClose(e);
        if (e.code === 4403) { indicator("denied"); return; }
        reconnectLater();
      };
      socket.onerror = () => { /* onclose follows */ };
    }

    function heartbeat() {
      const socket = s.socket;
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      if (Date.now() - s.lastHeard > o.deadMs) { socket.close(4000, "no pong"); return; }
      try { socket.send(JSON.stringify({ type: "ping", t: Date.now() })); } catch (e) { socket.close(); }
    }

    function reconnectLater() {
      s.attempt += 1;
      const base = Math.min(15000, 500 * 2 ** (s.attempt - 1));
      const delay = Math.round(base * (0.75 + Math.random() * 0.5));
      indicator(navigator.onLine === false ? "offline" : "reconnecting");
      clearTimeout(s.timer);
      s.timer = setTimeout(connect, delay);
    }

    window.addEventListener("offline", () => indicator("offline"));
    window.addEventListener("online", () => { if (!s.socket) { s.attempt = 0; connect(); } });

    return {
      connect,
      get socket() { return s.socket; },
      /* How often it opened again after a drop. */
      get reconnects() { return s.reconnects; },
      /* Drop the socket as a network failure would (tests, benchmarks). */
      drop() { if (s.socket) s.socket.close(4001, "dropped"); },
    };
  }

  window.Rasad = { config, lang, t, fmt, gettext, interpolate, ngettext, esc, fmtDate, fmtNumber, relativeTime,
    statusLabel, api, errorText, uuid, store, roadsFallback, mapByName, offlineBanner, toaster, el, statusBadge,
    registerWorker, live, rtl: document.documentElement.dir === "rtl" };
})();
