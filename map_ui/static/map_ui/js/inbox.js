/* Rasad verification inbox: what citizens sent on WhatsApp, Telegram, SMS, Messenger and
   email that the chatbot could not turn into a report. Intake agents read it, set the place
   (map click or street search) and the category, and file the report for the citizen, who
   gets the tracking code on their channel; or close it as spam, a duplicate or answered.

   The list is GET /api/v1/inbox/ and is refetched when /ws/live/ says `inbox.updated` (a
   dropped socket reconnects with backoff and refetches). The open item is re-read then too,
   without losing what the agent has typed. Citizen text is only ever inserted escaped
   (Rasad.esc) or as textContent. */
(function () {
  "use strict";
  const R = window.Rasad;
  const cfg = R.config;
  /* Messages are written as gettext("…"), ngettext(…) and interpolate(…) so that
     `makemessages -d djangojs` finds them; Rasad's wrap the catalogue from /jsi18n/. */
  const { gettext, interpolate, ngettext } = R;
  const map = R.mapByName(cfg.map);
  if (!map) return;
  const canAct = !!cfg.can_act;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const esc = R.esc;
  const num = (n, opts) => R.fmtNumber(n, opts);
  const now = () => performance.timeOrigin + performance.now();

  const categories = new Map((cfg.categories || []).map((c) => [c.code, c]));
  const stateNames = new Map((cfg.states || []).map((s) => [s.code, s.name]));
  const reasonNames = new Map((cfg.reasons || []).map((r) => [r.code, r.name]));
  const providerNames = new Map((cfg.providers || []).map((p) => [p.code, p.name]));
  const KIND_NAMES = { text: gettext("text"), image: gettext("photo"), location: gettext("location"),
    choice: gettext("button reply"), comment: gettext("comment"), unsupported: gettext("not readable by the bot") };
  const PLACE_KINDS = { street: gettext("street"), intersection: gettext("crossing"), district: gettext("district"),
    coordinates: gettext("coordinates") };
  const DATE_SHORT = { dateStyle: "short", timeStyle: "short" };
  // A message's state when it is not simply handled.
  const MESSAGE_STATES = { blocked: gettext("from a blocked sender"), flood: gettext("over the sender's limit"),
    ignored: gettext("automatic mail, not answered"), pending: gettext("waiting for the dialogue") };

  const relative = R.relativeTime;

  function senderName(contact) {
    return (contact && (contact.display_name || contact.phone || contact.external_id)) || gettext("Unknown sender");
  }
  function snippet(text, words) {
    const parts = String(text || "").trim().split(/\s+/).filter(Boolean);
    const cut = parts.slice(0, words || 16).join(" ");
    return parts.length > (words || 16) || cut.length > 140 ? cut.slice(0, 140) + "…" : cut;
  }
  const errorText = R.errorText;

  /* ---------------------------------------------------------------- state */
  const state = {
    items: [],               // the list as last fetched
    count: undefined,        // how many match the filters (the list shows at most 100)
    seen: new Set(),         // ids listed before (new ones are highlighted)
    fresh: new Set(),
    listed: false,
    currentId: null,
    current: null,           // the open item, with messages and history
    outcome: null,           // the report just filed from it (tracking code)
    pin: null,               // L.LatLng where the report goes
    addressAuto: false,      // the address came from a street picked, not typed
    busy: false,
  };
  const metrics = { listLoads: 0, events: [], listedAt: {} };

  /* ---------------------------------------------------------------- toast */
  const toast = R.toaster("ib-toast", "ib-toast");

  /* ---------------------------------------------------------------- the list */
  const filterForm = $("#ib-filters");
  function listQuery() {
    const q = new URLSearchParams({ state: $("#filter-state").value || "open", limit: "100" });
    if ($("#filter-provider").value) q.set("provider", $("#filter-provider").value);
    const text = $("#filter-q").value.trim();
    if (text) q.set("q", text);
    return q;
  }

  let listSeq = 0;
  async function listLoad() {
    const seq = ++listSeq;
    let res;
    try { res = await R.api(`${cfg.urls.list}?${listQuery()}`); } catch (e) { res = { ok: false, data: null }; }
    if (seq !== listSeq) return;
    $("#inbox-list-error").textContent = res.ok ? "" : errorText(res);
    if (!res.ok) return;
    metrics.listLoads += 1;
    const items = res.data.results || [];
    state.fresh = new Set(state.listed ? items.filter((i) => !state.seen.has(i.id)).map((i) => i.id) : []);
    for (const item of items) {
      state.seen.add(item.id);
      if (!metrics.listedAt[item.id]) metrics.listedAt[item.id] = now();
    }
    state.items = items;
    state.count = res.data.count;
    state.listed = true;
    renderList();
    document.body.dataset.listReady = "true";
  }

  function rowHtml(item) {
    const c = item.contact || {};
    const counts = [ngettext("%(n)s message", "%(n)s messages", item.message_count || 0, { n: num(item.message_count || 0) })];
    if (item.photo_count) counts.push(ngettext("%(n)s photo", "%(n)s photos", item.photo_count, { n: num(item.photo_count) }));
    const fresh = state.fresh.has(item.id);
    const current = state.currentId === item.id;
    const text = snippet(item.text);
    return `<li class="ib-row${fresh ? " fresh" : ""}${current ? " current" : ""}" data-id="${item.id}" data-state="${esc(item.state)}">` +
      `<button type="button" class="ib-open" data-id="${item.id}"${current ? ' aria-current="true"' : ""}>` +
      `<span class="ib-row1"><span class="badge prov prov-${esc(c.provider)}">${esc(c.provider_name || providerNames.get(c.provider) || c.provider)}</span>` +
      `<strong class="ib-sender" dir="auto">${esc(senderName(c))}</strong>` +
      (c.blocked ? `<span class="badge ib-blocked">${esc(gettext("blocked"))}</span>` : "") +
      `<time class="ib-time muted small" datetime="${esc(item.updated_at)}" title="${esc(R.fmtDate(item.updated_at))}">${esc(relative(item.updated_at))}</time></span>` +
      `<span class="ib-row2 small"><span class="ib-reason">${esc(item.reason_name || reasonNames.get(item.reason) || item.reason)}</span>` +
      (item.state !== "open" ? ` <span class="badge ib-state ib-state-${esc(item.state)}">${esc(item.state_name || stateNames.get(item.state))}</span>` : "") +
      (fresh ? ` <span class="badge new-badge">${esc(gettext("new"))}</span>` : "") + `</span>` +
      (text ? `<span class="ib-snippet" dir="auto">${esc(text)}</span>` : `<span class="ib-snippet muted">${esc(gettext("(no text)"))}</span>`) +
      `<span class="ib-counts muted small">${esc(counts.join(" · "))}</span>` +
      `</button></li>`;
  }

  function renderList() {
    const list = $("#inbox-list");
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("#inbox-list .ib-open");
    const focusId = focused ? focused.dataset.id : null;
    list.innerHTML = state.items.map(rowHtml).join("");
    $("#inbox-empty").classList.toggle("hidden", state.items.length > 0);
    const total = state.count === undefined ? state.items.length : state.count;
    $("#ib-count").textContent = total > state.items.length
      ? interpolate(gettext("the %(n)s newest of %(total)s"), { n: num(state.items.length), total: num(total) })
      : ngettext("%(n)s item", "%(n)s items", total, { n: num(total) });
    if (focusId) { const again = $(`#inbox-list .ib-open[data-id="${focusId}"]`); if (again) again.focus(); }
  }

  $("#inbox-list").addEventListener("click", (e) => {
    const open = e.target.closest("button.ib-open");
    // Opened from the keyboard (Enter or Space: no pointer, detail 0), the work starts in
    // the form; with the mouse, focus stays in the list.
    if (open) detailOpen(Number(open.dataset.id), { keyboard: e.detail === 0 });
  });
  $("#inbox-list").addEventListener("keydown", (e) => {
    if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(e.key)) return;
    const buttons = $$("#inbox-list .ib-open");
    if (!buttons.length) return;
    const at = buttons.indexOf(document.activeElement);
    let next = at;
    if (e.key === "ArrowDown") next = Math.min(buttons.length - 1, at + 1);
    if (e.key === "ArrowUp") next = Math.max(0, at - 1);
    if (e.key === "Home") next = 0;
    if (e.key === "End") next = buttons.length - 1;
    e.preventDefault();
    buttons[next].focus();
  });

  let searchTimer = null;
  filterForm.addEventListener("submit", (e) => { e.preventDefault(); listLoad(); });
  filterForm.addEventListener("change", () => listLoad());
  $("#filter-q").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(listLoad, 300); });

  let listTimer = null;
  let listDue = null;
  /* Refetch the list once a burst of events calms down: 250 ms after the last, at most 2 s
     after the first. */
  function scheduleList() {
    const at = performance.now();
    if (listDue === null) listDue = at + 2000;
    clearTimeout(listTimer);
    listTimer = setTimeout(() => { listTimer = null; listDue = null; listLoad(); }, Math.max(0, Math.min(250, listDue - at)));
  }

  /* ---------------------------------------------------------------- map layers */
  const pinIcon = L.divIcon({ className: "ib-pin", iconSize: [36, 48], iconAnchor: [18, 46],
    html: '<svg viewBox="0 0 36 48" width="36" height="48" aria-hidden="true"><path d="M18 46C18 46 3 28 3 17a15 15 0 0 1 30 0c0 11-15 29-15 29z" fill="#c62828" stroke="#fff" stroke-width="2.5"/><circle cx="18" cy="17" r="6" fill="#fff"/></svg>' });
  const sharedLayer = L.layerGroup().addTo(map);   // locations the citizen sent
  const nearbyLayer = L.layerGroup().addTo(map);   // open incidents of the category
  let pinMarker = null;
  const b = cfg.area_bounds;
  const bounds = b ? L.latLngBounds([b[1], b[0]], [b[3], b[2]]) : null;
  if (bounds) map.fitBounds(bounds, { padding: [16, 16], animate: false });
  if (window.ResizeObserver) new ResizeObserver(() => map.invalidateSize()).observe(map.getContainer());
  R.roadsFallback(map);

  function editable() {
    return canAct && state.current && state.current.state === "open" && !state.outcome;
  }

  function pinSet(latlng, opts) {
    const o = opts || {};
    if (bounds && !bounds.contains(latlng)) {
      placeStatus(gettext("That place is outside the service area. Put the pin inside the city."), "bad");
      return false;
    }
    state.pin = L.latLng(latlng.lat, latlng.lng);
    if (!pinMarker) {
      pinMarker = L.marker(state.pin, { icon: pinIcon, draggable: editable(), autoPan: true, keyboard: true,
        title: gettext("The report goes here"), alt: gettext("The report goes here"), zIndexOffset: 1000 }).addTo(map);
      let before = null;
      pinMarker.on("dragstart", () => { before = state.pin; });
      pinMarker.on("dragend", () => {
        if (!pinSet(pinMarker.getLatLng(), { manual: true })) pinMarker.setLatLng(before);
      });
    } else {
      pinMarker.setLatLng(state.pin);
      if (pinMarker.dragging) { if (editable()) pinMarker.dragging.enable(); else pinMarker.dragging.disable(); }
    }
    if (o.manual && state.addressAuto) {
      // A street picked, then the pin moved: the street's name no longer says where.
      const address = $("#file-address");
      if (address) address.value = "";
      state.addressAuto = false;
    }
    if (o.fly) map.setView(state.pin, Math.max(map.getZoom(), 17));
    // The coordinates are isolated (FSI … PDI) so they read the same inside a right-to-left sentence.
    placeStatus(interpolate(gettext("The report goes at %(where)s. Click the map or drag the pin to move it."),
      { where: `\u2068${num(state.pin.lat, { maximumFractionDigits: 5 })}, ${num(state.pin.lng, { maximumFractionDigits: 5 })}\u2069` }), "ok");
    fieldError("lon", "");
    const line = $("#file-error");
    if (line) line.textContent = "";
    document.body.dataset.pin = `${state.pin.lng.toFixed(6)},${state.pin.lat.toFixed(6)}`;
    scheduleNearby();
    return true;
  }

  function pinClear() {
    state.pin = null;
    if (pinMarker) { map.removeLayer(pinMarker); pinMarker = null; }
    delete document.body.dataset.pin;
  }

  map.on("click", (e) => { if (editable()) pinSet(e.latlng, { manual: true }); });

  function placeStatus(text, kind) {
    const box = $("#place-status");
    if (!box) return;
    box.textContent = text;
    box.className = `small place-status ${kind || ""}`;
  }

  /* ---------------------------------------------------------------- the item */
  let detailSeq = 0;
  async function detailOpen(id, opts) {
    const o = opts || {};
    const seq = ++detailSeq;
    const switching = state.currentId !== id;
    state.currentId = id;
    if (switching) {
      state.current = null;
      state.outcome = null;
      state.addressAuto = false;
      pinClear();
      sharedLayer.clearLayers();
      nearbyLayer.clearLayers();
      $("#ib-placeholder").classList.add("hidden");
      const box = $("#ib-detail");
      box.classList.remove("hidden");
      box.innerHTML = `<p class="muted">${esc(gettext("Loading…"))}</p>`;
      for (const li of $$("#inbox-list li.current")) { li.classList.remove("current"); $(".ib-open", li).removeAttribute("aria-current"); }
      const li = $(`#inbox-list li[data-id="${id}"]`);
      if (li) { li.classList.add("current"); $(".ib-open", li).setAttribute("aria-current", "true"); }
    }
    let res;
    try { res = await R.api(`${cfg.urls.list}${id}/`); } catch (e) { res = { ok: false, data: null }; }
    if (seq !== detailSeq || state.currentId !== id) return;
    if (!res.ok) {
      if (switching) $("#ib-detail").innerHTML = `<p class="error">${esc(errorText(res))}</p>`;
      return;
    }
    const item = res.data;
    if (!switching && state.busy) {
      // The agent's own file or close is under way: its answer says what happened; look
      // again once it is in.
      setTimeout(() => { if (state.currentId === id) detailOpen(id, { focus: false }); }, 500);
      return;
    }
    const wasOpen = state.current && state.current.state === "open";
    state.current = item;
    if (switching || !$("#ib-detail .ib-item")) {
      renderDetail(item);
      if (o.focus !== false) $("#ib-detail-pane").scrollTop = 0;
      if (o.keyboard) focusFirstNeeded();
    } else {
      // A live update of the item on screen: keep what the agent typed.
      renderHead(item);
      renderMessages(item);
      renderHistory(item);
      if (item.state !== "open" && wasOpen && !state.outcome) {
        renderDetail(item);
        toast(interpolate(gettext("This item was just handled: %(state)s."), { state: item.state_name }), "bad");
      } else if (editable()) {
        renderPhotos(item, true);
      }
    }
    document.body.dataset.detail = String(id);
  }

  function focusFirstNeeded() {
    const category = $("#file-category");
    const target = !editable() ? $("#ib-detail-pane")
      : !state.pin ? $("#place-search") : category && !category.value ? category : $("#file-button");
    if (target) target.focus({ preventScroll: false });
  }

  function detailClose() {
    detailSeq += 1;
    state.currentId = null;
    state.current = null;
    state.outcome = null;
    pinClear();
    sharedLayer.clearLayers();
    nearbyLayer.clearLayers();
    $("#ib-detail").classList.add("hidden");
    $("#ib-detail").innerHTML = "";
    $("#ib-placeholder").classList.remove("hidden");
    for (const li of $$("#inbox-list li.current")) { li.classList.remove("current"); $(".ib-open", li).removeAttribute("aria-current"); }
    delete document.body.dataset.detail;
  }

  function readyPhotos(item) {
    return (item.messages || []).flatMap((m) => m.files || []).filter((f) => f.is_photo && f.state === "ready" && f.url);
  }

  /* Where the citizen's messages put the problem: the item's place, else the last location
     shared, else a photo's GPS position. */
  function initialPlace(item) {
    if (item.lon != null && item.lat != null) return { lon: item.lon, lat: item.lat, address: item.address || "" };
    const shared = (item.messages || []).filter((m) => m.kind === "location" && m.lon != null);
    if (shared.length) { const m = shared[shared.length - 1]; return { lon: m.lon, lat: m.lat, address: m.text || "" }; }
    const gps = readyPhotos(item).find((f) => f.gps);
    if (gps) return { lon: gps.gps[0], lat: gps.gps[1], address: "" };
    return null;
  }

  function renderDetail(item) {
    const box = $("#ib-detail");
    const open = item.state === "open";
    const acting = canAct && open && !state.outcome;
    box.innerHTML = `<article class="ib-item" data-id="${item.id}" data-state="${esc(item.state)}">
      <header class="ib-head" id="ib-head"></header>
      <section class="ib-section" aria-labelledby="ib-messages-title">
        <h3 id="ib-messages-title" class="ib-h3"></h3>
        <ol class="ib-messages" id="ib-messages"></ol>
      </section>
      <div id="ib-outcome"></div>
      ${acting ? fileFormHtml(item) + closeFormHtml() : ""}
      <details class="ib-section ib-history" id="ib-history"><summary></summary><div id="ib-history-body"></div></details>
    </article>`;
    renderHead(item);
    renderMessages(item);
    renderHistory(item);
    renderOutcome(item);
    if (acting) wireFileForm(item);
    if (acting) wireCloseForm(item);
    const place = initialPlace(item);
    if (place && open) {
      // Managers see the place too, on a pin they cannot move.
      pinSet(L.latLng(place.lat, place.lon));
      const address = $("#file-address");
      if (address && place.address) address.value = place.address;
      map.setView([place.lat, place.lon], Math.max(map.getZoom(), 16));
    } else if (acting) {
      placeStatus(gettext("No place yet: search a street, or click the map where the problem is."), "");
    }
    if (!acting && item.report && item.state === "filed") {
      // Managers and handled items: the place the report was filed at, when known.
      const report = (item.history && item.history.reports || []).find((r) => r.tracking_code === item.report.tracking_code);
      if (report) {
        pinSet(L.latLng(report.lat, report.lon));
        map.setView([report.lat, report.lon], Math.max(map.getZoom(), 16));
      }
    }
  }

  function renderHead(item) {
    const head = $("#ib-head");
    if (!head) return;
    const c = item.contact || {};
    const ids = [c.phone, c.external_id && c.external_id !== c.phone && c.external_id !== (c.phone || "").replace(/^\+/, "") ? c.external_id : ""].filter(Boolean);
    const language = { ar: "العربية", fa: "فارسی", en: "English" }[item.language] || item.language;
    head.innerHTML = `<div class="ib-title-row">
        <button type="button" class="link ib-back" id="ib-back" aria-label="${esc(gettext("Back to the list"))}" title="${esc(gettext("Back to the list"))}">${R.rtl ? "→" : "←"}</button>
        <h2 class="ib-title" dir="auto">${esc(senderName(c))}</h2>
        <span class="badge prov prov-${esc(c.provider)}">${esc(c.provider_name || c.provider)}</span>
        <span class="badge ib-state ib-state-${esc(item.state)}" id="ib-state">${esc(item.state_name || stateNames.get(item.state))}</span>
      </div>
      <p class="ib-meta small">${ids.map((v) => `<span class="code" dir="ltr">${esc(v)}</span>`).join(" · ")}${ids.length ? " · " : ""}` +
      `${esc(interpolate(gettext("writes in %(language)s"), { language }))} · ${esc(item.reason_name || reasonNames.get(item.reason))} · ` +
      `<time datetime="${esc(item.created_at)}">${esc(R.fmtDate(item.created_at))}</time> · <span class="muted">#${item.id}</span></p>` +
      (item.category || item.address ? `<p class="ib-meta small ib-gathered">${esc(gettext("The bot gathered:"))} ` +
        [item.category ? esc((categories.get(item.category) || {}).name || item.category) : "",
          item.address ? `<span dir="auto">${esc(item.address)}</span>` : ""].filter(Boolean).join(" · ") + `</p>` : "") +
      (c.blocked ? `<p class="ib-flag ib-flag-blocked"><strong>${esc(gettext("Blocked"))}</strong>${c.blocked_reason ? ": <span dir=\"auto\">" + esc(c.blocked_reason) + "</span>" : ""} — ${esc(gettext("gets no answers; what they send stays here"))}` +
        (canAct ? ` <button type="button" class="btn secondary small" id="ib-unblock">${esc(gettext("Unblock"))}</button>` : "") + `</p>` : "") +
      (c.opted_out ? `<p class="ib-flag ib-flag-optout"><strong>${esc(gettext("Opted out"))}</strong> — ${esc(gettext("asked for no more messages (STOP)"))}</p>` : "");
    $("#ib-back").addEventListener("click", () => { const id = state.currentId; detailClose(); const row = $(`#inbox-list .ib-open[data-id="${id}"]`); if (row) row.focus(); });
    const unblock = $("#ib-unblock");
    if (unblock) unblock.addEventListener("click", () => contactUnblock(c));
  }

  function fileHtml(f, m) {
    const mime = String(f.mime || "");
    if (f.state !== "ready" || !f.url) {
      return `<p class="ib-file small ${f.state === "failed" ? "error" : "muted"}">${esc(f.state === "failed"
        ? interpolate(gettext("The file could not be fetched: %(error)s"), { error: f.error || "?" })
        : gettext("The file is still being fetched…"))}</p>`;
    }
    const size = f.size ? ` · ${esc(interpolate(gettext("%(n)s kB"), { n: num(Math.max(1, Math.round(f.size / 1024))) }))}` : "";
    if (f.is_photo || (m.kind === "unsupported" && mime.startsWith("image/"))) {
      return `<a class="ib-thumb" href="${esc(f.url)}" target="_blank" rel="noopener"><img src="${esc(f.url)}" alt="${esc(gettext("Photo from the citizen"))}" loading="lazy"></a>`;
    }
    const link = `<a class="small" href="${esc(f.url)}" target="_blank" rel="noopener">${esc(gettext("Open the file"))}</a> <span class="muted small" dir="ltr">${esc(mime)}${size}</span>`;
    if (mime.startsWith("audio/")) return `<div class="ib-file"><audio controls preload="none" src="${esc(f.url)}"></audio> ${link}</div>`;
    if (mime.startsWith("video/")) return `<div class="ib-file"><video controls preload="none" src="${esc(f.url)}"></video> ${link}</div>`;
    return `<div class="ib-file">${link}</div>`;
  }

  function messageHtml(m) {
    const files = m.files || [];
    const kind = KIND_NAMES[m.kind] || m.kind;
    let body = "";
    if (m.kind === "location" && m.lon != null) {
      body = `<p class="ib-location"><span class="ib-loc-dot" aria-hidden="true"></span> ${esc(gettext("Location shared"))}` +
        (m.text ? `: <span dir="auto">${esc(m.text)}</span>` : "") +
        ` <span class="muted small" dir="ltr">${esc(num(m.lat, { maximumFractionDigits: 5 }))}, ${esc(num(m.lon, { maximumFractionDigits: 5 }))}</span></p>` +
        `<p class="ib-msg-actions"><button type="button" class="link small" data-show="${m.lon},${m.lat}">${esc(gettext("Show on the map"))}</button>` +
        (editable() ? ` <button type="button" class="link small" data-use="${m.lon},${m.lat}" data-address="${esc(m.text || "")}">${esc(gettext("Use this place"))}</button>` : "") + `</p>`;
    } else if (m.kind === "unsupported") {
      body = `<p class="ib-unsupported">${esc(interpolate(gettext("The bot could not read this: %(type)s"), { type: m.provider_type || "?" }))}</p>` +
        (m.text ? `<p class="citizen-text" dir="auto">${esc(m.text)}</p>` : "");
    } else if (m.kind === "choice") {
      body = `<p class="citizen-text" dir="auto">${esc(m.text || m.choice)}</p>`;
    } else if (m.text) {
      body = `<p class="citizen-text" dir="auto">${esc(m.text)}</p>`;
    }
    const gps = files.filter((f) => f.gps);
    const photos = files.filter((f) => f.is_photo || (m.kind === "unsupported" && String(f.mime || "").startsWith("image/")));
    const others = files.filter((f) => !photos.includes(f));
    const stateNote = MESSAGE_STATES[m.state] ? ` · <span class="badge">${esc(MESSAGE_STATES[m.state])}</span>` : "";
    return `<li class="ib-msg ib-msg-${esc(m.kind)}" data-id="${m.id}">
      <div class="ib-msg-meta muted small"><time datetime="${esc(m.sent_at)}">${esc(R.fmtDate(m.sent_at, DATE_SHORT))}</time> · ${esc(kind)}${stateNote}</div>
      ${body}
      ${photos.length ? `<div class="ib-thumbs">${photos.map((f) => fileHtml(f, m)).join("")}</div>` : ""}
      ${others.map((f) => fileHtml(f, m)).join("")}
      ${gps.length ? `<p class="ib-msg-actions small">${esc(gettext("The photo says where it was taken."))} <button type="button" class="link small" data-show="${gps[0].gps[0]},${gps[0].gps[1]}">${esc(gettext("Show on the map"))}</button>` +
        (editable() ? ` <button type="button" class="link small" data-use="${gps[0].gps[0]},${gps[0].gps[1]}" data-address="">${esc(gettext("Use this place"))}</button>` : "") + `</p>` : ""}
    </li>`;
  }

  function renderMessages(item) {
    const list = $("#ib-messages");
    if (!list) return;
    const messages = item.messages || [];
    $("#ib-messages-title").textContent = ngettext("%(n)s message", "%(n)s messages", messages.length, { n: num(messages.length) });
    list.innerHTML = messages.map(messageHtml).join("") ||
      `<li class="muted">${esc(gettext("No messages."))}</li>`;
    sharedLayer.clearLayers();
    for (const m of messages) {
      if (m.kind !== "location" || m.lon == null) continue;
      L.circleMarker([m.lat, m.lon], { radius: 9, color: "#0b5cad", weight: 3, fillColor: "#4f8fd8", fillOpacity: 0.5 })
        .bindTooltip(`${esc(gettext("Location shared by the citizen"))}${m.text ? "<br>" + esc(m.text) : ""}`, { direction: "top" })
        .on("click", () => { if (editable()) pinSet(L.latLng(m.lat, m.lon)); })
        .addTo(sharedLayer);
    }
    for (const f of readyPhotos(item).filter((p) => p.gps)) {
      L.circleMarker([f.gps[1], f.gps[0]], { radius: 7, color: "#6a1b9a", weight: 2, fillOpacity: 0.4 })
        .bindTooltip(esc(gettext("Where the photo was taken")), { direction: "top" }).addTo(sharedLayer);
    }
  }

  $("#ib-detail").addEventListener("click", (e) => {
    const show = e.target.closest("[data-show]");
    if (show) { const [lon, lat] = show.dataset.show.split(",").map(Number); map.setView([lat, lon], Math.max(map.getZoom(), 17)); return; }
    const use = e.target.closest("[data-use]");
    if (use && editable()) {
      const [lon, lat] = use.dataset.use.split(",").map(Number);
      if (pinSet(L.latLng(lat, lon), { fly: true })) {
        const address = $("#file-address");
        if (address && use.dataset.address) { address.value = use.dataset.address; state.addressAuto = true; }
      }
      return;
    }
    const other = e.target.closest("[data-open-item]");
    if (other) { detailOpen(Number(other.dataset.openItem)); return; }
    const dup = e.target.closest("[data-duplicate]");
    if (dup && editable()) {
      closePanel("duplicate");
      $("#close-duplicate-of").value = dup.dataset.duplicate;
      $("#close-duplicate-of").focus();
    }
  });

  function renderHistory(item) {
    const box = $("#ib-history");
    if (!box) return;
    const h = item.history || { reports: [], inbox: [] };
    const reports = h.reports || [];
    const others = h.inbox || [];
    const openReports = reports.filter((r) => r.incident_open).length;
    $("summary", box).textContent = interpolate(gettext("Sender's history: %(reports)s, %(items)s"), {
      reports: ngettext("%(n)s report", "%(n)s reports", reports.length, { n: num(reports.length) }),
      items: ngettext("%(n)s earlier inbox item", "%(n)s earlier inbox items", others.length, { n: num(others.length) }) });
    const acting = editable();
    $("#ib-history-body").innerHTML =
      (reports.length ? `<h4 class="ib-h4">${esc(gettext("Reports"))}${openReports ? ` <span class="badge">${esc(ngettext("%(n)s still open", "%(n)s still open", openReports, { n: num(openReports) }))}</span>` : ""}</h4>
        <ul class="ib-history-list" id="ib-history-reports">${reports.map((r) => `<li data-code="${esc(r.tracking_code)}">
          <a class="code" href="/track/${encodeURIComponent(r.tracking_code)}/" target="_blank" rel="noopener" dir="ltr">${esc(r.tracking_code)}</a>
          <span>${esc(r.category_name)}</span>
          <span class="badge status-${esc(r.status)}">${esc(r.status_name)}</span>
          <span class="badge ${r.incident_open ? "ib-open-badge" : "ib-closed-badge"}">${esc(r.incident_open ? gettext("open") : gettext("closed"))}</span>
          <span class="muted small"><time datetime="${esc(r.created_at)}">${esc(R.fmtDate(r.created_at, DATE_SHORT))}</time>${r.address ? ` · <span dir="auto">${esc(r.address)}</span>` : ""}</span>
          ${acting ? `<button type="button" class="link small" data-duplicate="${esc(r.tracking_code)}">${esc(gettext("Same problem: close as duplicate"))}</button>` : ""}
        </li>`).join("")}</ul>` : `<p class="muted small">${esc(gettext("No reports from this sender yet."))}</p>`) +
      (others.length ? `<h4 class="ib-h4">${esc(gettext("Earlier inbox items"))}</h4><ul class="ib-history-list">${others.map((o) => `<li>
          <button type="button" class="link" data-open-item="${o.id}">#${o.id}</button>
          <span class="badge ib-state ib-state-${esc(o.state)}">${esc(stateNames.get(o.state) || o.state)}</span>
          <span class="small">${esc(reasonNames.get(o.reason) || o.reason)}</span>
          <span class="muted small"><time datetime="${esc(o.created_at)}">${esc(R.fmtDate(o.created_at, DATE_SHORT))}</time></span></li>`).join("")}</ul>` : "");
    if (reports.length || others.length) box.open = box.open || openReports > 0 || reports.length + others.length <= 3;
  }

  /* What became of the item: the report's tracking code, or how it was closed. */
  function renderOutcome(item) {
    const box = $("#ib-outcome");
    if (!box) return;
    if (item.state === "open" && !state.outcome) { box.innerHTML = ""; return; }
    const code = state.outcome ? state.outcome.tracking_code : item.report && item.report.tracking_code;
    const titles = { filed: gettext("Report filed"), spam: gettext("Closed as spam"), duplicate: gettext("Closed as a duplicate"),
      answered: gettext("Answered, not a report") };
    box.innerHTML = `<section class="ib-done ib-done-${esc(item.state)}" id="ib-done" tabindex="-1">
      <h3 class="ib-h3">${esc(titles[item.state] || item.state_name)}</h3>
      ${code ? `<p class="muted small">${esc(item.state === "filed" ? gettext("Tracking code") : gettext("The existing report"))}</p>
        <p class="ib-code" id="ib-code" dir="ltr">${esc(code)}</p>
        <p class="small"><a href="/track/${encodeURIComponent(code)}/" target="_blank" rel="noopener">${esc(gettext("Open its tracking page"))}</a></p>` : ""}
      ${state.outcome && state.outcome.incident_id ? `<p class="small">${esc(interpolate(gettext("Incident #%(id)s, %(status)s"), { id: state.outcome.incident_id, status: state.outcome.status_name }))}</p>` : ""}
      ${item.reply ? `<p class="muted small">${esc((item.contact || {}).blocked ? gettext("Not sent: the sender is blocked.") : gettext("Sent to the citizen:"))}</p><blockquote class="citizen-text" dir="auto">${esc(item.reply)}</blockquote>` : ""}
      ${canAct ? `<p><button type="button" class="btn secondary" id="ib-next">${esc(gettext("Next open item"))}</button></p>` : ""}
    </section>`;
    const next = $("#ib-next");
    if (next) next.addEventListener("click", nextOpen);
  }

  async function nextOpen() {
    await listLoad();
    const next = state.items.find((i) => i.state === "open" && i.id !== state.currentId);
    if (next) detailOpen(next.id); else { detailClose(); toast(gettext("No open items left.")); }
  }

  /* ---------------------------------------------------------------- filing */
  function fileFormHtml(item) {
    const options = (cfg.categories || []).map((c) => `<option value="${esc(c.code)}"${item.category === c.code ? " selected" : ""}>${esc(c.name)}</option>`).join("");
    return `<section class="ib-section ib-card" id="file-form" aria-labelledby="file-title">
      <h3 class="ib-h3" id="file-title">${esc(gettext("File a report"))}</h3>
      <div class="field" data-field="lon">
        <label for="place-search">${esc(gettext("Place"))}</label>
        <div class="ib-search-row">
          <input type="search" id="place-search" autocomplete="off" maxlength="200" aria-controls="place-results"
            placeholder="${esc(gettext("Street, two streets (A & B), district, or a map link"))}">
          <button type="button" class="btn secondary small" id="place-search-button">${esc(gettext("Find"))}</button>
        </div>
        <ul class="ib-places" id="place-results" aria-label="${esc(gettext("Places found"))}"></ul>
        <p class="small place-status" id="place-status" aria-live="polite"></p>
        <p class="error" data-error-for="lon"></p><p class="error" data-error-for="lat"></p><p class="error" data-error-for="location"></p>
        <label for="file-address">${esc(gettext("Address or landmark"))}</label>
        <input type="text" id="file-address" maxlength="300" dir="auto">
        <p class="error" data-error-for="address"></p>
      </div>
      <div class="field">
        <label for="file-category">${esc(gettext("Category"))}</label>
        <select id="file-category"><option value="">${esc(gettext("Choose the category…"))}</option>${options}</select>
        <p class="error" data-error-for="category"></p>
      </div>
      <div id="file-questions"></div>
      <div class="field">
        <label for="file-description">${esc(gettext("Description"))}</label>
        <textarea id="file-description" maxlength="4000" rows="4" dir="auto"></textarea>
        <p class="error" data-error-for="description"></p>
      </div>
      <fieldset class="field" id="file-photos-field"><legend>${esc(gettext("Photos to attach"))}</legend><div class="ib-photo-picks" id="file-photos"></div>
        <p class="error" data-error-for="photo_ids"></p><p class="error" data-error-for="photos"></p></fieldset>
      <section class="ib-nearby hidden" id="nearby" aria-live="polite">
        <h4 class="ib-h4">${esc(gettext("Open incidents of this category nearby"))}</h4>
        <p class="muted small">${esc(gettext("If it is the same problem, attach the citizen to it: they get its updates."))}</p>
        <ul class="ib-nearby-list" id="nearby-list"></ul>
        <p class="error" data-error-for="join_incident"></p>
      </section>
      <p class="error" id="file-error" role="alert"></p>
      <div class="ib-actions"><button type="button" class="btn" id="file-button" data-action>${esc(gettext("File report"))}</button>
        <span class="muted small">${esc(gettext("The citizen gets the tracking code on their channel."))}</span></div>
    </section>`;
  }

  function wireFileForm(item) {
    $("#file-description").value = descriptionDefault(item);
    renderPhotos(item, false);
    renderQuestions();
    $("#file-category").addEventListener("change", () => {
      fieldError("category", "");
      $("#file-error").textContent = "";
      renderQuestions();
      scheduleNearby();
    });
    $("#file-address").addEventListener("input", () => { state.addressAuto = false; });
    const search = $("#place-search");
    let geoTimer = null;
    search.addEventListener("input", () => { clearTimeout(geoTimer); geoTimer = setTimeout(() => geocode(search.value), 350); });
    search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); clearTimeout(geoTimer); geocode(search.value, { pickFirst: e.ctrlKey }); }
      if (e.key === "ArrowDown") { const first = $("#place-results button"); if (first) { e.preventDefault(); first.focus(); } }
    });
    $("#place-search-button").addEventListener("click", () => { clearTimeout(geoTimer); geocode(search.value); });
    $("#place-results").addEventListener("keydown", (e) => {
      if (!["ArrowDown", "ArrowUp"].includes(e.key)) return;
      const buttons = $$("#place-results button");
      const at = buttons.indexOf(document.activeElement);
      e.preventDefault();
      if (e.key === "ArrowUp" && at <= 0) { search.focus(); return; }
      buttons[Math.max(0, Math.min(buttons.length - 1, at + (e.key === "ArrowDown" ? 1 : -1)))].focus();
    });
    $("#place-results").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-index]");
      if (button) placePick(geoResults[Number(button.dataset.index)]);
    });
    $("#nearby-list").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-join]");
      if (button) fileReport(Number(button.dataset.join));
    });
    $("#file-button").addEventListener("click", () => fileReport(null));
    $("#file-form").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); fileReport(null); }
    });
  }

  function descriptionDefault(item) {
    if (item.text) return item.text;
    return (item.messages || []).filter((m) => ["text", "comment"].includes(m.kind) && m.text).map((m) => m.text).join("\n");
  }

  /* The photo checkboxes: every ready photo, ticked; a live update keeps what was unticked. */
  function renderPhotos(item, keep) {
    const box = $("#file-photos");
    if (!box) return;
    const unticked = new Set(keep ? $$("input[name=photo]", box).filter((i) => !i.checked).map((i) => i.value) : []);
    const photos = readyPhotos(item);
    box.innerHTML = photos.map((f) => `<label class="ib-photo-pick"><input type="checkbox" name="photo" value="${f.id}"${unticked.has(String(f.id)) ? "" : " checked"}>` +
      `<img src="${esc(f.url)}" alt="${esc(interpolate(gettext("Photo %(id)s"), { id: f.id }))}" loading="lazy"></label>`).join("");
    $("#file-photos-field").classList.toggle("hidden", photos.length === 0);
  }

  function questionHtml(q) {
    const id = `q-${q.code}`;
    const label = `<label for="${id}">${esc(q.label || q.code)}${q.required ? ` <span class="req" aria-hidden="true">*</span>` : ""}</label>`;
    const req = q.required ? " required aria-required=\"true\"" : "";
    let input;
    if (q.datatype === "singlevaluelist") {
      input = `<select id="${id}" data-q="${esc(q.code)}" data-type="single"${req}><option value="">—</option>` +
        (q.values || []).map((v) => `<option value="${esc(v.key)}">${esc(v.name)}</option>`).join("") + `</select>`;
    } else if (q.datatype === "multivaluelist") {
      input = `<select id="${id}" data-q="${esc(q.code)}" data-type="multi" multiple size="${Math.min(6, (q.values || []).length || 1)}"${req}>` +
        (q.values || []).map((v) => `<option value="${esc(v.key)}">${esc(v.name)}</option>`).join("") + `</select>`;
    } else if (q.datatype === "number") {
      input = `<input type="number" id="${id}" data-q="${esc(q.code)}" data-type="number" step="any"` +
        (q.min != null ? ` min="${esc(q.min)}"` : "") + (q.max != null ? ` max="${esc(q.max)}"` : "") + `${req}>`;
    } else if (q.datatype === "datetime") {
      input = `<input type="datetime-local" id="${id}" data-q="${esc(q.code)}" data-type="datetime"${req}>`;
    } else if (q.datatype === "text") {
      input = `<textarea id="${id}" data-q="${esc(q.code)}" data-type="text" rows="2" maxlength="1000" dir="auto"${req}></textarea>`;
    } else {
      input = `<input type="text" id="${id}" data-q="${esc(q.code)}" data-type="text" maxlength="1000" dir="auto"${req}>`;
    }
    return `<div class="field ib-question">${label}${input}<p class="error" data-error-for="attribute[${esc(q.code)}]"></p></div>`;
  }

  function renderQuestions() {
    const box = $("#file-questions");
    const category = categories.get($("#file-category").value);
    const questions = category ? category.questions || [] : [];
    // Required questions first: they are the ones that stop a report.
    const ordered = questions.filter((q) => q.required).concat(questions.filter((q) => !q.required));
    box.innerHTML = ordered.length ? `<fieldset class="field ib-questions"><legend>${esc(gettext("Questions for this category"))}</legend>${ordered.map(questionHtml).join("")}</fieldset>` : "";
  }

  function attributesRead() {
    const out = {};
    for (const el of $$("#file-questions [data-q]")) {
      const type = el.dataset.type;
      if (type === "multi") {
        const values = Array.from(el.selectedOptions).map((o) => o.value);
        if (values.length) out[el.dataset.q] = values;
      } else if (type === "number") {
        if (el.value !== "") out[el.dataset.q] = Number(el.value);
      } else if (type === "datetime") {
        if (el.value) out[el.dataset.q] = new Date(el.value).toISOString();
      } else if (el.value.trim()) {
        out[el.dataset.q] = el.value.trim();
      }
    }
    return out;
  }

  /* ---------------------------------------------------------------- street search */
  let geoResults = [];
  let geoSeq = 0;
  async function geocode(text, opts) {
    const query = String(text || "").trim();
    const list = $("#place-results");
    if (!list) return;
    const seq = ++geoSeq;
    if (query.length < 3) { list.innerHTML = ""; geoResults = []; return; }
    list.innerHTML = `<li class="muted small">${esc(gettext("Searching…"))}</li>`;
    let res;
    try { res = await R.api(`${cfg.urls.geocode}?${new URLSearchParams({ q: query, limit: "6" })}`); } catch (e) { res = { ok: false, data: null }; }
    if (seq !== geoSeq || !$("#place-results")) return;
    if (!res.ok) { list.innerHTML = `<li class="error small">${esc(errorText(res))}</li>`; return; }
    geoResults = res.data.results || [];
    list.innerHTML = geoResults.length ? geoResults.map((p, i) => `<li><button type="button" class="ib-place" data-index="${i}">` +
      `<strong dir="auto">${esc(p.name)}</strong> <span class="muted small">${esc(PLACE_KINDS[p.kind] || p.kind)}${p.district ? " · " + esc(p.district) : ""}</span></button></li>`).join("")
      : `<li class="muted small">${esc(interpolate(gettext("Nothing found for “%(q)s” in the service area."), { q: query }))}</li>`;
    if (opts && opts.pickFirst && geoResults.length) placePick(geoResults[0]);
  }

  function placePick(place) {
    if (!place) return;
    if (!pinSet(L.latLng(place.lat, place.lon), { fly: true })) return;
    if (place.kind !== "coordinates") {
      $("#file-address").value = place.name;
      state.addressAuto = true;
    }
    $("#place-results").innerHTML = "";
    geoResults = [];
    $("#file-category").focus();
  }

  /* ---------------------------------------------------------------- nearby incidents */
  let nearbyTimer = null;
  let nearbySeq = 0;
  function scheduleNearby() {
    clearTimeout(nearbyTimer);
    nearbyTimer = setTimeout(nearbyLoad, 250);
  }

  async function nearbyLoad() {
    const box = $("#nearby");
    const category = $("#file-category") ? $("#file-category").value : "";
    const seq = ++nearbySeq;
    nearbyLayer.clearLayers();
    if (!box || !category || !state.pin || !editable()) { if (box) box.classList.add("hidden"); return; }
    const q = new URLSearchParams({ category, lon: state.pin.lng.toFixed(6), lat: state.pin.lat.toFixed(6) });
    let res;
    try { res = await R.api(`${cfg.urls.nearby}?${q}`); } catch (e) { res = { ok: false, data: null }; }
    if (seq !== nearbySeq || !$("#nearby")) return;
    const features = res.ok ? (res.data.features || []) : [];
    box.classList.toggle("hidden", features.length === 0);
    $("#nearby-list").innerHTML = features.map((f) => {
      const p = f.properties;
      const id = f.id != null ? f.id : p.id;
      const [lon, lat] = f.geometry.coordinates;
      const metres = Math.round(map.distance(state.pin, L.latLng(lat, lon)));
      L.circleMarker([lat, lon], { radius: 8, color: "#ef6c00", weight: 3, fillColor: "#ffb74d", fillOpacity: 0.7 })
        .bindTooltip(`#${id} · ${esc(p.category_name)} · ${esc(R.statusLabel(p.status))}`, { direction: "top" }).addTo(nearbyLayer);
      return `<li data-incident="${id}"><span><strong>#${id}</strong> ${esc(p.category_name)} <span class="badge status-${esc(p.status)}">${esc(R.statusLabel(p.status))}</span>
        <span class="muted small">${esc(ngettext("%(n)s report", "%(n)s reports", p.report_count, { n: num(p.report_count) }))} · ${esc(interpolate(gettext("%(m)s m away"), { m: num(metres) }))} · ${esc(R.fmtDate(p.first_reported_at, DATE_SHORT))}</span></span>
        <button type="button" class="btn secondary small" data-join="${id}" data-action>${esc(interpolate(gettext("Me too: attach to #%(id)s"), { id }))}</button></li>`;
    }).join("");
    if (state.busy) busy(true);
  }

  /* ---------------------------------------------------------------- actions */
  function busy(on) {
    state.busy = on;
    for (const el of $$("#ib-detail [data-action]")) {
      el.disabled = on;
      el.classList.toggle("busy", on);
    }
    $("#ib-detail").setAttribute("aria-busy", on ? "true" : "false");
  }

  function fieldError(field, message) {
    for (const el of $$(`#ib-detail [data-error-for="${CSS.escape(field)}"]`)) el.textContent = message;
  }

  function errorsClear(root) {
    for (const el of $$("[data-error-for]", root)) el.textContent = "";
    for (const el of $$(".has-error", root)) el.classList.remove("has-error");
  }

  /* The API's {detail, errors}: each field's messages beside it, the rest (and the detail
     when no field shows it) in the form's error line. */
  function errorsShow(res, root, line) {
    const d = (res && res.data) || {};
    const rest = [];
    let placed = false;
    for (const [field, messages] of Object.entries(d.errors || {})) {
      const text = (Array.isArray(messages) ? messages : [messages]).map(String).join(" ");
      const targets = $$(`[data-error-for="${CSS.escape(field)}"]`, root);
      if (targets.length) {
        for (const t of targets) { t.textContent = text; const f = t.closest(".field"); if (f) f.classList.add("has-error"); }
        placed = true;
      } else {
        rest.push(text);
      }
    }
    line.textContent = rest.length ? rest.join(" ") : (placed ? gettext("Check the fields marked above.") : errorText(res));
  }

  async function fileReport(joinId) {
    if (state.busy || !editable()) return;
    const item = state.current;
    const form = $("#file-form");
    const line = $("#file-error");
    errorsClear(form);
    line.textContent = "";
    const category = $("#file-category").value;
    let missing = false;
    if (!state.pin) { fieldError("lon", gettext("Set the place: search a street or click the map.")); missing = true; }
    if (!category) { fieldError("category", gettext("Choose the category.")); missing = true; }
    if (missing) { line.textContent = gettext("The report needs a place and a category."); return; }
    const body = {
      category, lon: Number(state.pin.lng.toFixed(7)), lat: Number(state.pin.lat.toFixed(7)),
      address: $("#file-address").value.trim(), description: $("#file-description").value.trim(),
      attributes: attributesRead(),
      photo_ids: $$("#file-photos input[name=photo]:checked").map((i) => Number(i.value)),
    };
    if (joinId) body.join_incident = joinId;
    busy(true);
    let res;
    try { res = await R.api(`${cfg.urls.list}${item.id}/file/`, { json: body }); } catch (e) { res = { ok: false, status: 0, data: null }; }
    busy(false);
    if (state.currentId !== item.id) return;
    if (!res.ok) {
      errorsShow(res, form, line);
      if (res.status === 409) refreshAfterConflict(item.id);
      return;
    }
    state.outcome = res.data.report;
    finish(Object.assign({}, state.current, res.data.item), interpolate(gettext("Filed: tracking code %(code)s"), { code: res.data.report.tracking_code }));
  }

  /* After a 409 (someone else handled it): show what became of it, keep the message. */
  function refreshAfterConflict(id) {
    setTimeout(() => { if (state.currentId === id) detailOpen(id, { focus: false }); }, 1500);
    scheduleList();
  }

  function finish(item, message) {
    state.current = item;
    nearbyLayer.clearLayers();
    if (pinMarker && pinMarker.dragging) pinMarker.dragging.disable();
    for (const id of ["file-form", "close-form"]) { const el = document.getElementById(id); if (el) el.remove(); }
    renderHead(item);
    renderMessages(item);
    renderHistory(item);
    renderOutcome(item);
    const done = $("#ib-done");
    if (done) { done.scrollIntoView({ block: "nearest" }); done.focus({ preventScroll: true }); }
    toast(message);
    listLoad();
  }

  /* ---------------------------------------------------------------- closing */
  function closeFormHtml() {
    return `<section class="ib-section ib-card" id="close-form" aria-labelledby="close-title">
      <h3 class="ib-h3" id="close-title">${esc(gettext("Close without a report"))}</h3>
      <div class="ib-close-choices" role="group" aria-label="${esc(gettext("How to close it"))}">
        <button type="button" class="btn secondary small" data-outcome="spam" aria-expanded="false" aria-controls="close-spam">${esc(gettext("Spam"))}</button>
        <button type="button" class="btn secondary small" data-outcome="duplicate" aria-expanded="false" aria-controls="close-duplicate">${esc(gettext("Duplicate"))}</button>
        <button type="button" class="btn secondary small" data-outcome="answered" aria-expanded="false" aria-controls="close-answered">${esc(gettext("Answered"))}</button>
      </div>
      <div class="ib-close-panel hidden" id="close-spam">
        <p class="muted small">${esc(gettext("Nothing is sent to the sender."))}</p>
        <label class="ib-check"><input type="checkbox" id="close-block"> ${esc(gettext("Block this sender: what they send later is kept here and never answered"))}</label>
        <button type="button" class="btn danger" id="close-spam-button" data-action>${esc(gettext("Mark as spam"))}</button>
      </div>
      <div class="ib-close-panel hidden" id="close-duplicate">
        <div class="field">
          <label for="close-duplicate-of">${esc(gettext("Tracking code of the existing report"))}</label>
          <input type="text" id="close-duplicate-of" maxlength="20" dir="ltr" class="code-input" autocomplete="off" required aria-required="true">
          <p class="error" data-error-for="duplicate_of"></p>
        </div>
        <div class="field">
          <label for="close-duplicate-reply">${esc(gettext("Message to the citizen (optional)"))}</label>
          <textarea id="close-duplicate-reply" maxlength="2000" rows="3" dir="auto"></textarea>
          <p class="muted small">${esc(gettext("The tracking code and its link are added to the message."))}</p>
        </div>
        <button type="button" class="btn" id="close-duplicate-button" data-action>${esc(gettext("Close as duplicate"))}</button>
      </div>
      <div class="ib-close-panel hidden" id="close-answered">
        <div class="field">
          <label for="close-answer">${esc(gettext("Answer to the citizen"))} <span class="req" aria-hidden="true">*</span></label>
          <textarea id="close-answer" maxlength="2000" rows="4" dir="auto" required aria-required="true"></textarea>
          <p class="error" data-error-for="reply"></p>
        </div>
        <button type="button" class="btn" id="close-answered-button" data-action>${esc(gettext("Send the answer and close"))}</button>
      </div>
      <p class="error" id="close-error" role="alert"></p>
    </section>`;
  }

  function closePanel(outcome) {
    for (const button of $$("#close-form [data-outcome]")) {
      const on = button.dataset.outcome === outcome;
      button.setAttribute("aria-expanded", on ? "true" : "false");
      button.classList.toggle("active", on);
      $(`#close-${button.dataset.outcome}`).classList.toggle("hidden", !on);
    }
  }

  function wireCloseForm(item) {
    for (const button of $$("#close-form [data-outcome]")) {
      button.addEventListener("click", () => {
        const outcome = button.dataset.outcome;
        const already = button.getAttribute("aria-expanded") === "true";
        closePanel(already ? null : outcome);
        if (already) return;
        const first = { spam: "#close-block", duplicate: "#close-duplicate-of", answered: "#close-answer" }[outcome];
        $(first).focus();
      });
    }
    $("#close-spam-button").addEventListener("click", () => closeItem(item, "spam"));
    $("#close-duplicate-button").addEventListener("click", () => closeItem(item, "duplicate"));
    $("#close-answered-button").addEventListener("click", () => closeItem(item, "answered"));
  }

  async function closeItem(item, outcome) {
    if (state.busy || !editable()) return;
    const form = $("#close-form");
    const line = $("#close-error");
    errorsClear(form);
    line.textContent = "";
    const body = { outcome };
    if (outcome === "spam") body.block = $("#close-block").checked;
    if (outcome === "duplicate") {
      body.duplicate_of = $("#close-duplicate-of").value.trim();
      body.reply = $("#close-duplicate-reply").value.trim();
      if (!body.duplicate_of) { fieldError("duplicate_of", gettext("Write the tracking code of the report it repeats.")); $("#close-duplicate-of").focus(); return; }
    }
    if (outcome === "answered") {
      body.reply = $("#close-answer").value.trim();
      if (!body.reply) { fieldError("reply", gettext("Write the answer that goes back to the citizen.")); $("#close-answer").focus(); return; }
    }
    busy(true);
    let res;
    try { res = await R.api(`${cfg.urls.list}${item.id}/close/`, { json: body }); } catch (e) { res = { ok: false, status: 0, data: null }; }
    busy(false);
    if (state.currentId !== item.id) return;
    if (!res.ok) {
      errorsShow(res, form, line);
      if (res.status === 409) refreshAfterConflict(item.id);
      return;
    }
    const messages = { spam: gettext("Closed as spam"), duplicate: gettext("Closed as a duplicate"), answered: gettext("Answer sent; item closed") };
    finish(Object.assign({}, state.current, res.data), messages[outcome]);
  }

  async function contactUnblock(contact) {
    const button = $("#ib-unblock");
    if (button) button.disabled = true;
    const res = await R.api(`/api/v1/contacts/${contact.id}/unblock/`, { json: {} });
    if (!res.ok) { toast(errorText(res), "bad"); if (button) button.disabled = false; return; }
    toast(gettext("Sender unblocked"));
    if (state.current) { state.current.contact = res.data; renderHead(state.current); }
    scheduleList();
  }

  /* ---------------------------------------------------------------- keyboard */
  document.addEventListener("keydown", (e) => {
    const typing = e.target.closest && e.target.closest("input, textarea, select, [contenteditable]");
    if (e.key === "/" && !typing) { e.preventDefault(); $("#filter-q").focus(); return; }
    if (e.key === "Escape" && state.currentId !== null && !e.defaultPrevented) {
      if (typing && typing.id === "place-search" && $("#place-results li")) { $("#place-results").innerHTML = ""; return; }
      // In a field of the item, Escape leaves the field (nothing typed is lost); once more,
      // it goes back to the list.
      if (typing && typing.closest("#ib-detail")) { $("#ib-detail-pane").focus(); return; }
      const id = state.currentId;
      detailClose();
      const row = $(`#inbox-list .ib-open[data-id="${id}"]`);
      (row || $("#filter-q")).focus();
    }
  });

  /* ---------------------------------------------------------------- live events */
  function onEvent(msg) {
    if (!msg || typeof msg !== "object" || msg.kind !== "inbox.updated") return;
    metrics.events.push({ at: now(), id: msg.inbox_id });
    if (metrics.events.length > 500) metrics.events.shift();
    scheduleList();
    if (msg.inbox_id === state.currentId) {
      clearTimeout(detailTimer);
      detailTimer = setTimeout(() => { if (state.currentId === msg.inbox_id) detailOpen(msg.inbox_id, { focus: false }); }, 300);
    }
  }
  let detailTimer = null;

  /* As the console: a socket that drops reconnects with backoff (Rasad.live), then
     refetches the list and the open item. */
  const live = R.live({
    url: cfg.urls.live,
    onEvent,
    onOpen(reopened) {
      if (!reopened) return;
      // Events sent while the socket was down are lost: read everything again.
      listLoad();
      if (state.currentId !== null) detailOpen(state.currentId, { focus: false });
    },
  });

  /* ---------------------------------------------------------------- start */
  // Relative times age: redraw the rows (not refetch) every minute.
  setInterval(() => { if (state.listed) { state.fresh.clear(); renderList(); } }, 60000);
  listLoad();
  live.connect();

  window.RasadInbox = {
    map, state, metrics, listLoad, detailOpen,
    live: {
      get state() { return document.body.dataset.live; },
      get reconnects() { return live.reconnects; },
      /* Drop the socket as a network failure would (tests). */
      drop() { live.drop(); },
    },
  };
})();
