/* Rasad citizen report page, and the outbox: reports made without a connection wait on the
   phone (IndexedDB, photos as Blobs) and are sent exactly once when it returns — every
   retry carries the report's own Idempotency-Key, and the server answers a repeated key with
   the report it already stored. Also loaded by /track/ to show and send what is waiting.
   Citizen text only ever reaches the page through textContent. */
(function () {
  "use strict";
  const R = window.Rasad;
  const { gettext, ngettext, interpolate: fmt } = R;
  const config = R.config || {};
  const MAX_PHOTOS = config.max_photos || 5;
  const MAX_PHOTO_BYTES = config.max_photo_bytes || 8 * 1024 * 1024;
  const MAX_DESCRIPTION = config.max_description || 4000;
  const MINE_KEY = "rasad-my-reports";
  const script = document.currentScript;
  const ICONS = script ? script.src.replace(/js\/report\.js(\?.*)?$/, "icons/") : "/static/map_ui/icons/";

  /* ---------- small helpers ---------- */
  const { el, statusBadge, registerWorker } = R;
  function iconUrl(name) {
    return ICONS + (/^[a-z0-9-]+$/.test(name || "") ? name : "question") + ".svg";
  }
  function iconImg(name) {
    const img = el("img", { src: iconUrl(name), alt: "", width: 32, height: 32, class: "cat-icon" });
    img.addEventListener("error", () => { img.src = iconUrl("question"); }, { once: true });
    return img;
  }
  function mb(bytes, round) { return R.fmtNumber(round(bytes / 1e5) / 10); }
  function chars(text) { return Array.from(text || "").length; }

  /* Codes of reports sent from this phone, for the /track/ page. */
  function mineRemember(entry) {
    try {
      const list = JSON.parse(localStorage.getItem(MINE_KEY) || "[]").filter((e) => e.code !== entry.code);
      list.unshift(entry);
      localStorage.setItem(MINE_KEY, JSON.stringify(list.slice(0, 50)));
    } catch (e) { /* storage full or disabled: the citizen still sees the code */ }
  }

  /* ---------- the outbox ---------- */
  const Outbox = (function () {
    let db = null;
    const listeners = [];
    const inFlight = new Set();
    const sentNow = [];
    let flushing = null;
    let timer = null;
    let delay = 10000;

    function store() {
      if (!db) db = R.store("rasad-outbox", "reports");
      return db;
    }
    async function all() {
      try { return ((await store().all()) || []).sort((a, b) => (a.created_at < b.created_at ? -1 : 1)); }
      catch (e) { return []; }
    }
    function changed() { listeners.forEach((fn) => fn()); }
    async function put(item) { await store().put(item); changed(); }
    async function remove(key) { await store().remove(key); changed(); }

    function formData(item) {
      const data = new FormData();
      Object.entries(item.fields).forEach(([name, value]) => {
        if (name === "attributes") data.append(name, JSON.stringify(value || {}));
        else if (value !== "" && value !== null && value !== undefined) data.append(name, value);
      });
      (item.photos || []).forEach((p) => data.append("photos", p.blob, p.name));
      return data;
    }

    function messages(data) {
      if (!data) return [gettext("The server refused the report.")];
      const out = [];
      if (data.errors && typeof data.errors === "object") {
        Object.values(data.errors).forEach((list) => (Array.isArray(list) ? list : [list]).forEach((m) => out.push(String(m))));
      }
      return out.length ? out : [String(data.detail || gettext("The server refused the report."))];
    }

    /* One attempt. "retry": no answer, 5xx or 429 — keep it and try later with the same key.
       "attention": the server refused it (4xx) — retrying the same body cannot help. */
    async function attempt(item) {
      let res;
      try {
        res = await R.api("/api/v1/reports/", { method: "POST", body: formData(item), idempotencyKey: item.key });
      } catch (e) {
        return { outcome: "retry" };
      }
      const code = res.ok && res.data && res.data.properties && res.data.properties.tracking_code;
      if (code) return { outcome: "sent", code, status: res.status };
      if (res.ok || res.status === 429 || res.status === 408 || res.status >= 500) return { outcome: "retry", status: res.status };
      return { outcome: "attention", status: res.status, data: res.data };
    }
    async function send(item) {
      if (inFlight.has(item.key)) return { outcome: "busy" };
      inFlight.add(item.key);
      try { return await attempt(item); } finally { inFlight.delete(item.key); }
    }

    async function sent(item, code) {
      await remove(item.key);
      mineRemember({ code, category: item.fields.category, category_name: item.category_name,
        icon: item.icon, created_at: item.created_at });
      delay = 10000;
    }

    async function settle(item, result) {
      if (result.outcome === "busy") return;
      if (result.outcome === "sent") {
        await sent(item, result.code);
        sentNow.push({ key: item.key, code: result.code, category_name: item.category_name, icon: item.icon });
        changed();
      } else if (result.outcome === "retry") {
        await put(Object.assign(item, { state: "waiting", attempts: (item.attempts || 0) + 1 }));
      } else {
        await put(Object.assign(item, { state: "attention", errors: messages(result.data) }));
      }
    }

    function schedule() {
      clearTimeout(timer);
      all().then((items) => {
        if (!items.some((i) => i.state !== "attention")) return;
        timer = setTimeout(flush, delay);
        delay = Math.min(delay * 2, 5 * 60 * 1000);
      });
    }

    /* Send everything waiting, oldest first; one flush at a time (per page, and across tabs
       where Web Locks exist — and the server dedups by key anyway). */
    function flush() {
      if (flushing) return flushing;
      if (!navigator.onLine) { schedule(); return Promise.resolve(); }
      const run = async () => {
        const items = (await all()).filter((i) => i.state === "waiting" || i.state === "sending");
        for (const item of items) {
          if (!navigator.onLine) break;
          if (inFlight.has(item.key)) continue;
          await put(Object.assign(item, { state: "sending" }));
          await settle(item, await send(item));
        }
      };
      flushing = (navigator.locks ? navigator.locks.request("rasad-outbox", run) : run())
        .catch(() => {})
        .finally(() => { flushing = null; schedule(); });
      return flushing;
    }

    /* A report from the form: kept in the outbox before the first attempt, so closing the
       page mid-send loses nothing. Resolves to {outcome: sent|queued|invalid, ...}. */
    async function submit(item) {
      inFlight.add(item.key);  // before it is stored, so a flush running now leaves it alone
      try {
        let kept = true;
        try { await put(item); } catch (e) { kept = false; }
        if (!navigator.onLine && kept) {
          await put(Object.assign(item, { state: "waiting" }));
          schedule();
          return { outcome: "queued" };
        }
        const result = await attempt(item);
        if (result.outcome === "sent") {
          if (kept) await sent(item, result.code);
          else mineRemember({ code: result.code, category_name: item.category_name, icon: item.icon, created_at: item.created_at });
          return result;
        }
        if (result.outcome === "retry") {
          if (!kept) return { outcome: "unreachable" };
          await put(Object.assign(item, { state: "waiting" }));
          schedule();
          return { outcome: "queued" };
        }
        // Refused: nothing was stored; the citizen corrects the form and sends again.
        if (kept) await remove(item.key);
        return { outcome: "invalid", data: result.data, status: result.status };
      } finally {
        inFlight.delete(item.key);
      }
    }

    async function retry(key) {
      const item = await store().get(key);
      if (!item) return;
      await put(Object.assign(item, { state: "waiting", errors: [] }));
      delay = 10000;
      flush();
    }

    window.addEventListener("online", () => { delay = 10000; flush(); });
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") flush(); });

    return { all, put, remove, flush, submit, retry, get: (key) => store().get(key), sentNow,
      onChange: (fn) => listeners.push(fn) };
  })();
  window.RasadOutbox = Outbox;

  /* The list of what waits on this phone (report page and /track/). `onEdit` is given on the
     report page: a refused report goes back into the form. */
  function outboxView(box, onEdit) {
    async function render() {
      const items = await Outbox.all();
      box.replaceChildren();
      box.classList.toggle("hidden", !items.length && !Outbox.sentNow.length);
      if (items.length) {
        box.append(el("h2", { class: "outbox-title", text: fmt(ngettext(
          "%(n)s report on this phone", "%(n)s reports on this phone", items.length), { n: R.fmtNumber(items.length) }) }));
        const list = el("ul", { class: "outbox-list" });
        items.forEach((item) => {
          const state = ["attention", "sending"].includes(item.state) ? item.state : "waiting";
          const li = el("li", { class: `outbox-item ${state}`, "data-state": state, "data-key": item.key }, [
            iconImg(item.icon),
            el("div", { class: "outbox-text" }, [
              el("strong", { text: item.category_name || item.fields.category }),
              el("span", { class: "muted small", text: R.fmtDate(item.created_at) }),
              el("span", { class: "outbox-state", text: { attention: gettext("needs your attention"),
                sending: gettext("sending…"), waiting: gettext("waiting to send") }[state] }),
            ]),
          ]);
          if (state === "attention") {
            (item.errors || []).forEach((m) => li.append(el("p", { class: "error", text: m })));
            const actions = el("div", { class: "outbox-actions" });
            if (onEdit) actions.append(el("button", { type: "button", class: "btn secondary", text: gettext("Correct it"), onclick: () => onEdit(item) }));
            actions.append(el("button", { type: "button", class: "btn secondary", text: gettext("Try again"), onclick: () => Outbox.retry(item.key) }));
            actions.append(el("button", { type: "button", class: "btn secondary", text: gettext("Delete"), onclick: () => {
              if (window.confirm(gettext("Delete this report from the phone? It was not sent."))) Outbox.remove(item.key);
            } }));
            li.append(actions);
          }
          list.append(li);
        });
        box.append(list);
      }
      Outbox.sentNow.forEach((entry) => {
        box.append(el("p", { class: "outbox-sent ok", "data-state": "sent" }, [
          fmt(gettext("Sent: %(category)s. Tracking code:"), { category: entry.category_name || "" }), " ",
          el("a", { href: `/track/${encodeURIComponent(entry.code)}/`, dir: "ltr", class: "code", text: entry.code }),
        ]));
      });
    }
    Outbox.onChange(render);
    render();
  }


  /* ---------- the report page ---------- */
  function reportPage() {
    const form = document.getElementById("report-form");
    const map = R.mapByName(config.map);
    const sheet = document.getElementById("sheet");
    const views = { form, nearby: document.getElementById("nearby"), done: document.getElementById("done") };
    const categoryGrid = document.getElementById("categories");
    const details = document.getElementById("details");
    const questionsBox = document.getElementById("questions");
    const photoInput = document.getElementById("photos");
    const photoList = document.getElementById("photo-list");
    const description = document.getElementById("description");
    const sendButton = document.getElementById("send");
    const locationStatus = document.getElementById("location-status");
    const state = { categories: [], category: null, location: null, photos: [], pending: null, busy: false };

    R.roadsFallback(map);
    const b = config.area_bounds;
    const bounds = b ? L.latLngBounds([b[1], b[0]], [b[3], b[2]]) : null;
    if (bounds) map.setMaxBounds(bounds.pad(1));
    if (window.ResizeObserver) new ResizeObserver(() => map.invalidateSize()).observe(map.getContainer());

    /* location: tap, drag or "locate me"; the pin stays inside the service area */
    const pinIcon = L.divIcon({ className: "report-pin", iconSize: [36, 48], iconAnchor: [18, 46],
      html: '<svg viewBox="0 0 36 48" width="36" height="48" aria-hidden="true"><path d="M18 46C18 46 3 28 3 17a15 15 0 0 1 30 0c0 11-15 29-15 29z" fill="#c62828" stroke="#fff" stroke-width="2.5"/><circle cx="18" cy="17" r="6" fill="#fff"/></svg>' });
    let marker = null;
    let nearbyLayer = null;
    const inside = (latlng) => !bounds || bounds.contains(latlng);
    function setPin(latlng, opts) {
      if (!inside(latlng)) {
        showErrors({ location: [gettext("That place is outside the service area. Put the pin inside the city.")] }, false);
        return false;
      }
      state.location = L.latLng(latlng.lat, latlng.lng);
      if (!marker) {
        marker = L.marker(state.location, { icon: pinIcon, draggable: true, autoPan: true, keyboard: true,
          title: gettext("The problem is here"), alt: gettext("The problem is here") }).addTo(map);
        let before = null;
        marker.on("dragstart", () => { before = state.location; });
        marker.on("dragend", () => { if (!setPin(marker.getLatLng())) marker.setLatLng(before); });
      } else {
        marker.setLatLng(state.location);
      }
      if (opts && opts.fly) map.setView(state.location, Math.max(map.getZoom(), 17));
      locationStatus.textContent = gettext("The pin marks the problem. Drag it, or tap the map, to move it.");
      locationStatus.classList.add("ok");
      clearError("location");
      return true;
    }
    map.on("click", (e) => setPin(e.latlng));

    function locate() {
      if (!navigator.geolocation) {
        showErrors({ location: [gettext("Your phone cannot tell us where you are. Tap the map where the problem is.")] }, false);
        return;
      }
      locationStatus.textContent = gettext("Finding where you are…");
      navigator.geolocation.getCurrentPosition((pos) => {
        const here = L.latLng(pos.coords.latitude, pos.coords.longitude);
        if (!inside(here)) {
          locationStatus.textContent = "";
          showErrors({ location: [gettext("You seem to be outside the service area. Tap the map where the problem is.")] }, false);
          return;
        }
        setPin(here, { fly: true });
      }, () => {
        locationStatus.textContent = "";
        showErrors({ location: [gettext("Your location is not available. Tap the map where the problem is.")] }, false);
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
    }
    const LocateControl = L.Control.extend({
      options: { position: "topleft" },
      onAdd() {
        const wrap = L.DomUtil.create("div", "leaflet-bar leaflet-control locate-control");
        const button = el("button", { type: "button", class: "locate-button", id: "locate",
          title: gettext("Locate me"), "aria-label": gettext("Locate me") });
        button.innerHTML = '<svg viewBox="0 0 24 24" width="22" height="22" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true"><circle cx="12" cy="12" r="7"/><circle cx="12" cy="12" r="2.5" fill="currentColor"/><path d="M12 1v4M12 19v4M1 12h4M19 12h4"/></svg>';
        wrap.append(button);
        L.DomEvent.disableClickPropagation(wrap);
        button.addEventListener("click", locate);
        return wrap;
      },
    });
    new LocateControl().addTo(map);

    /* the sheet */
    const toggle = document.getElementById("sheet-toggle");
    toggle.addEventListener("click", () => {
      const collapsed = sheet.classList.toggle("collapsed");
      toggle.setAttribute("aria-expanded", String(!collapsed));
    });
    function expand() { sheet.classList.remove("collapsed"); toggle.setAttribute("aria-expanded", "true"); }
    function show(name) {
      Object.entries(views).forEach(([key, node]) => node.classList.toggle("hidden", key !== name));
      expand();
      sheet.scrollTop = 0;
    }

    /* errors: page checks use the server's own messages; server errors land on the same fields */
    const FIELD_OF = { service_code: "category", category: "category", lat: "location", long: "location",
      lon: "location", non_field_errors: "general", "Idempotency-Key": "general", attributes: "general" };
    function errorSlot(key) {
      return form.querySelector(`[data-error-for="${CSS.escape(key)}"]`) ||
        views.nearby.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
    }
    function clearError(key) {
      const slot = errorSlot(key);
      if (slot) slot.textContent = "";
      const field = form.querySelector(`[data-field="${CSS.escape(key)}"]`);
      if (field) {
        field.classList.remove("has-error");
        field.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
      }
    }
    function clearErrors() {
      form.querySelectorAll("[data-error-for]").forEach((n) => { n.textContent = ""; });
      form.querySelectorAll(".has-error").forEach((n) => n.classList.remove("has-error"));
      form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
    }
    function showErrors(errors, focus) {
      let first = null;
      Object.entries(errors).forEach(([rawKey, list]) => {
        const messages = (Array.isArray(list) ? list : [list]).map(String);
        let key = FIELD_OF[rawKey] || rawKey;
        if (!errorSlot(key)) key = "general";
        const slot = errorSlot(key);
        slot.textContent = (slot.textContent ? slot.textContent + " " : "") + messages.join(" ");
        const field = form.querySelector(`[data-field="${CSS.escape(key)}"]`);
        if (field) {
          field.classList.add("has-error");
          field.querySelectorAll("input, textarea, select").forEach((n) => n.setAttribute("aria-invalid", "true"));
        }
        if (!first) first = field || slot;
      });
      if (first && focus !== false) {
        expand();
        if (first.closest("details")) first.closest("details").open = true;
        first.scrollIntoView({ block: "center" });
        const input = first.querySelector && first.querySelector("input, textarea, button");
        if (input) input.focus({ preventScroll: true });
      }
    }

    /* categories */
    async function loadCategories() {
      let res = null;
      try { res = await R.api("/api/v1/categories/"); } catch (e) { res = null; }
      categoryGrid.replaceChildren();
      if (!res || !res.ok || !Array.isArray(res.data)) {
        categoryGrid.append(el("p", { class: "error", text: gettext("The list of problems could not be loaded. Check your connection.") }),
          el("button", { type: "button", class: "btn secondary", text: gettext("Try again"), onclick: loadCategories }));
        return;
      }
      // Storm mode (config.storm): the hazard's categories first; paused ones shown, not offered.
      const storm = config.storm || { categories: [], paused: [] };
      const first = (cat) => { const i = storm.categories.indexOf(cat.code); return i < 0 ? storm.categories.length : i; };
      state.categories = res.data.map((cat, i) => [first(cat), i, cat]).sort((a, b) => a[0] - b[0] || a[1] - b[1])
        .map((entry) => entry[2]).filter((cat) => !storm.paused.includes(cat.code));
      state.categories.forEach((cat) => {
        categoryGrid.append(el("button", { type: "button", class: storm.categories.includes(cat.code) ? "category storm-first" : "category",
          role: "radio", "aria-checked": "false",
          "data-code": cat.code, onclick: () => pickCategory(cat.code) }, [iconImg(cat.icon), el("span", { text: cat.name })]));
      });
      res.data.filter((cat) => storm.paused.includes(cat.code)).forEach((cat) => {
        categoryGrid.append(el("button", { type: "button", class: "category paused", disabled: "disabled", "aria-disabled": "true",
          "data-code": cat.code, title: storm.paused_message || "" },
          [iconImg(cat.icon), el("span", { text: cat.name }), el("small", { class: "paused-note", text: gettext("Paused during the storm") })]));
      });
      if (state.category) pickCategory(state.category.code);
    }
    function pickCategory(code, answers) {
      const cat = state.categories.find((c) => c.code === code);
      if (!cat) return;
      state.category = cat;
      categoryGrid.querySelectorAll(".category").forEach((button) => {
        const on = button.dataset.code === code;
        button.setAttribute("aria-checked", String(on));
        button.classList.toggle("selected", on);
      });
      renderQuestions(cat, answers || {});
      details.classList.remove("hidden");
      clearError("category");
      // Once chosen, the grid folds to the choice so the questions come into view.
      categoryGrid.classList.add("has-choice");
      changeCategory.classList.remove("hidden");
    }
    const changeCategory = document.getElementById("category-change");
    changeCategory.addEventListener("click", () => {
      categoryGrid.classList.remove("has-choice");
      changeCategory.classList.add("hidden");
      const chosen = categoryGrid.querySelector(".category.selected") || categoryGrid.querySelector(".category");
      if (chosen) chosen.focus();
    });

    /* the category's extra questions, by datatype */
    function renderQuestions(cat, answers) {
      questionsBox.replaceChildren();
      (cat.attributes || []).slice().sort((a, b) => (a.order || 0) - (b.order || 0)).forEach((q) => {
        questionsBox.append(questionField(q, answers[q.code]));
      });
    }
    function requiredMark(q) {
      return q.required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : null;
    }
    function questionField(q, answer) {
      const key = `attribute[${q.code}]`;
      const id = `q-${q.code}`;
      const label = q.description || q.code;
      const error = el("p", { class: "error", "data-error-for": key, role: "alert" });
      if (q.datatype === "singlevaluelist" || q.datatype === "multivaluelist") {
        const multi = q.datatype === "multivaluelist";
        const chosen = [].concat(answer === undefined ? [] : answer).map(String);
        const options = (q.values || []).map((v) => el("label", { class: "choice" }, [
          el("input", { type: multi ? "checkbox" : "radio", name: id, value: v.key, checked: chosen.includes(String(v.key)) }),
          el("span", { text: v.name }),
        ]));
        return el("fieldset", { class: "field question", "data-field": key, "data-code": q.code,
          "data-datatype": q.datatype, "aria-required": q.required ? "true" : null },
        [el("legend", {}, [label, requiredMark(q)]), el("div", { class: "choices" }, options), error]);
      }
      let control;
      if (q.datatype === "text") {
        control = el("textarea", { id, rows: 3, maxlength: 1000 });
      } else if (q.datatype === "number") {
        control = el("input", { id, type: "number", inputmode: "decimal", step: "any",
          min: q.min_value === null || q.min_value === undefined ? null : q.min_value,
          max: q.max_value === null || q.max_value === undefined ? null : q.max_value });
      } else if (q.datatype === "datetime") {
        control = el("input", { id, type: "datetime-local" });
      } else {
        control = el("input", { id, type: "text", maxlength: 1000 });
      }
      if (q.required) { control.required = true; control.setAttribute("aria-required", "true"); }
      if (answer !== undefined && answer !== null) {
        if (q.datatype === "datetime") {
          const d = new Date(answer);
          if (!isNaN(d)) control.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
        } else control.value = answer;
      }
      return el("div", { class: "field question", "data-field": key, "data-code": q.code, "data-datatype": q.datatype },
        [el("label", { for: id }, [label, requiredMark(q)]), control, error]);
    }
    function readAnswers() {
      const answers = {};
      questionsBox.querySelectorAll(".question").forEach((field) => {
        const code = field.dataset.code;
        const kind = field.dataset.datatype;
        let value;
        if (kind === "singlevaluelist") {
          const on = field.querySelector("input:checked");
          value = on ? on.value : "";
        } else if (kind === "multivaluelist") {
          value = Array.from(field.querySelectorAll("input:checked")).map((n) => n.value);
        } else {
          value = field.querySelector("input, textarea").value.trim();
        }
        answers[code] = value;
      });
      return answers;
    }
    function cleanAnswers(raw) {
      const out = {};
      (state.category.attributes || []).forEach((q) => {
        const v = raw[q.code];
        if (v === "" || v === undefined || (Array.isArray(v) && !v.length)) return;
        if (q.datatype === "number") out[q.code] = Number(v);
        else if (q.datatype === "datetime") out[q.code] = new Date(v).toISOString();
        else out[q.code] = v;
      });
      return out;
    }

    /* photos: checked here, before anything is uploaded */
    const photoCount = document.getElementById("photo-count");
    function renderPhotos() {
      photoList.replaceChildren();
      state.photos.forEach((p, index) => {
        photoList.append(el("figure", { class: "photo-thumb" }, [
          el("img", { src: p.url, alt: p.name }),
          el("button", { type: "button", class: "photo-remove", "aria-label": fmt(gettext("Remove the photo “%(name)s”"), { name: p.name }),
            text: "×", onclick: () => { URL.revokeObjectURL(p.url); state.photos.splice(index, 1); renderPhotos(); } }),
        ]));
      });
      photoCount.textContent = state.photos.length ? fmt(gettext("%(n)s of %(max)s"), {
        n: R.fmtNumber(state.photos.length), max: R.fmtNumber(MAX_PHOTOS) }) : "";
      document.querySelector(".photo-add").classList.toggle("hidden", state.photos.length >= MAX_PHOTOS);
    }
    function addPhotos(files) {
      const problems = [];
      Array.from(files).forEach((file) => {
        if (state.photos.length >= MAX_PHOTOS) {
          const msg = fmt(gettext("A report can have at most %(n)s photos."), { n: MAX_PHOTOS });
          if (!problems.includes(msg)) problems.push(msg);
        } else if (file.size > MAX_PHOTO_BYTES) {
          // Rounded like the server: the size up, the limit down.
          problems.push(fmt(gettext("The photo “%(name)s” is %(size)s MB; the limit is %(limit)s MB."),
            { name: file.name, size: mb(file.size, Math.ceil), limit: mb(MAX_PHOTO_BYTES, Math.floor) }));
        } else if (file.size === 0) {
          problems.push(fmt(gettext("The photo “%(name)s” is empty."), { name: file.name }));
        } else if (file.type && !file.type.startsWith("image/")) {
          problems.push(fmt(gettext("The file “%(name)s” is not a photo we can read (JPEG, PNG, WebP or GIF)."), { name: file.name }));
        } else {
          state.photos.push({ blob: file, name: file.name || "photo.jpg", type: file.type, url: URL.createObjectURL(file) });
        }
      });
      clearError("photos");
      if (problems.length) showErrors({ photos: problems }, false);
      renderPhotos();
    }
    photoInput.addEventListener("change", () => { addPhotos(photoInput.files); photoInput.value = ""; });
    // A field's error goes away as soon as the citizen changes that field.
    const clearOwnError = (event) => {
      const field = event.target.closest && event.target.closest("[data-field]");
      if (field && field.dataset.field !== "photos") clearError(field.dataset.field);
    };
    form.addEventListener("input", clearOwnError);
    form.addEventListener("change", clearOwnError);

    const counter = document.getElementById("description-count");
    description.addEventListener("input", () => {
      const n = chars(description.value);
      counter.textContent = n > MAX_DESCRIPTION * 0.8 ? fmt(gettext("%(n)s of %(limit)s characters"),
        { n: R.fmtNumber(n), limit: R.fmtNumber(MAX_DESCRIPTION) }) : "";
    });

    /* validation with the server's messages (msgids shared with incidents/services/intake.py) */
    function validate() {
      const errors = {};
      const add = (key, msg) => { (errors[key] = errors[key] || []).push(msg); };
      if (!state.location) add("location", gettext("Put the pin on the map where the problem is."));
      if (!state.category) {
        add("category", gettext("Choose what kind of problem it is."));
      } else {
        const answers = readAnswers();
        (state.category.attributes || []).forEach((q) => {
          const key = `attribute[${q.code}]`;
          const v = answers[q.code];
          const question = q.description || q.code;
          if (v === "" || v === undefined || (Array.isArray(v) && !v.length)) {
            if (q.required) add(key, fmt(gettext("“%(question)s” must be answered."), { question }));
            return;
          }
          if (q.datatype === "number") {
            const n = Number(v);
            if (!isFinite(n)) add(key, fmt(gettext("“%(question)s” must be a number."), { question }));
            else if ((q.min_value !== null && q.min_value !== undefined && n < q.min_value) ||
                     (q.max_value !== null && q.max_value !== undefined && n > q.max_value)) {
              add(key, fmt(gettext("“%(question)s” must be between %(low)s and %(high)s."), { question,
                low: q.min_value === null || q.min_value === undefined ? "-∞" : String(q.min_value),
                high: q.max_value === null || q.max_value === undefined ? "∞" : String(q.max_value) }));
            }
          } else if (q.datatype === "datetime" && isNaN(new Date(v))) {
            add(key, fmt(gettext("“%(question)s” must be a date and time like 2026-01-31T14:00:00+02:00."), { question }));
          } else if ((q.datatype === "string" || q.datatype === "text") && chars(v) > 1000) {
            add(key, gettext("The answer is too long (1000 characters at most)."));
          }
        });
      }
      const text = description.value.trim();
      if (chars(text) > MAX_DESCRIPTION) {
        add("description", fmt(gettext("The description is %(n)s characters long; the limit is %(limit)s."),
          { n: chars(text), limit: MAX_DESCRIPTION }));
      }
      const email = document.getElementById("email").value.trim();
      if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
        add("email", fmt(gettext("“%(value)s” is not a valid email address."), { value: email }));
      }
      const phone = document.getElementById("phone").value.trim();
      if (phone && !/^\+[1-9][0-9]{6,14}$/.test(phone.replace(/[\s().-]/g, ""))) {
        add("phone", fmt(gettext("“%(value)s” is not a valid phone number; write it with the country code, like +358401234567."), { value: phone }));
      }
      if (chars(document.getElementById("name").value.trim()) > 200) add("name", gettext("The name is too long (200 characters at most)."));
      if (state.photos.length > MAX_PHOTOS) add("photos", fmt(gettext("A report can have at most %(n)s photos."), { n: MAX_PHOTOS }));
      return errors;
    }

    function buildItem() {
      return {
        key: R.uuid(), created_at: new Date().toISOString(), state: "sending", attempts: 0,
        category_name: state.category.name, icon: state.category.icon,
        fields: {
          category: state.category.code,
          lon: state.location.lng.toFixed(6), lat: state.location.lat.toFixed(6),
          description: description.value.trim(),
          attributes: cleanAnswers(readAnswers()),
          name: document.getElementById("name").value.trim(),
          email: document.getElementById("email").value.trim(),
          phone: document.getElementById("phone").value.trim(),
          language: R.lang,
        },
        photos: state.photos.map((p) => ({ name: p.name, type: p.type, blob: p.blob })),
      };
    }

    function setBusy(busy, label) {
      state.busy = busy;
      sendButton.disabled = busy;
      sendButton.textContent = busy ? label : gettext("Send report");
      sheet.setAttribute("aria-busy", String(busy));
    }

    function resetForm() {
      form.reset();
      clearErrors();
      state.category = null;
      state.pending = null;
      state.photos.forEach((p) => URL.revokeObjectURL(p.url));
      state.photos = [];
      renderPhotos();
      questionsBox.replaceChildren();
      details.classList.add("hidden");
      categoryGrid.classList.remove("has-choice");
      changeCategory.classList.add("hidden");
      categoryGrid.querySelectorAll(".category").forEach((b2) => { b2.setAttribute("aria-checked", "false"); b2.classList.remove("selected"); });
      counter.textContent = "";
      if (marker) { marker.remove(); marker = null; }
      if (nearbyLayer) { nearbyLayer.remove(); nearbyLayer = null; }
      state.location = null;
      locationStatus.textContent = gettext("Tap the map where the problem is, or use “Locate me”.");
      locationStatus.classList.remove("ok");
    }

    let queuedKey = null;  // the report the "saved on this phone" view is about
    function showDone(code, key) {
      queuedKey = code ? null : key;
      if (nearbyLayer) { nearbyLayer.remove(); nearbyLayer = null; }
      document.getElementById("done-sent").classList.toggle("hidden", !code);
      document.getElementById("done-queued").classList.toggle("hidden", !!code);
      document.getElementById("copied").classList.add("hidden");
      if (code) {
        document.getElementById("done-code").textContent = code;
        document.getElementById("done-link").href = `/track/${encodeURIComponent(code)}/`;
      }
      resetForm();
      show("done");
    }

    function showRefused(result) {
      show("form");
      const data = result.data || {};
      showErrors(data.errors && Object.keys(data.errors).length ? data.errors
        : { general: [data.detail || gettext("The server refused the report.")] });
    }

    async function sendNew(item) {
      setBusy(true, gettext("Sending…"));
      try {
        const result = await Outbox.submit(item);
        if (result.outcome === "sent") showDone(result.code);
        else if (result.outcome === "queued") showDone(null, item.key);
        else if (result.outcome === "unreachable") {
          show("form");
          showErrors({ general: [gettext("The server could not be reached. Check your connection and try again.")] });
        } else showRefused(result);
      } finally {
        setBusy(false);
      }
    }

    /* "Is this it?": open incidents of the category near the pin */
    async function nearbyIncidents(item) {
      const query = new URLSearchParams({ category: item.fields.category, lon: item.fields.lon, lat: item.fields.lat });
      try {
        const res = await R.api(`/api/v1/incidents/nearby/?${query}`);
        if (res.ok && res.data && Array.isArray(res.data.features)) return res.data.features;
      } catch (e) { /* no answer: send the report; the server clusters it anyway */ }
      return [];
    }
    function metres(a, b) {
      const rad = Math.PI / 180;
      const dLat = (b.lat - a.lat) * rad;
      const dLng = (b.lng - a.lng) * rad;
      const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
      return 6371008.8 * 2 * Math.asin(Math.sqrt(h));
    }
    function showNearby(features, item) {
      const list = document.getElementById("nearby-list");
      list.replaceChildren();
      views.nearby.querySelector('[data-error-for="nearby"]').textContent = "";
      if (nearbyLayer) nearbyLayer.remove();
      nearbyLayer = L.layerGroup().addTo(map);
      const pin = state.location;
      features.forEach((feature) => {
        const p = feature.properties || {};
        const id = feature.id !== undefined ? feature.id : p.id;
        const [lng, lat] = feature.geometry.coordinates;
        const where = L.latLng(lat, lng);
        L.circleMarker(where, { radius: 10, color: "#0b5cad", weight: 3, fillOpacity: 0.3 }).addTo(nearbyLayer);
        const cat = state.categories.find((c) => c.code === p.category) || {};
        const distance = Math.round(metres(pin, where));
        const card = el("article", { class: "nearby-card", "data-incident": id }, [
          el("div", { class: "nearby-head" }, [iconImg(cat.icon), el("h3", { text: p.category_name || cat.name || p.category }), statusBadge(p.status)]),
          el("p", { class: "muted small", text: [
            fmt(ngettext("%(n)s report", "%(n)s reports", p.report_count || 1), { n: R.fmtNumber(p.report_count || 1) }),
            fmt(gettext("%(m)s m from your pin"), { m: R.fmtNumber(distance) }),
            fmt(gettext("first reported %(date)s"), { date: R.fmtDate(p.first_reported_at) }),
          ].join(" · ") }),
          el("button", { type: "button", class: "btn", text: gettext("Yes, this is it — follow it"),
            onclick: (e) => join(id, item, e.currentTarget) }),
        ]);
        list.append(card);
      });
      if (item.photos.length) {
        list.append(el("p", { class: "muted small", text: gettext("Following a report does not add your photos to it. To send your photos, choose “No, mine is different”.") }));
      }
      show("nearby");
    }
    async function join(incidentId, item, button) {
      const slot = views.nearby.querySelector('[data-error-for="nearby"]');
      slot.textContent = "";
      item.joinKey = item.joinKey || R.uuid();
      button.disabled = true;
      let res = null;
      try {
        res = await R.api(`/api/v1/incidents/${encodeURIComponent(incidentId)}/join/`, {
          json: { description: item.fields.description, name: item.fields.name, email: item.fields.email,
            phone: item.fields.phone, language: item.fields.language },
          idempotencyKey: item.joinKey });
      } catch (e) {
        res = null;
      }
      button.disabled = false;
      const code = res && res.ok && res.data && res.data.properties && res.data.properties.tracking_code;
      if (code) {
        mineRemember({ code, category: item.fields.category, category_name: item.category_name, icon: item.icon, created_at: item.created_at });
        showDone(code);
        return;
      }
      slot.textContent = res ? String((res.data && res.data.detail) || gettext("The server refused the report."))
        : gettext("The server could not be reached. Check your connection and try again.");
    }
    document.getElementById("nearby-different").addEventListener("click", () => {
      const item = state.pending;
      if (!item) { show("form"); return; }
      if (nearbyLayer) { nearbyLayer.remove(); nearbyLayer = null; }
      show("form");
      sendNew(item);
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (state.busy) return;
      clearErrors();
      const errors = validate();
      if (Object.keys(errors).length) { showErrors(errors); return; }
      const item = buildItem();
      state.pending = item;
      if (navigator.onLine) {
        setBusy(true, gettext("Looking for the same problem nearby…"));
        const features = await nearbyIncidents(item);
        setBusy(false);
        if (features.length) { showNearby(features, item); return; }
      }
      sendNew(item);
    });

    /* after sending */
    document.getElementById("copy-code").addEventListener("click", async () => {
      const code = document.getElementById("done-code").textContent;
      let copied = false;
      try { await navigator.clipboard.writeText(code); copied = true; } catch (e) {
        const range = document.createRange();
        range.selectNodeContents(document.getElementById("done-code"));
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        try { copied = document.execCommand("copy"); } catch (e2) { copied = false; }
      }
      document.getElementById("copied").classList.toggle("hidden", !copied);
    });
    document.getElementById("report-another").addEventListener("click", () => show("form"));

    /* a report the server refused goes back into the form */
    async function edit(item) {
      await Outbox.remove(item.key);
      resetForm();
      show("form");
      if (!state.categories.length) await loadCategories();
      pickCategory(item.fields.category, item.fields.attributes || {});
      const lat = Number(item.fields.lat);
      const lng = Number(item.fields.lon);
      if (isFinite(lat) && isFinite(lng)) setPin(L.latLng(lat, lng), { fly: true });
      description.value = item.fields.description || "";
      ["name", "email", "phone"].forEach((name) => { document.getElementById(name).value = item.fields[name] || ""; });
      state.photos = (item.photos || []).map((p) => ({ blob: p.blob, name: p.name, type: p.type, url: URL.createObjectURL(p.blob) }));
      renderPhotos();
      showErrors({ general: item.errors || [] });
    }

    // The "saved on this phone" view follows its report: sent, or refused by the server.
    Outbox.onChange(async () => {
      if (!queuedKey || views.done.classList.contains("hidden")) return;
      const key = queuedKey;
      const sentEntry = Outbox.sentNow.find((e) => e.key === key);
      if (sentEntry) { showDone(sentEntry.code); return; }
      const item = await Outbox.get(key);
      if (item && item.state === "attention" && queuedKey === key) { queuedKey = null; show("form"); }
    });

    renderPhotos();
    // A link from another page (the plow map's "report snow here") may name the category
    // and the place: ?category=<code>&lat=<lat>&lon=<lon>.
    const wanted = new URLSearchParams(window.location.search);
    loadCategories().then(() => { if (wanted.get("category")) pickCategory(wanted.get("category")); });
    const wantedLat = parseFloat(wanted.get("lat"));
    const wantedLon = parseFloat(wanted.get("lon"));
    if (isFinite(wantedLat) && isFinite(wantedLon)) setPin(L.latLng(wantedLat, wantedLon), { fly: true });
    outboxView(document.getElementById("outbox"), edit);
  }

  registerWorker();
  R.offlineBanner();
  if (document.getElementById("report-form")) reportPage();
  else {
    const box = document.getElementById("outbox");
    if (box) outboxView(box, null);
  }
  Outbox.flush();
})();
