/* Rasad call desk (/console/intake/): the hotline and service-centre screen, keyboard first.

   The caller by phone number (/api/v1/desk/caller/), the place by street name
   (/api/v1/geocode/) or a click on the map, the problem by category; while the caller is
   still on the line, open incidents of that kind nearby (/api/v1/incidents/nearby/) can take
   them as a "me too" (/api/v1/incidents/<id>/join/). Filing (/api/v1/reports/) carries one
   Idempotency-Key per form: a retry of the same call cannot file it twice. Every request
   is a fetch: no page loads. Citizen text only ever reaches the page as textContent. */
(function () {
  "use strict";
  const R = window.Rasad;
  const cfg = R.config || {};
  /* Messages are gettext("…"), ngettext(…) and interpolate(…) so that `makemessages -d
     djangojs` finds them; Rasad's wrap the catalogue from /jsi18n/. */
  const { gettext, interpolate, ngettext } = R;
  const map = R.mapByName(cfg.map);
  if (!map) return;
  const $ = (id) => document.getElementById(id);
  const num = (n) => R.fmtNumber(n);
  // Numbers and codes inside right-to-left sentences keep their own direction.
  const iso = (text) => `\u2068${text}\u2069`;

  const { el, statusBadge } = R;

  /* Arabic and Persian spell some letters differently; folded alike for filtering. */
  const FOLD = { "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ی", "ي": "ی", "ئ": "ی", "ك": "ک",
    "ة": "ه", "ۀ": "ه", "ؤ": "و", "\u0640": "" };
  function fold(text) {
    return String(text || "").normalize("NFKC").toLowerCase()
      .replace(/[\u064b-\u065f\u0670]/g, "")
      .replace(/[أإآٱىيئكةۀؤ\u0640]/g, (ch) => FOLD[ch])
      .replace(/\s+/g, " ").trim();
  }

  /* ------------------------------------------------------------------ elements, state */
  const form = $("desk-form");
  const phone = $("desk-phone");
  const nameInput = $("desk-name");
  const language = $("desk-language");
  const placeInput = $("desk-place");
  const address = $("desk-address");
  const categoryInput = $("desk-category");
  const questionsBox = $("desk-questions");
  const description = $("desk-description");
  const fileButton = $("desk-file");
  const dialog = $("desk-done");
  const busyLine = $("desk-busy");
  const categories = cfg.categories || [];
  const canAct = cfg.can_act !== false;  // managers look up; agents and dispatchers file

  const state = {
    caller: null,        // the last lookup's answer
    lookedUp: "",        // the number last looked up (or being looked up)
    namePrefill: "",     // the name the lookup wrote into the name field
    category: null,
    location: null,      // L.LatLng of the marker
    placeName: "",       // the address a place search wrote
    nearby: [],
    fileKey: null,       // one key per form: retries of the same call reuse it
    joinKeys: new Map(), // incident id → key
    filing: false,
    done: null,          // the tracking code shown after filing
  };
  const busy = new Map();
  function busyStart(name, label, host) {
    busy.set(name, label);
    if (host) host.classList.add("is-busy");
    busyShow();
  }
  function busyEnd(name, host) {
    busy.delete(name);
    if (host) host.classList.remove("is-busy");
    busyShow();
  }
  function busyShow() {
    const labels = Array.from(busy.values());
    busyLine.textContent = labels.length ? labels[labels.length - 1] : "";
    busyLine.classList.toggle("is-on", labels.length > 0);
    form.setAttribute("aria-busy", labels.length ? "true" : "false");
    document.body.dataset.busy = labels.length ? "true" : "false";
  }

  /* ------------------------------------------------------------------ errors */
  const FIELD_OF = { service_code: "category", category: "category", lat: "place", long: "place",
    lon: "place", location: "place", address_string: "address", address: "address",
    phone: "phone", name: "name", description: "description", channel: "channel",
    language: "language", attributes: "attributes", email: "general", photos: "general",
    non_field_errors: "general", "Idempotency-Key": "general" };
  const slot = (key) => document.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
  function clearError(key) {
    const box = slot(key);
    if (box) box.textContent = "";
    const field = form.querySelector(`[data-field="${CSS.escape(key)}"]`);
    if (field) {
      field.classList.remove("has-error");
      field.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
    }
  }
  function clearErrors() {
    document.querySelectorAll("[data-error-for]").forEach((n) => { n.textContent = ""; });
    form.querySelectorAll(".has-error").forEach((n) => n.classList.remove("has-error"));
    form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  }
  /* {field: [messages]} next to their fields; what has no field goes to `general`. */
  function showErrors(errors, options) {
    const opts = options || {};
    let first = null;
    Object.entries(errors).forEach(([raw, list]) => {
      const messages = (Array.isArray(list) ? list : [list]).map((m) => (typeof m === "object" ? JSON.stringify(m) : String(m)));
      let key = raw.startsWith("attribute[") ? raw : (FIELD_OF[raw] || raw);
      if (!slot(key)) key = raw.startsWith("attribute[") ? "attributes" : (opts.general || "general");
      const box = slot(key);
      box.textContent = (box.textContent ? box.textContent + " " : "") + messages.join(" ");
      const field = form.querySelector(`[data-field="${CSS.escape(key)}"]`);
      if (field) {
        field.classList.add("has-error");
        field.querySelectorAll("input:not([type=radio]), textarea, select").forEach((n) => n.setAttribute("aria-invalid", "true"));
      }
      if (!first) first = field || box;
    });
    if (first && opts.focus) {
      first.scrollIntoView({ block: "nearest" });
      const input = first.querySelector && first.querySelector("input:not([type=hidden]), textarea, select");
      if (input) input.focus({ preventScroll: true });
    }
  }
  function errorsOf(res) {
    if (!res) return { general: [gettext("The server could not be reached. Check the connection and try again.")] };
    const data = res.data || {};
    if (data.errors && typeof data.errors === "object" && Object.keys(data.errors).length) return data.errors;
    return { general: [String(data.detail || interpolate(gettext("The server answered with error %(status)s."), { status: res.status }))] };
  }
  async function call(path, options) {
    try { return await R.api(path, options); } catch (e) { return null; }
  }

  /* ------------------------------------------------------------------ a combobox */
  /* An input with a list of choices under it (ARIA 1.2 combobox): ↑/↓ move, Enter picks,
     Esc closes; a click picks too. `pickOnTab`: Tab takes the highlighted choice. */
  function combobox(input, list, options) {
    let items = [];
    let active = -1;
    const isOpen = () => !list.hidden;
    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }
    function setActive(index) {
      active = index;
      Array.from(list.children).forEach((li, i) => {
        const on = i === index && li.getAttribute("aria-disabled") !== "true";
        li.setAttribute("aria-selected", on ? "true" : "false");
        li.classList.toggle("is-active", on);
        if (on) {
          input.setAttribute("aria-activedescendant", li.id);
          li.scrollIntoView({ block: "nearest" });
        }
      });
      if (index < 0) input.removeAttribute("aria-activedescendant");
    }
    function show(newItems, opts) {
      items = newItems;
      list.replaceChildren();
      if (!items.length) {
        if (!(opts && opts.empty)) { close(); return; }
        list.append(el("li", { class: "desk-option empty", role: "option", "aria-disabled": "true", text: opts.empty }));
      }
      items.forEach((item, i) => {
        const li = el("li", { id: `${list.id}-${i}`, role: "option", class: "desk-option", "aria-selected": "false" },
          options.render(item));
        li.addEventListener("mousedown", (e) => e.preventDefault());  // keep the focus in the input
        li.addEventListener("click", () => pick(i));
        list.append(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      setActive(items.length ? Math.max(0, Math.min(items.length - 1, (opts && opts.active) || 0)) : -1);
    }
    function pick(index) {
      const item = items[index];
      if (!item) return;
      close();
      options.onPick(item);
    }
    input.addEventListener("keydown", (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!isOpen()) { if (options.onOpen) options.onOpen(); return; }
        if (!items.length) return;
        const step = e.key === "ArrowDown" ? 1 : -1;
        setActive((active + step + items.length) % items.length);
      } else if (e.key === "Enter") {
        e.preventDefault();
        if (isOpen() && active >= 0) pick(active);
        else if (options.onEnter) options.onEnter();
      } else if (e.key === "Escape" && isOpen()) {
        e.preventDefault();
        e.stopPropagation();
        close();
      } else if (e.key === "Tab" && options.pickOnTab && isOpen() && active >= 0 && input.value.trim()) {
        pick(active);
      }
    });
    input.addEventListener("blur", () => { close(); if (options.onBlur) options.onBlur(); });
    return { show, close, isOpen, get items() { return items; }, get active() { return active; } };
  }

  /* ------------------------------------------------------------------ channel */
  const CHANNEL_KEY = "rasad.desk.channel";
  const channelInputs = Array.from(form.querySelectorAll('input[name="channel"]'));
  const channel = () => (channelInputs.find((i) => i.checked) || channelInputs[0]).value;
  function channelSet(code, announce) {
    const target = channelInputs.find((i) => i.value === code);
    if (!target) return;
    target.checked = true;
    try { localStorage.setItem(CHANNEL_KEY, code); } catch (e) { /* private mode */ }
    if (announce) {
      const c = (cfg.channels || []).find((x) => x.code === code);
      busyLine.textContent = interpolate(gettext("Channel: %(channel)s"), { channel: c ? c.name : code });
    }
  }
  function channelToggle() {
    const index = channelInputs.findIndex((i) => i.checked);
    channelSet(channelInputs[(index + 1) % channelInputs.length].value, true);
  }
  channelInputs.forEach((i) => i.addEventListener("change", () => { channelSet(i.value); clearError("channel"); }));
  try { const saved = localStorage.getItem(CHANNEL_KEY); if (saved) channelSet(saved); } catch (e) { /* private mode */ }

  /* ------------------------------------------------------------------ caller */
  const callerBox = $("desk-caller");
  const historyList = $("desk-history-list");
  const historyNote = $("desk-history-note");
  const historyCount = $("desk-history-count");
  let lookupSeq = 0;

  async function lookup(force) {
    const raw = phone.value.trim();
    if (!raw) { callerClear(); return; }
    if (!force && (raw === state.lookedUp || (state.caller && raw === state.caller.phone))) return;
    state.lookedUp = raw;
    const seq = ++lookupSeq;
    clearError("phone");
    const host = $("desk-phone-row");
    busyStart("caller", gettext("Looking the caller up…"), host);
    const res = await call(`${cfg.urls.caller}?${new URLSearchParams({ phone: raw })}`);
    busyEnd("caller", host);
    if (seq !== lookupSeq) return;
    if (!res || !res.ok) {
      if (!res) state.lookedUp = "";  // no answer: leaving the field asks again
      callerSet(null);
      showErrors(errorsOf(res), { general: "phone" });
      return;
    }
    const caller = res.data;
    if (phone.value.trim() === raw) phone.value = caller.phone;
    state.lookedUp = caller.phone;
    if (caller.name && (!nameInput.value.trim() || nameInput.value === state.namePrefill)) {
      nameInput.value = caller.name;
      state.namePrefill = caller.name;
    }
    if (caller.language && Array.from(language.options).some((o) => o.value === caller.language)) {
      language.value = caller.language;
    }
    callerSet(caller);
  }

  function callerClear() {
    lookupSeq += 1;
    state.lookedUp = "";
    if (state.namePrefill && nameInput.value === state.namePrefill) nameInput.value = "";
    state.namePrefill = "";
    busyEnd("caller", $("desk-phone-row"));
    callerSet(null);
  }

  function smsContact(caller) {
    return caller ? (caller.contacts || []).find((c) => c.provider === "sms" && c.external_id === caller.phone) : null;
  }

  function callerSet(caller) {
    state.caller = caller;
    callerBox.classList.remove("stale");
    callerRender();
    historyRender();
    nearbyRender();
  }

  function callerRender() {
    const caller = state.caller;
    callerBox.replaceChildren();
    callerBox.classList.toggle("hidden", !caller);
    if (!caller) return;
    const reports = caller.reports || [];
    const open = caller.open_reports || [];
    callerBox.append(el("div", { class: "desk-caller-head" }, [
      el("strong", { class: "desk-number", dir: "ltr", text: caller.phone }),
      el("span", { class: reports.length ? "badge desk-known" : "badge", text: reports.length ? gettext("Caller known") : gettext("New caller") }),
    ]));
    if (reports.length) {
      callerBox.append(el("p", { class: "small desk-caller-sum", text: [
        ngettext("%(n)s earlier report", "%(n)s earlier reports", reports.length, { n: num(reports.length) }),
        ngettext("%(n)s still open", "%(n)s still open", open.length, { n: num(open.length) }),
      ].join(" · ") }));
    }
    const contacts = caller.contacts || [];
    if (contacts.length) {
      callerBox.append(el("ul", { class: "desk-contacts", "aria-label": gettext("Message accounts") }, contacts.map((c) => el("li", {
        class: "desk-contact" + (c.blocked ? " is-blocked" : "") + (c.opted_out ? " is-opted-out" : ""),
        "data-provider": c.provider }, [
        el("span", { text: c.provider_name }),
        el("bdi", { class: "muted", dir: "ltr", text: c.external_id }),
        c.blocked ? el("span", { class: "badge desk-flag bad", title: c.blocked_reason || "",
          text: c.blocked_reason ? interpolate(gettext("blocked: %(reason)s"), { reason: c.blocked_reason }) : gettext("blocked") }) : null,
        c.opted_out ? el("span", { class: "badge desk-flag warn", text: gettext("opted out of messages") }) : null,
      ]))));
    }
    const sms = smsContact(caller);
    if (sms && (sms.opted_out || sms.blocked)) {
      callerBox.append(el("p", { class: "desk-warn small", text: gettext("This number gets no SMS from us: the tracking code must be read out.") }));
    }
  }

  function historyRender() {
    const caller = state.caller;
    const reports = caller ? caller.reports || [] : [];
    historyList.replaceChildren();
    historyCount.classList.toggle("hidden", !reports.length);
    historyCount.textContent = num(reports.length);
    historyNote.classList.toggle("hidden", !!reports.length);
    historyNote.textContent = caller ? gettext("No earlier reports from this number.")
      : gettext("Look the caller’s number up to see what they reported before.");
    reports.forEach((r) => {
      const open = !!r.incident_open;
      historyList.append(el("li", { class: "desk-report" + (open ? " is-open" : ""), "data-code": r.tracking_code,
        "data-incident": r.incident_id }, [
        el("div", { class: "desk-report-main" }, [
          el("div", { class: "desk-line" }, [
            el("span", { class: "code", dir: "ltr", text: r.tracking_code }),
            statusBadge(r.status, r.status_name),
            open ? el("span", { class: "badge desk-open", text: gettext("open") }) : null,
          ]),
          el("div", { class: "desk-report-cat", text: r.category_name || r.category }),
          el("div", { class: "muted small", text: [R.fmtDate(r.created_at, { dateStyle: "medium" }), r.address].filter(Boolean).join(" · ") }),
        ]),
        open ? el("button", { type: "button", class: "btn secondary small", "data-join": r.incident_id, disabled: !canAct,
          "aria-label": interpolate(gettext("Attach the caller to %(code)s’s incident (me too)"), { code: r.tracking_code }),
          text: gettext("Me too"), onclick: (e) => join(r.incident_id, e.currentTarget) }) : null,
      ]));
    });
  }

  phone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.ctrlKey && !e.metaKey && !e.altKey) { e.preventDefault(); lookup(true); }
  });
  phone.addEventListener("blur", () => lookup(false));
  phone.addEventListener("input", () => {
    clearError("phone");
    if (!phone.value.trim()) callerClear();
    else if (state.caller) callerBox.classList.toggle("stale", phone.value.trim() !== state.caller.phone);
  });
  $("desk-lookup").addEventListener("click", () => { lookup(true); phone.focus(); });

  /* ------------------------------------------------------------------ place */
  const pinIcon = L.divIcon({ className: "desk-pin", iconSize: [36, 48], iconAnchor: [18, 46],
    html: '<svg viewBox="0 0 36 48" width="36" height="48" aria-hidden="true"><path d="M18 46C18 46 3 28 3 17a15 15 0 0 1 30 0c0 11-15 29-15 29z" fill="#c62828" stroke="#fff" stroke-width="2.5"/><circle cx="18" cy="17" r="6" fill="#fff"/></svg>' });
  const b = cfg.area_bounds;
  const bounds = b ? L.latLngBounds([b[1], b[0]], [b[3], b[2]]) : null;
  const placeStatus = $("desk-place-status");
  const placeHint = placeStatus.textContent;
  let marker = null;

  function setLocation(latlng, opts) {
    const o = opts || {};
    if (bounds && !bounds.contains(latlng)) {
      showErrors({ place: [gettext("That place is outside the service area.")] });
      return false;
    }
    clearError("place");
    state.location = L.latLng(latlng.lat, latlng.lng);
    if (!marker) {
      marker = L.marker(state.location, { icon: pinIcon, draggable: true, keyboard: true,
        title: gettext("The problem is here"), alt: gettext("The problem is here") }).addTo(map);
      let before = null;
      marker.on("dragstart", () => { before = state.location; });
      marker.on("dragend", () => {
        if (!setLocation(marker.getLatLng(), { source: "map" })) marker.setLatLng(before);
      });
    } else {
      marker.setLatLng(state.location);
    }
    if (o.fly) map.setView(state.location, Math.max(map.getZoom(), 17), { animate: false });
    placeStatus.textContent = o.name
      ? interpolate(gettext("Marker on %(place)s. Drag it or click the map to put it exactly."), { place: iso(o.name) })
      : interpolate(gettext("Marker at %(lat)s, %(lon)s."), { lat: iso(state.location.lat.toFixed(5)), lon: iso(state.location.lng.toFixed(5)) });
    placeStatus.classList.add("ok");
    nearbyRefresh();
    return true;
  }
  map.on("click", (e) => setLocation(e.latlng, { source: "map" }));

  const KIND = { street: gettext("street"), intersection: gettext("crossing"), district: gettext("district"),
    coordinates: gettext("coordinates") };
  let placeSeq = 0;
  let placeTimer = null;
  let placeWanted = false;  // Enter was pressed before the results came: take the first
  const placeHost = $("desk-place-combo");
  const placeBox = combobox(placeInput, $("desk-place-list"), {
    render: (p) => [
      el("bdi", { class: "desk-option-name", text: p.name }),
      el("span", { class: "desk-option-kind", text: KIND[p.kind] || p.kind }),
      p.district ? el("span", { class: "muted small", text: p.district }) : null,
    ],
    onPick: placePick,
    onOpen: () => placeSearch(),
    onEnter: () => { placeWanted = true; placeSearch(); },
  });
  function placePick(p) {
    placeWanted = false;
    const label = p.district && p.kind !== "district" ? interpolate(gettext("%(place)s, %(district)s"), { place: p.name, district: p.district }) : p.name;
    placeInput.value = p.name;
    if (!address.value.trim() || address.value === state.placeName) {
      address.value = label;
      state.placeName = label;
    }
    setLocation(L.latLng(p.lat, p.lon), { name: p.name, fly: true });
  }
  async function placeSearch() {
    clearTimeout(placeTimer);
    const q = placeInput.value.trim();
    if (q.length < 3) {
      placeSeq += 1;
      placeWanted = false;
      busyEnd("place", placeHost);
      placeBox.close();
      return;
    }
    const seq = ++placeSeq;
    busyStart("place", gettext("Looking for the place…"), placeHost);
    const res = await call(`${cfg.urls.geocode}?${new URLSearchParams({ q, limit: 6 })}`);
    if (seq !== placeSeq) return;
    busyEnd("place", placeHost);
    if (!res || !res.ok) { showErrors(errorsOf(res), { general: "place" }); return; }
    clearError("place");
    const results = res.data.results || [];
    if (placeWanted && results.length) { placeBox.close(); placePick(results[0]); return; }
    placeWanted = false;
    if (document.activeElement !== placeInput) return;
    placeBox.show(results, { empty: gettext("No place of that name in the service area.") });
  }
  placeInput.addEventListener("input", () => {
    placeBox.close();
    placeWanted = false;
    clearTimeout(placeTimer);
    placeTimer = setTimeout(placeSearch, 250);
  });

  /* ------------------------------------------------------------------ category and questions */
  function categoryMatches(query) {
    const q = fold(query);
    if (!q) return categories.slice();
    const starts = [];
    const contains = [];
    categories.forEach((c) => {
      const name = fold(c.name);
      if (name.startsWith(q) || c.code.startsWith(q)) starts.push(c);
      else if (name.includes(q) || c.code.includes(q) || fold(c.group).includes(q)) contains.push(c);
    });
    return starts.concat(contains);
  }
  const categoryBox = combobox(categoryInput, $("desk-category-list"), {
    render: (c) => [el("span", { class: "desk-option-name", text: c.name })],
    onPick: (c) => categoryPick(c),
    onOpen: () => categoryOpen(),
    pickOnTab: true,
    onBlur: () => {
      if (state.category || !categoryInput.value.trim()) return;
      const found = categoryMatches(categoryInput.value);
      if (found.length === 1) categoryPick(found[0]);
    },
  });
  function categoryOpen() {
    const chosen = state.category && categoryInput.value === state.category.name;
    const list = chosen ? categories : categoryMatches(categoryInput.value);
    categoryBox.show(list, { empty: gettext("No category matches."),
      active: chosen ? categories.indexOf(state.category) : 0 });
  }
  function categoryPick(c, answers) {
    const changed = !state.category || state.category.code !== c.code;
    state.category = c;
    categoryInput.value = c.name;
    clearError("category");
    if (changed || answers) questionsRender(c, answers || {});
    nearbyRefresh();
  }
  categoryInput.addEventListener("input", () => {
    if (state.category) { state.category = null; questionsRender(null); nearbyRefresh(); }
    categoryOpen();
  });
  categoryInput.addEventListener("focus", () => categoryOpen());
  categoryInput.addEventListener("click", () => { if (!categoryBox.isOpen()) categoryOpen(); });

  function questionsRender(c, answers) {
    questionsBox.replaceChildren();
    clearError("attributes");
    ((c && c.questions) || []).forEach((q) => questionsBox.append(questionField(q, (answers || {})[q.code])));
  }
  function questionField(q, answer) {
    const key = `attribute[${q.code}]`;
    const id = `desk-q-${q.code}`;
    const label = q.label || q.code;
    const req = q.required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : null;
    const error = el("p", { class: "error", "data-error-for": key, role: "alert" });
    const attrs = { class: "field desk-question", "data-field": key, "data-code": q.code, "data-datatype": q.datatype };
    if (q.datatype === "multivaluelist") {
      const chosen = [].concat(answer === undefined ? [] : answer).map(String);
      return el("fieldset", attrs, [el("legend", {}, [label, req]), el("div", { class: "choices" }, (q.values || []).map((v) =>
        el("label", { class: "choice" }, [
          el("input", { type: "checkbox", name: id, value: v.key, checked: chosen.includes(String(v.key)) }),
          el("span", { text: v.name })]))), error]);
    }
    let control;
    if (q.datatype === "singlevaluelist") {
      control = el("select", { id }, [el("option", { value: "", text: gettext("— choose —") })].concat(
        (q.values || []).map((v) => el("option", { value: v.key, text: v.name }))));
    } else if (q.datatype === "text") {
      control = el("textarea", { id, rows: 2, maxlength: 1000 });
    } else if (q.datatype === "number") {
      control = el("input", { id, type: "number", inputmode: "decimal", step: "any",
        min: q.min === null || q.min === undefined ? null : q.min, max: q.max === null || q.max === undefined ? null : q.max });
    } else if (q.datatype === "datetime") {
      control = el("input", { id, type: "datetime-local" });
    } else {
      control = el("input", { id, type: "text", maxlength: 1000 });
    }
    if (q.required) control.setAttribute("aria-required", "true");
    if (answer !== undefined && answer !== null) control.value = answer;
    return el("div", attrs, [el("label", { for: id }, [label, req]), control, error]);
  }
  function answersRead() {
    const answers = {};
    questionsBox.querySelectorAll(".desk-question").forEach((field) => {
      const kind = field.dataset.datatype;
      answers[field.dataset.code] = kind === "multivaluelist"
        ? Array.from(field.querySelectorAll("input:checked")).map((n) => n.value)
        : field.querySelector("input, textarea, select").value.trim();
    });
    return answers;
  }
  const blank = (v) => v === "" || v === undefined || v === null || (Array.isArray(v) && !v.length);
  function answersClean(raw) {
    const out = {};
    ((state.category && state.category.questions) || []).forEach((q) => {
      const v = raw[q.code];
      if (blank(v)) return;
      if (q.datatype === "number") out[q.code] = Number(v);
      else if (q.datatype === "datetime") out[q.code] = new Date(v).toISOString();
      else out[q.code] = v;
    });
    return out;
  }

  /* ------------------------------------------------------------------ nearby incidents */
  const nearbyList = $("desk-nearby-list");
  const nearbyNote = $("desk-nearby-note");
  const nearbyCount = $("desk-nearby-count");
  const nearbyNoteDefault = nearbyNote.textContent;
  const nearbyLayer = L.layerGroup().addTo(map);
  const nearbyMarkers = new Map();
  let nearbySeq = 0;
  let nearbyTimer = null;
  let nearbyFor = "";

  function metres(a, c) {
    const rad = Math.PI / 180;
    const dLat = (c.lat - a.lat) * rad;
    const dLng = (c.lng - a.lng) * rad;
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(c.lat * rad) * Math.sin(dLng / 2) ** 2;
    return 6371008.8 * 2 * Math.asin(Math.sqrt(h));
  }
  function nearbyRefresh() {
    clearTimeout(nearbyTimer);
    nearbyTimer = setTimeout(nearbyLoad, 120);
  }
  async function nearbyLoad() {
    const ready = state.category && state.location;
    const wanted = ready ? `${state.category.code}@${state.location.lng.toFixed(6)},${state.location.lat.toFixed(6)}` : "";
    if (wanted === nearbyFor) return;
    const seq = ++nearbySeq;
    if (!ready) {
      nearbyFor = "";
      state.nearby = [];
      busyEnd("nearby");
      nearbyRender();
      return;
    }
    busyStart("nearby", gettext("Looking for open incidents nearby…"));
    const q = new URLSearchParams({ category: state.category.code, lon: state.location.lng.toFixed(6),
      lat: state.location.lat.toFixed(6) });
    const res = await call(`${cfg.urls.nearby}?${q}`);
    if (seq !== nearbySeq) return;
    busyEnd("nearby");
    clearError("join");
    if (!res || !res.ok) {
      nearbyFor = "";
      state.nearby = [];
      nearbyRender();
      showErrors(errorsOf(res), { general: "join" });
      return;
    }
    nearbyFor = wanted;
    const here = state.location;
    state.nearby = (res.data.features || []).map((f) => {
      const [lng, lat] = f.geometry.coordinates;
      const where = L.latLng(lat, lng);
      return { id: f.id !== undefined ? f.id : f.properties.id, p: f.properties, where, distance: metres(here, where) };
    }).sort((x, y) => x.distance - y.distance);
    nearbyRender();
  }
  function nearbyRender() {
    nearbyList.replaceChildren();
    nearbyLayer.clearLayers();
    nearbyMarkers.clear();
    const items = state.nearby;
    const ready = state.category && state.location && nearbyFor;
    nearbyCount.classList.toggle("hidden", !ready);
    nearbyCount.textContent = num(items.length);
    nearbyNote.classList.toggle("hidden", !!items.length);
    nearbyNote.textContent = ready
      ? interpolate(gettext("No open “%(category)s” incidents near the marker: file a new report."), { category: state.category.name })
      : nearbyNoteDefault;
    const mine = new Map(((state.caller && state.caller.open_reports) || []).map((r) => [r.incident_id, r]));
    items.forEach((item) => {
      const p = item.p;
      const own = mine.get(item.id);
      const dot = L.circleMarker(item.where, { radius: 9, color: own ? "#e65100" : "#0b5cad", weight: 3, fillOpacity: 0.35 })
        .addTo(nearbyLayer);
      dot.bindTooltip(`#${item.id} · ${R.esc(p.category_name || "")}`, { direction: "top" });
      nearbyMarkers.set(item.id, dot);
      const li = el("li", { class: "desk-incident" + (own ? " is-callers" : ""), "data-incident": item.id }, [
        el("div", { class: "desk-line" }, [
          el("strong", { text: p.category_name || p.category }),
          statusBadge(p.status),
          el("span", { class: "muted small", dir: "ltr", text: `#${item.id}` }),
        ]),
        el("p", { class: "muted small", text: [
          ngettext("%(n)s report", "%(n)s reports", p.report_count || 1, { n: num(p.report_count || 1) }),
          interpolate(gettext("%(m)s m away"), { m: num(Math.round(item.distance)) }),
          p.first_reported_at ? interpolate(gettext("first reported %(date)s"), { date: R.fmtDate(p.first_reported_at) }) : "",
        ].filter(Boolean).join(" · ") }),
        own ? el("p", { class: "desk-own small", text: interpolate(gettext("This caller reported it: %(code)s"), { code: iso(own.tracking_code) }) }) : null,
        el("button", { type: "button", class: "btn secondary small", "data-join": item.id, disabled: !canAct,
          text: gettext("Attach caller (me too)"), onclick: (e) => join(item.id, e.currentTarget) }),
      ]);
      const hot = (on) => {
        dot.setStyle({ weight: on ? 5 : 3, fillOpacity: on ? 0.7 : 0.35 });
        li.classList.toggle("is-hot", on);
      };
      li.addEventListener("mouseenter", () => hot(true));
      li.addEventListener("mouseleave", () => hot(false));
      li.addEventListener("focusin", () => hot(true));
      li.addEventListener("focusout", () => hot(false));
      dot.on("click", () => { const button = li.querySelector("button"); button.focus(); li.scrollIntoView({ block: "nearest" }); });
      nearbyList.append(li);
    });
  }

  /* ------------------------------------------------------------------ me too */
  async function join(incidentId, button) {
    if (state.filing || state.done || !canAct) return;
    clearErrors();
    const key = state.joinKeys.get(incidentId) || R.uuid();
    state.joinKeys.set(incidentId, key);
    state.filing = true;
    button.disabled = true;
    button.classList.add("busy");
    busyStart("join", gettext("Attaching the caller…"));
    const res = await call(cfg.urls.join.replace("{id}", encodeURIComponent(incidentId)), {
      method: "POST", idempotencyKey: key,
      json: { channel: channel(), phone: phone.value.trim(), name: nameInput.value.trim(),
        language: language.value, description: description.value.trim() } });
    busyEnd("join");
    state.filing = false;
    button.disabled = false;
    button.classList.remove("busy");
    const code = res && res.ok && res.data && res.data.properties && res.data.properties.tracking_code;
    if (code) { done(code, { incident: incidentId }); return; }
    showErrors(errorsOf(res), { general: "join", focus: true });
  }

  /* ------------------------------------------------------------------ file */
  function validate() {
    const errors = {};
    const add = (key, msg) => { (errors[key] = errors[key] || []).push(msg); };
    if (!state.category) add("category", gettext("Choose what kind of problem it is."));
    if (!state.location) add("place", gettext("Find the place, or click the map where the problem is."));
    if (state.category) {
      const answers = answersRead();
      (state.category.questions || []).forEach((q) => {
        const v = answers[q.code];
        const question = q.label || q.code;
        const key = `attribute[${q.code}]`;
        if (blank(v)) {
          if (q.required) add(key, interpolate(gettext("“%(question)s” must be answered."), { question }));
        } else if (q.datatype === "number" && !isFinite(Number(v))) {
          add(key, interpolate(gettext("“%(question)s” must be a number."), { question }));
        }
      });
    }
    return errors;
  }

  async function file() {
    if (state.filing || state.done || !canAct) return;
    clearErrors();
    const errors = validate();
    if (Object.keys(errors).length) { showErrors(errors, { focus: true }); return; }
    state.fileKey = state.fileKey || R.uuid();
    state.filing = true;
    fileButton.disabled = true;
    fileButton.classList.add("busy");
    fileButton.querySelector(".label").textContent = gettext("Filing…");
    busyStart("file", gettext("Filing the report…"));
    const body = {
      channel: channel(), phone: phone.value.trim(), name: nameInput.value.trim(), language: language.value,
      category: state.category.code, lon: state.location.lng.toFixed(6), lat: state.location.lat.toFixed(6),
      address: address.value.trim(), description: description.value.trim(), attributes: answersClean(answersRead()),
    };
    const res = await call(cfg.urls.reports, { method: "POST", json: body, idempotencyKey: state.fileKey });
    busyEnd("file");
    state.filing = false;
    fileButton.disabled = !canAct;
    fileButton.classList.remove("busy");
    fileButton.querySelector(".label").textContent = gettext("File the report");
    const code = res && res.ok && res.data && res.data.properties && res.data.properties.tracking_code;
    if (code) { done(code, {}); return; }
    showErrors(errorsOf(res), { focus: true });
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); file(); });
  // Enter in a one-line field never files by accident: filing is Ctrl+Enter or the button.
  form.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    if (t.tagName === "INPUT" && !["checkbox", "radio", "submit", "button"].includes(t.type)) e.preventDefault();
  });

  /* ------------------------------------------------------------------ done, new call */
  const SPELL = {
    0: gettext("zero"), 1: gettext("one"), 2: gettext("two"), 3: gettext("three"), 4: gettext("four"),
    5: gettext("five"), 6: gettext("six"), 7: gettext("seven"), 8: gettext("eight"), 9: gettext("nine"),
    A: gettext("Alfa"), B: gettext("Bravo"), C: gettext("Charlie"), D: gettext("Delta"), E: gettext("Echo"),
    F: gettext("Foxtrot"), G: gettext("Golf"), H: gettext("Hotel"), I: gettext("India"), J: gettext("Juliett"),
    K: gettext("Kilo"), L: gettext("Lima"), M: gettext("Mike"), N: gettext("November"), O: gettext("Oscar"),
    P: gettext("Papa"), Q: gettext("Quebec"), R: gettext("Romeo"), S: gettext("Sierra"), T: gettext("Tango"),
    U: gettext("Uniform"), V: gettext("Victor"), W: gettext("Whiskey"), X: gettext("X-ray"), Y: gettext("Yankee"),
    Z: gettext("Zulu") };

  function done(code, opts) {
    state.done = code;
    state.fileKey = null;
    state.joinKeys.clear();
    $("desk-done-title").textContent = opts.incident ? gettext("Caller attached (me too)") : gettext("Report filed");
    $("desk-done-what").textContent = opts.incident
      ? interpolate(gettext("Their report follows incident #%(id)s: they hear when it changes."), { id: iso(opts.incident) })
      : [state.category && state.category.name, address.value.trim()].filter(Boolean).join(" · ");
    $("desk-done-code").textContent = code;
    const spell = $("desk-done-spell");
    spell.replaceChildren(...Array.from(code).map((ch) => (ch === "-"
      ? el("li", { class: "dash", "aria-hidden": "true" }, [el("span", { class: "ch", text: ch })])
      : el("li", {}, [el("span", { class: "ch", text: ch }), el("span", { class: "word", lang: R.lang, text: SPELL[ch] || ch })]))));
    const number = phone.value.trim();
    const sms = smsContact(state.caller);
    const note = $("desk-done-sms");
    if (!number) note.textContent = gettext("No phone number was given: no SMS goes out. Make sure the caller wrote the code down.");
    else if (sms && (sms.opted_out || sms.blocked)) note.textContent = gettext("This number gets no SMS from us: make sure the caller wrote the code down.");
    else note.textContent = interpolate(gettext("The caller also gets this code by SMS at %(phone)s, and an SMS whenever its status changes."),
      { phone: iso(state.caller && state.caller.phone ? state.caller.phone : number) });
    document.body.dataset.filed = code;
    dialog.showModal();
    $("desk-new").focus();
  }

  function dirty() {
    return !!(phone.value.trim() || nameInput.value.trim() || placeInput.value.trim() || address.value.trim() ||
      categoryInput.value.trim() || description.value.trim() || state.location);
  }

  function newCall() {
    state.done = null;
    if (dialog.open) dialog.close();
    const keep = channel();
    form.reset();
    channelSet(keep);
    clearErrors();
    callerClear();
    state.category = null;
    state.location = null;
    state.placeName = "";
    state.fileKey = null;
    state.joinKeys.clear();
    state.nearby = [];
    nearbyFor = "";
    nearbySeq += 1;
    placeSeq += 1;
    clearTimeout(placeTimer);
    clearTimeout(nearbyTimer);
    busy.clear();
    busyShow();
    document.querySelectorAll(".is-busy").forEach((n) => n.classList.remove("is-busy"));
    questionsRender(null);
    placeBox.close();
    categoryBox.close();
    if (marker) { marker.remove(); marker = null; }
    placeStatus.textContent = placeHint;
    placeStatus.classList.remove("ok");
    nearbyRender();
    delete document.body.dataset.filed;
    phone.focus();
  }
  $("desk-new").addEventListener("click", newCall);
  // Esc closes the dialog (the browser's "cancel"): that is the next call.
  dialog.addEventListener("close", () => { if (state.done) newCall(); });

  /* ------------------------------------------------------------------ keyboard */
  const focusField = (node) => () => { node.focus(); if (node.select && node.tagName === "INPUT") node.select(); };
  // Alt+letter by the key's position (e.code), so an Arabic or Persian layout works too.
  const SHORTCUTS = {
    KeyP: focusField(phone),
    KeyL: focusField(placeInput),
    KeyC: focusField(categoryInput),
    KeyM: focusField(description),
    KeyK: channelToggle,
    KeyI: () => {
      const button = nearbyList.querySelector("button");
      if (button) button.focus();
      else $("desk-nearby-title").scrollIntoView({ block: "nearest" });
    },
    KeyN: () => {
      if (state.done || !dirty() || window.confirm(gettext("Clear this call? What was typed is lost."))) newCall();
    },
  };
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.isComposing) return;
    if (dialog.open) {
      if (e.altKey && e.code === "KeyN") { e.preventDefault(); newCall(); }
      return;
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.altKey) {
      e.preventDefault();
      file();
      return;
    }
    if (e.altKey && !e.ctrlKey && !e.metaKey && SHORTCUTS[e.code]) {
      e.preventDefault();
      SHORTCUTS[e.code]();
    }
  });

  /* ------------------------------------------------------------------ start */
  fileButton.disabled = !canAct;
  R.roadsFallback(map);
  if (window.ResizeObserver) new ResizeObserver(() => map.invalidateSize()).observe(map.getContainer());
  historyRender();
  nearbyRender();
  phone.focus();
  document.body.dataset.deskReady = "true";
  window.RasadDesk = { map, state, newCall, file };
})();
