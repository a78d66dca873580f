/* The crew phone: today's stops as a list and a map, worked offline.

   What the page shows is the last plan the server sent (kept in IndexedDB) with the actions
   still waiting in the outbox applied on top. Every action goes through the outbox, online
   or not: it is stored with its client_id (made here) and the incident version this phone
   saw, shown at once, and sent in order. It leaves the outbox only when the server answers
   200 (a replay of the same client_id returns the stored answer). A 409 means someone else
   changed the incident: the action and the ones after it on that stop stay, are shown with
   the server's current state, and wait for the crew member to retry or discard them. */
(function () {
  "use strict";
  const R = window.Rasad;
  const cfg = R.config || {};
  const t = R.t;
  const nt = (singular, plural, n) => (window.ngettext ? window.ngettext(singular, plural, n)
    : (n === 1 ? singular : plural));
  const interp = (msg, values) => (window.interpolate ? window.interpolate(msg, values, true)
    : msg.replace(/%\((\w+)\)s/g, (m, k) => values[k]));
  const $ = (sel) => document.querySelector(sel);

  const db = R.store("rasad-crew", "items");
  const P = `u${cfg.user_id}:`;  // one phone may be shared: each user has their own outbox
  const KEY = { today: P + "today", action: P + "action:", draft: P + "draft:", ping: P + "ping:" };

  const ACTION_LABEL = { en_route: t("On my way"), on_site: t("On site"), resolved: t("Fixed"),
    cannot_fix: t("Can't fix"), note: t("Note") };
  // What each action does to the incident and the stop, as the server will do it.
  const EFFECT = { en_route: ["en_route", "started"], on_site: ["on_site", "started"],
    resolved: ["resolved", "done"], cannot_fix: ["verified", "returned"], note: [null, null] };
  // The crew's moves from each status (the server's state machine has the final word).
  const ALLOWED = { assigned: ["en_route", "on_site", "cannot_fix", "note"],
    en_route: ["on_site", "cannot_fix", "note"], on_site: ["resolved", "cannot_fix", "note"] };
  const PRIMARY = { assigned: "en_route", en_route: "on_site", on_site: "resolved" };
  const SHEET_ACTIONS = new Set(["resolved", "cannot_fix", "note"]);

  const state = {
    today: null,        // {key, data: /crew/today/ response, saved_at, after_sent: [incident ids]}
    actions: [],        // the outbox, oldest first
    drafts: {},         // incident id -> {before: [{name, blob}], after: [...]}: photos not yet sent
    expanded: new Set(),
    reachable: true,
    authLost: false,
    notMember: false,
    source: "none",     // "server" | "cache"
    gps: "off",
    lastSeq: 0,
  };

  /* ---------- storage ---------- */

  async function loadLocal() {
    let items = [];
    try { items = (await db.all()) || []; } catch (e) { items = []; }
    for (const item of items) {
      if (!item.key || !item.key.startsWith(P)) continue;
      if (item.key === KEY.today) state.today = item;
      else if (item.key.startsWith(KEY.action)) state.actions.push(item);
      else if (item.key.startsWith(KEY.draft)) state.drafts[item.incident_id] = item;
    }
    sortActions();
    if (state.today) state.source = "cache";
  }

  function sortActions() {
    state.actions.sort((a, b) => a.seq - b.seq);
    state.lastSeq = state.actions.reduce((m, a) => Math.max(m, a.seq), state.lastSeq);
  }

  async function reloadActions() {
    const items = (await db.all()) || [];
    state.actions = items.filter((i) => i.key && i.key.startsWith(KEY.action));
    sortActions();
  }

  function saveToday() { return db.put(state.today); }

  /* ---------- the plan as this phone sees it ---------- */

  function baseStops() {
    const plan = state.today && state.today.data && state.today.data.plan;
    return plan ? plan.stops : [];
  }

  function applyEffect(stop, action) {
    const [status, stopState] = EFFECT[action.action] || [null, null];
    if (status) stop.incident.status = status;
    if (stopState) stop.state = stopState;
    stop.incident.version = action.version + 1;
  }

  /* The server's last word on each stop, with the waiting actions applied on top. A stop
     whose first waiting action was refused shows the server's state and holds the rest. */
  function view() {
    const afterSent = new Set((state.today && state.today.after_sent) || []);
    const stops = baseStops().map((s) => ({
      ...s, incident: { ...s.incident }, queued: [], problem: null, held: [],
      hasAfter: afterSent.has(s.incident.id) }));
    const byIncident = new Map(stops.map((s) => [s.incident.id, s]));
    const orphans = [];
    for (const a of state.actions) {
      const stop = byIncident.get(a.incident_id);
      if (!stop) { orphans.push(a); continue; }
      if (stop.problem) { stop.held.push(a); continue; }
      if (a.state === "conflict" || a.state === "error") { stop.problem = a; continue; }
      stop.queued.push(a);
      if (a.after && a.after.length) stop.hasAfter = true;
      applyEffect(stop, a);
    }
    for (const stop of stops) {
      const draft = state.drafts[stop.incident.id];
      stop.draft = draft || { before: [], after: [] };
      if (stop.draft.after.length) stop.hasAfter = true;
      stop.open = stop.state === "pending" || stop.state === "started";
    }
    const open = stops.filter((s) => s.open).sort((a, b) => a.sequence - b.sequence);
    const finished = stops.filter((s) => !s.open).sort((a, b) => a.sequence - b.sequence);
    if (open.length) open[0].next = true;
    return { stops: open.concat(finished), orphans };
  }

  function stopView(incidentId) {
    return view().stops.find((s) => s.incident.id === incidentId);
  }

  /* A newer plan from the server replaces ours, except where this phone already knows a
     newer state of an incident (versions only grow). A copy no newer than ours is the service
     worker's cached answer (the server was not reached): it is ignored. */
  function mergeToday(fresh) {
    const old = state.today && state.today.data;
    if (old && old.server_time && fresh.server_time
        && Date.parse(fresh.server_time) <= Date.parse(old.server_time)) return false;
    const known = new Map();
    if (old && old.plan) for (const s of old.plan.stops) known.set(s.incident.id, s);
    if (fresh.plan) {
      for (const s of fresh.plan.stops) {
        const mine = known.get(s.incident.id);
        if (mine && mine.incident.version > s.incident.version) {
          s.incident.status = mine.incident.status;
          s.incident.version = mine.incident.version;
          s.state = mine.state;
        }
      }
    }
    state.today = { key: KEY.today, data: fresh, saved_at: fresh.server_time || new Date().toISOString(),
      after_sent: (state.today && state.today.after_sent) || [] };
    return true;
  }

  function patchIncident(incident, stopState) {
    if (!state.today || !state.today.data || !state.today.data.plan || !incident) return;
    for (const s of state.today.data.plan.stops) {
      if (s.incident.id !== incident.id) continue;
      if (incident.version >= s.incident.version) {
        s.incident.status = incident.status;
        s.incident.version = incident.version;
        if (stopState) s.state = stopState;
      }
    }
  }

  /* ---------- the outbox ---------- */

  function nextSeq() {
    state.lastSeq = Math.max(Date.now(), state.lastSeq + 1);
    return state.lastSeq;
  }

  function versionFor(incidentId) {
    const pending = state.actions.filter((a) => a.incident_id === incidentId);
    if (pending.length) return pending[pending.length - 1].version + 1;
    const stop = baseStops().find((s) => s.incident.id === incidentId);
    return stop ? stop.incident.version : null;
  }

  const busy = new Set();  // incidents with an action being stored: a double tap is ignored

  function allowedNow(stop, action) {
    if (!stop || stop.problem) return false;
    const allowed = stop.open ? (ALLOWED[stop.incident.status] || ["note"]) : ["note"];
    return allowed.includes(action);
  }

  async function enqueue(incidentId, action, note) {
    const stop = stopView(incidentId);
    if (busy.has(incidentId) || !allowedNow(stop, action)) return;
    busy.add(incidentId);
    try {
      await storeAction(stop, incidentId, action, note);
    } finally {
      busy.delete(incidentId);
    }
    render();
    if (!navigator.onLine) toast(t("Saved on this phone. It will be sent when you are back online."));
    sync();
  }

  async function storeAction(stop, incidentId, action, note) {
    const draft = state.drafts[incidentId] || { before: [], after: [] };
    const clientId = R.uuid();
    const item = {
      key: KEY.action + clientId, client_id: clientId, seq: nextSeq(), incident_id: incidentId,
      stop_id: stop.id, sequence: stop.sequence, action, version: versionFor(incidentId),
      note: note || "", before: draft.before, after: draft.after, state: "pending",
      created_at: new Date().toISOString(),
    };
    await db.put(item);
    if (!state.actions.some((x) => x.key === item.key)) state.actions.push(item);
    if (state.drafts[incidentId]) {
      delete state.drafts[incidentId];
      await db.remove(KEY.draft + incidentId);
    }
  }

  function actionBody(a) {
    const photos = (a.before || []).length + (a.after || []).length;
    if (!photos) {
      const json = { client_id: a.client_id, note: a.note || "" };
      if (a.version) json.version = a.version;
      return { json };
    }
    const form = new FormData();
    form.append("client_id", a.client_id);
    if (a.version) form.append("version", String(a.version));
    form.append("note", a.note || "");
    for (const p of a.before || []) form.append("before_photos", p.blob, p.name);
    for (const p of a.after || []) form.append("after_photos", p.blob, p.name);
    return { body: form };
  }

  /* Send one action. "done" and "refused" change the outbox; "later" stops this pass. */
  async function send(a) {
    const url = cfg.action_url.replace("{incident}", a.incident_id).replace("{action}", a.action);
    let res;
    try {
      res = await R.api(url, Object.assign({ method: "POST" }, actionBody(a)));
    } catch (e) {
      setReachable(false);
      return "later";
    }
    setReachable(true);
    if (res.ok && res.data) {
      patchIncident(res.data.incident, res.data.stop && res.data.stop.state);
      if ((a.after || []).length && state.today) {
        state.today.after_sent = Array.from(new Set([...(state.today.after_sent || []), a.incident_id]));
      }
      if (state.today) await saveToday();
      await db.remove(a.key);
      return "done";
    }
    if (res.status === 409 && res.data && res.data.incident) {
      patchIncident(res.data.incident, null);
      if (state.today) await saveToday();
      await db.put(Object.assign({}, a, { state: "conflict", problem: res.data,
        refused_at: new Date().toISOString() }));
      return "refused";
    }
    if (res.status === 401 || res.status === 403) {
      state.authLost = !(res.data && res.data.code === "not_crew_member");
      state.notMember = !state.authLost;
      return "later";
    }
    if (res.status === 400 || res.status === 404 || res.status === 409 || res.status === 413) {
      await db.put(Object.assign({}, a, { state: "error", problem: res.data || {
        detail: t("The server could not accept this action.") }, refused_at: new Date().toISOString() }));
      return "refused";
    }
    return "later";  // 5xx, 429, a proxy's error page: try again later
  }

  /* One pass over the outbox, oldest first. The outbox is read again before every send, so
     a second pass (another tab, a reload) never sends from a stale list; and a replayed
     client_id gets the stored answer, so nothing happens twice on the server either way. */
  async function syncPass() {
    if (!navigator.onLine || state.authLost) return;
    const sent = new Set();  // each action at most once a pass, whatever the storage does
    for (;;) {
      await reloadActions();
      const blocked = new Set();
      let next = null;
      for (const a of state.actions) {
        if (blocked.has(a.incident_id)) continue;
        if (a.state !== "pending") { blocked.add(a.incident_id); continue; }
        next = a;
        break;
      }
      if (!next || sent.has(next.client_id)) break;
      sent.add(next.client_id);
      renderBar(next);
      const outcome = await send(next);
      await reloadActions();
      render();
      if (outcome === "refused") announceProblems();
      if (outcome === "later") break;
    }
  }

  let syncing = null;
  let syncAgain = false;
  function sync() {
    if (syncing) { syncAgain = true; return syncing; }
    const run = async () => {
      do {
        syncAgain = false;
        if (navigator.locks) await navigator.locks.request(P + "sync", syncPass);
        else await syncPass();
      } while (syncAgain && navigator.onLine);
    };
    syncing = run().catch((e) => { console.error("rasad crew sync", e); })
      .finally(() => { syncing = null; render(); });
    return syncing;
  }

  /* The refused action of an incident and the ones held behind it, in order. */
  function heldFrom(incidentId) {
    const mine = state.actions.filter((a) => a.incident_id === incidentId);
    const first = mine.findIndex((a) => a.state !== "pending");
    return first < 0 ? [] : mine.slice(first);
  }

  /* Retry against the incident as it is now: new client_ids (the old ones have their refusal
     stored on the server) and versions counted on from the one the 409 reported. */
  async function retryProblem(incidentId) {
    const held = heldFrom(incidentId);
    if (!held.length) return;
    const problem = held[0].problem || {};
    const base = baseStops().find((s) => s.incident.id === incidentId);
    let version = problem.incident ? problem.incident.version
      : (base ? base.incident.version : held[0].version);
    for (const a of held) {
      const clientId = R.uuid();
      await db.put(Object.assign({}, a, { key: KEY.action + clientId, client_id: clientId,
        version, state: "pending", problem: null, retried_from: a.client_id }));
      await db.remove(a.key);
      version += 1;
    }
    await reloadActions();
    render();
    sync();
  }

  async function discardProblem(incidentId) {
    for (const a of heldFrom(incidentId)) await db.remove(a.key);
    await reloadActions();
    render();
    refreshToday();
  }

  /* ---------- today's plan from the server ---------- */

  async function refreshToday() {
    if (!navigator.onLine) { render(); return; }
    let res;
    try {
      res = await R.api(cfg.today_url);
    } catch (e) {
      setReachable(false);
      render();
      return;
    }
    if (res.ok && res.data) {
      const fresh = mergeToday(res.data);
      if (fresh) await saveToday();
      state.source = fresh ? "server" : "cache";
      setReachable(fresh);
      state.notMember = false;
    } else if (res.status === 403 && res.data && res.data.code === "not_crew_member") {
      setReachable(true);
      state.notMember = true;
    } else if (res.status === 401 || res.status === 403) {
      setReachable(true);
      state.authLost = true;
    }
    render();
    gpsUpdate();
    if (!state.mapFitted) fitMap();
  }

  /* ---------- photos ---------- */

  async function shrink(file) {
    // Phones take 4000-pixel photos; over a weak signal 1600 pixels is plenty.
    const MAX = 1600;
    try {
      if (!window.createImageBitmap) return file;
      const bitmap = await createImageBitmap(file);
      const scale = Math.min(1, MAX / Math.max(bitmap.width, bitmap.height));
      if (scale === 1 && file.size <= (cfg.max_photo_bytes || Infinity)) {
        bitmap.close();
        return file;
      }
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
      return blob || file;
    } catch (e) {
      return file;  // not decodable here (HEIC on some browsers): the server decides
    }
  }

  async function stagePhotos(incidentId, kind, files) {
    const draft = state.drafts[incidentId] || { key: KEY.draft + incidentId,
      incident_id: incidentId, before: [], after: [] };
    for (const file of Array.from(files || [])) {
      if (draft[kind].length >= 5) { toast(t("At most 5 photos of each kind.")); break; }
      const blob = await shrink(file);
      if (cfg.max_photo_bytes && blob.size > cfg.max_photo_bytes) {
        toast(t("This photo is too large."));
        continue;
      }
      const n = draft[kind].length + 1;
      draft[kind].push({ name: `${kind}-${n}.jpg`, blob, type: blob.type || "image/jpeg" });
    }
    state.drafts[incidentId] = draft;
    await db.put(draft);
    render();
    renderSheet();
  }

  async function unstagePhoto(incidentId, kind, index) {
    const draft = state.drafts[incidentId];
    if (!draft) return;
    draft[kind].splice(index, 1);
    if (!draft.before.length && !draft.after.length) {
      delete state.drafts[incidentId];
      await db.remove(KEY.draft + incidentId);
    } else {
      await db.put(draft);
    }
    render();
    renderSheet();
  }

  const thumbUrls = new WeakMap();
  function thumb(blob) {
    if (!thumbUrls.has(blob)) thumbUrls.set(blob, URL.createObjectURL(blob));
    return thumbUrls.get(blob);
  }

  function trayHtml(stop) {
    const items = [];
    for (const kind of ["before", "after"]) {
      stop.draft[kind].forEach((p, i) => {
        items.push(`<figure class="crew-thumb"><img src="${thumb(p.blob)}" alt="">
          <figcaption>${R.esc(kind === "before" ? t("Before") : t("After"))}</figcaption>
          <button type="button" class="crew-thumb-remove" data-unstage="${stop.incident.id}"
            data-kind="${kind}" data-index="${i}" aria-label="${R.esc(t("Remove photo"))}">×</button></figure>`);
      });
    }
    return items.length ? `<div class="crew-tray">${items.join("")}</div>` : "";
  }

  // Inline icons: phones without an emoji font would show boxes.
  const ICON = {
    camera: '<svg class="crew-icon" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M9 3 7.2 5H4a2 2 0 0 0-2 2v11a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2h-3.2L15 3H9zm3 5a5 5 0 1 1 0 10 5 5 0 0 1 0-10zm0 2a3 3 0 1 0 0 6 3 3 0 0 0 0-6z"/></svg>',
    navigate: '<svg class="crew-icon" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M21 3 3 10.5v1l7 2.5 2.5 7h1L21 3z"/></svg>',
  };

  function cameraHtml(incidentId, kind, required) {
    const label = kind === "before" ? t("Before photo") : t("After photo");
    return `<label class="btn secondary crew-camera${required ? " is-required" : ""}" data-kind="${kind}">
      <input type="file" accept="image/*" capture="environment" class="crew-file"
        data-stage="${incidentId}" data-kind="${kind}" name="${kind}">
      ${ICON.camera} ${R.esc(label)}</label>`;
  }

  /* ---------- rendering ---------- */

  function fmtTime(iso) { return iso ? R.fmtDate(iso, { timeStyle: "short" }) : ""; }
  function num(n) { return R.fmtNumber(n); }

  function navigateHref(stop) {
    const [lon, lat] = stop.incident.location.coordinates;
    if (/iPhone|iPad|iPod/.test(navigator.userAgent)) return `https://maps.apple.com/?daddr=${lat},${lon}`;
    return stop.navigate;
  }

  function actionList(actions) {
    return actions.map((a) => `${R.esc(ACTION_LABEL[a.action] || a.action)}
      <span class="muted">${R.esc(fmtTime(a.created_at))}</span>`).join(" · ");
  }

  function problemHtml(stop) {
    const a = stop.problem;
    const body = a.problem || {};
    const conflict = a.state === "conflict";
    const current = body.incident;
    const errors = body.errors ? Object.values(body.errors).flat().map(String) : [];
    const details = [body.detail].concat(errors.filter((e) => e !== body.detail)).filter(Boolean);
    return `<div class="crew-problem" role="alert" data-problem="${a.state}">
      <strong>${R.esc(conflict ? t("Someone else changed this job") : t("This action was not accepted"))}</strong>
      ${current ? `<p>${R.esc(t("Now:"))} <span class="badge status-${R.esc(current.status)}"
        data-current-status="${R.esc(current.status)}">${R.esc(R.statusLabel(current.status))}</span></p>` : ""}
      ${details.map((d) => `<p class="crew-problem-detail">${R.esc(d)}</p>`).join("")}
      <p>${R.esc(t("Not sent:"))} ${actionList([a, ...stop.held])}</p>
      <div class="crew-grid">
        <button type="button" class="btn big" data-retry="${stop.incident.id}">${R.esc(
          conflict ? t("Send again on the new version") : t("Try again"))}</button>
        <button type="button" class="btn big secondary" data-discard="${stop.incident.id}">${R.esc(t("Discard my actions"))}</button>
      </div></div>`;
  }

  function actionsHtml(stop) {
    if (stop.problem) return problemHtml(stop);
    const status = stop.incident.status;
    const allowed = stop.open ? (ALLOWED[status] || ["note"]) : ["note"];
    const primary = stop.open ? PRIMARY[status] : null;
    const button = (action, cls) => `<button type="button" class="btn big ${cls}" data-act="${action}"
      data-incident="${stop.incident.id}">${R.esc(ACTION_LABEL[action])}${
        action === "cannot_fix" ? ` <span class="crew-hint">${R.esc(t("(reason)"))}</span>` : ""}</button>`;
    const others = allowed.filter((a) => a !== primary);
    return `<div class="crew-actions">
      ${primary ? button(primary, "crew-primary") : ""}
      <div class="crew-grid">${others.map((a) => button(a,
        a === "cannot_fix" ? "secondary crew-warn" : "secondary")).join("")}</div>
    </div>`;
  }

  function stopHtml(stop) {
    const id = stop.incident.id;
    const expanded = stop.next || stop.problem || state.expanded.has(id);
    const status = stop.incident.status;
    const waiting = stop.queued.length
      ? `<p class="crew-queued" data-queued="${stop.queued.length}"><span aria-hidden="true">⏳</span>
         ${R.esc(t("Waiting to send:"))} ${actionList(stop.queued)}</p>` : "";
    const photoRule = stop.incident.photo_required_to_resolve
      ? `<p class="crew-rule">${R.esc(t("An after photo is required to mark this fixed."))}</p>` : "";
    return `<li class="crew-stop${stop.next ? " is-next" : ""}${stop.open ? "" : " is-done"}${
        stop.problem ? " has-problem" : ""}" id="stop-${id}" data-incident="${id}"
        data-sequence="${stop.sequence}" data-status="${R.esc(status)}">
      <button type="button" class="crew-stop-head" data-toggle="${id}" aria-expanded="${expanded ? "true" : "false"}">
        <span class="crew-seq" aria-label="${R.esc(t("Stop"))}">${num(stop.sequence)}</span>
        <span class="crew-stop-title">
          ${stop.next ? `<span class="crew-next">${R.esc(t("Next stop"))}</span>` : ""}
          <strong>${R.esc(stop.incident.category_name)}</strong>
          <span class="muted">#${num(id)} · ${R.esc(t("ETA"))} <span class="crew-eta">${R.esc(fmtTime(stop.eta))}</span></span>
        </span>
        <span class="badge status-${R.esc(status)} crew-status">${R.esc(R.statusLabel(status))}</span>
      </button>
      ${expanded ? `<div class="crew-stop-body">
        ${waiting}
        ${stop.open ? `<a class="btn big secondary crew-navigate" href="${R.esc(navigateHref(stop))}">
          ${ICON.navigate} ${R.esc(t("Navigate"))}</a>` : ""}
        ${actionsHtml(stop)}
        ${stop.open && !stop.problem ? `<div class="crew-photos">${photoRule}
          <div class="crew-grid">${cameraHtml(id, "before")}${cameraHtml(id, "after")}</div>
          ${trayHtml(stop)}</div>` : ""}
      </div>` : ""}
    </li>`;
  }

  function setReachable(value) {
    if (state.reachable !== value) { state.reachable = value; renderBar(); }
  }

  function renderBar(sending) {
    const offline = !navigator.onLine || !state.reachable;
    $("#crew-offline").classList.toggle("hidden", !offline);
    $("#crew-offline").textContent = !navigator.onLine
      ? t("You are offline. Your actions are kept on this phone and sent when the signal is back.")
      : t("The server cannot be reached. Your actions are kept on this phone and sent later.");
    const n = state.actions.length;
    const waiting = $("#crew-waiting");
    waiting.classList.toggle("hidden", n === 0);
    waiting.dataset.count = String(n);
    const problems = state.actions.filter((a) => a.state !== "pending").length;
    waiting.classList.toggle("has-problem", problems > 0);
    $("#crew-waiting-text").textContent = interp(nt("%(n)s action waiting", "%(n)s actions waiting", n),
      { n: num(n) });
    $("#crew-waiting-state").textContent = syncing || sending ? t("sending…")
      : (navigator.onLine ? t("Send now") : "");
    const auth = $("#crew-auth");
    auth.classList.toggle("hidden", !state.authLost);
    const member = $("#crew-not-member");
    member.classList.toggle("hidden", !state.notMember);
    const gps = $("#crew-gps");
    gps.dataset.state = state.gps;
    gps.textContent = { on: t("GPS on"), off: t("GPS off"), denied: t("GPS not allowed"),
      unavailable: t("No GPS"), waiting: t("GPS…") }[state.gps] || "";
  }

  function render() {
    renderBar();
    const data = state.today && state.today.data;
    const crew = data && data.crew;
    $("#crew-name").textContent = crew ? crew.name : "";
    $("#crew-shift").textContent = crew && crew.shift
      ? interp(t("Shift %(start)s–%(end)s"), { start: fmtTime(crew.shift.starts_at), end: fmtTime(crew.shift.ends_at) })
      : "";
    const v = view();
    const list = $("#crew-stops");
    list.innerHTML = v.stops.map(stopHtml).join("");
    const empty = $("#crew-empty");
    empty.classList.toggle("hidden", v.stops.length > 0);
    empty.textContent = !data
      ? t("No route saved on this phone yet. Connect to the internet to load today's stops.")
      : t("No stops planned for today.");
    const source = $("#crew-source");
    if (state.today && state.today.saved_at) {
      const when = fmtTime(state.today.saved_at);
      source.textContent = state.source === "server" && navigator.onLine && state.reachable
        ? interp(t("Route updated %(time)s"), { time: when })
        : interp(t("Showing the route saved on this phone at %(time)s"), { time: when });
    } else {
      source.textContent = "";
    }
    const orphans = $("#crew-orphans");
    orphans.classList.toggle("hidden", !v.orphans.length);
    const stuck = [...new Set(v.orphans.filter((a) => a.state !== "pending").map((a) => a.incident_id))];
    orphans.innerHTML = v.orphans.length ? `${R.esc(t("Waiting to send for jobs no longer on your route:"))}
      ${actionList(v.orphans)}${stuck.map((id) => `<button type="button" class="btn secondary"
        data-discard="${id}">${R.esc(interp(t("Discard the actions for #%(id)s"), { id: num(id) }))}</button>`).join("")}` : "";
    drawMap(v);
  }

  let toastTimer = null;
  function toast(message) {
    const el = $("#crew-toast");
    el.textContent = message;
    el.classList.remove("hidden");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => el.classList.add("hidden"), 4000);
  }

  function announceProblems() {
    const stop = view().stops.find((s) => s.problem);
    if (stop) {
      toast(interp(t("Stop %(n)s needs your attention."), { n: num(stop.sequence) }));
      if (navigator.vibrate) navigator.vibrate(200);
    }
  }

  /* ---------- the map ---------- */

  const map = cfg.map ? R.mapByName(cfg.map) : null;
  let routeLayer = null;
  let meMarker = null;
  if (map) {
    R.roadsFallback(map);
    routeLayer = L.layerGroup().addTo(map);
  }

  function drawMap(v) {
    if (!map) return;
    routeLayer.clearLayers();
    const plan = state.today && state.today.data && state.today.data.plan;
    if (plan && plan.geometry) {
      L.geoJSON(plan.geometry, { interactive: false,
        style: { color: "#0b5cad", weight: 5, opacity: 0.7 } }).addTo(routeLayer);
    }
    for (const stop of v.stops.slice().reverse()) {
      const [lon, lat] = stop.incident.location.coordinates;
      const cls = `crew-pin${stop.next ? " is-next" : ""}${stop.open ? "" : " is-done"}${stop.problem ? " has-problem" : ""}`;
      const size = stop.next ? 40 : 32;
      L.marker([lat, lon], {
        icon: L.divIcon({ className: cls, html: `<span>${num(stop.sequence)}</span>`,
          iconSize: [size, size], iconAnchor: [size / 2, size / 2] }),
        title: `${stop.sequence}. ${stop.incident.category_name}`,
        zIndexOffset: stop.next ? 1000 : 0, keyboard: false,
      }).on("click", () => focusStop(stop.incident.id)).addTo(routeLayer);
    }
  }

  function fitMap() {
    if (!map) return;
    const plan = state.today && state.today.data && state.today.data.plan;
    if (!plan || !plan.stops.length) return;
    const points = plan.stops.map((s) => [s.incident.location.coordinates[1], s.incident.location.coordinates[0]]);
    if (plan.geometry && plan.geometry.coordinates) {
      for (const c of plan.geometry.coordinates) points.push([c[1], c[0]]);
    }
    map.fitBounds(L.latLngBounds(points), { padding: [44, 44], maxZoom: 16 });
    state.mapFitted = true;
  }

  function focusStop(incidentId) {
    state.expanded.add(incidentId);
    render();
    const el = document.getElementById(`stop-${incidentId}`);
    if (el) el.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  /* ---------- GPS ---------- */

  let watchId = null;
  let lastFix = { at: 0, lat: 0, lon: 0 };

  function metres(a, c) {
    const k = 111320;
    const dx = (c.longitude - a.lon) * k * Math.cos((c.latitude * Math.PI) / 180);
    const dy = (c.latitude - a.lat) * k;
    return Math.sqrt(dx * dx + dy * dy);
  }
  let firstPing = true;

  function onShift() {
    const crew = state.today && state.today.data && state.today.data.crew;
    if (!crew || !crew.shift) return false;
    const now = Date.now();
    return Date.parse(crew.shift.starts_at) <= now && now < Date.parse(crew.shift.ends_at);
  }

  function gpsUpdate() {
    const want = onShift();
    if (!("geolocation" in navigator)) { state.gps = "unavailable"; renderBar(); return; }
    if (want && watchId === null) {
      state.gps = "waiting";
      watchId = navigator.geolocation.watchPosition(onFix, onGpsError,
        { enableHighAccuracy: true, maximumAge: 10000, timeout: 60000 });
    } else if (!want && watchId !== null) {
      navigator.geolocation.clearWatch(watchId);
      watchId = null;
      state.gps = "off";
    }
    renderBar();
  }

  function isoWithOffset(d) {
    const pad = (n, w) => String(n).padStart(w || 2, "0");
    const off = -d.getTimezoneOffset();
    const abs = Math.abs(off);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:` +
      `${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}` +
      `${off >= 0 ? "+" : "-"}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  }

  async function onFix(position) {
    state.gps = "on";
    const at = position.timestamp || Date.now();
    const c = position.coords;
    if (map) {
      const ll = [c.latitude, c.longitude];
      if (!meMarker) {
        meMarker = L.circleMarker(ll, { radius: 8, color: "#fff", weight: 3, fillColor: "#1a73e8",
          fillOpacity: 1, interactive: false }).addTo(map);
      } else {
        meMarker.setLatLng(ll);
      }
    }
    renderBar();
    // A ping every 5 s at most, unless the crew moved on (25 m); sent in batches.
    if (at - lastFix.at < 5000 && metres(lastFix, c) < 25) return;
    lastFix = { at, lat: c.latitude, lon: c.longitude };
    const recordedAt = isoWithOffset(new Date(at));
    await db.put({ key: KEY.ping + recordedAt, lon: c.longitude, lat: c.latitude,
      recorded_at: recordedAt, accuracy_m: c.accuracy == null ? null : c.accuracy,
      speed_mps: c.speed == null || Number.isNaN(c.speed) ? null : c.speed,
      heading_deg: c.heading == null || Number.isNaN(c.heading) ? null : c.heading });
    if (firstPing) { firstPing = false; flushPings(); }
  }

  function onGpsError(error) {
    state.gps = error && error.code === 1 ? "denied" : "waiting";
    renderBar();
  }

  let flushing = false;
  async function flushPings() {
    if (flushing || !navigator.onLine || state.authLost) return;
    flushing = true;
    try {
      const all = ((await db.all()) || []).filter((i) => i.key && i.key.startsWith(KEY.ping));
      all.sort((a, b) => (a.key < b.key ? -1 : 1));
      for (let i = 0; i < all.length; i += 500) {
        const batch = all.slice(i, i + 500);
        let res;
        try {
          res = await R.api(cfg.positions_url, { method: "POST", json: { positions: batch.map((p) => ({
            lon: p.lon, lat: p.lat, recorded_at: p.recorded_at, accuracy_m: p.accuracy_m,
            speed_mps: p.speed_mps, heading_deg: p.heading_deg })) } });
        } catch (e) {
          setReachable(false);
          break;
        }
        setReachable(true);
        // A batch the server refuses as invalid would be refused forever: drop it.
        if (res.ok || res.status === 400) {
          for (const p of batch) await db.remove(p.key);
        } else {
          break;
        }
      }
    } finally {
      flushing = false;
    }
  }

  /* ---------- the action sheet: Fixed, Can't fix, Note ---------- */

  const sheet = $("#crew-sheet");
  let sheetFor = null;

  function openSheet(incidentId, action) {
    sheetFor = { incidentId, action };
    $("#crew-sheet-note").value = "";
    renderSheet();
    if (sheet.showModal) sheet.showModal(); else sheet.setAttribute("open", "");
    if (action !== "resolved") $("#crew-sheet-note").focus();
  }

  function closeSheet() {
    sheetFor = null;
    if (sheet.close) sheet.close(); else sheet.removeAttribute("open");
  }

  function renderSheet() {
    if (!sheetFor) return;
    const stop = stopView(sheetFor.incidentId);
    if (!stop) { closeSheet(); return; }
    const action = sheetFor.action;
    sheet.dataset.action = action;
    $("#crew-sheet-title").textContent = { resolved: t("Mark fixed"), cannot_fix: t("Can't fix it"),
      note: t("Add a note") }[action];
    $("#crew-sheet-stop").textContent = `${num(stop.sequence)}. ${stop.incident.category_name} · #${num(stop.incident.id)}`;
    $("#crew-sheet-reasons").classList.toggle("hidden", action !== "cannot_fix");
    $("#crew-sheet-note-label").textContent = { resolved: t("Note (optional)"),
      cannot_fix: t("Why can't it be fixed?"), note: t("Note for dispatch") }[action];
    const kinds = action === "resolved" ? ["after", "before"] : ["before", "after"];
    const needsPhoto = action === "resolved" && stop.incident.photo_required_to_resolve && !stop.hasAfter;
    $("#crew-sheet-photos").innerHTML = `<div class="crew-grid">${kinds.map((k) =>
      cameraHtml(stop.incident.id, k, needsPhoto && k === "after")).join("")}</div>${trayHtml(stop)}`;
    const needsNote = action !== "resolved" && !$("#crew-sheet-note").value.trim();
    const hint = $("#crew-sheet-error");
    hint.classList.toggle("hidden", !needsPhoto);
    hint.textContent = needsPhoto ? t("A photo of the finished work is required for this job. Take an after photo.") : "";
    $("#crew-sheet-send").disabled = needsPhoto || needsNote;
  }

  async function sendSheet() {
    if (!sheetFor) return;
    const { incidentId, action } = sheetFor;
    const stop = stopView(incidentId);
    const note = $("#crew-sheet-note").value.trim();
    if (action === "resolved" && stop.incident.photo_required_to_resolve && !stop.hasAfter) { renderSheet(); return; }
    if (action !== "resolved" && !note) { renderSheet(); return; }
    closeSheet();
    await enqueue(incidentId, action, note);
  }

  /* ---------- events ---------- */

  function onClick(event) {
    const el = event.target.closest("button, a");
    if (!el) return;
    if (el.dataset.act) {
      const id = Number(el.dataset.incident);
      if (SHEET_ACTIONS.has(el.dataset.act)) openSheet(id, el.dataset.act);
      else enqueue(id, el.dataset.act, "");
    } else if (el.dataset.toggle) {
      const id = Number(el.dataset.toggle);
      if (state.expanded.has(id)) state.expanded.delete(id); else state.expanded.add(id);
      render();
      const stop = stopView(id);
      if (map && stop) map.panTo([stop.incident.location.coordinates[1], stop.incident.location.coordinates[0]]);
    } else if (el.dataset.retry) {
      retryProblem(Number(el.dataset.retry));
    } else if (el.dataset.discard) {
      discardProblem(Number(el.dataset.discard));
    } else if (el.dataset.unstage) {
      unstagePhoto(Number(el.dataset.unstage), el.dataset.kind, Number(el.dataset.index));
    }
  }

  function onChange(event) {
    const input = event.target;
    if (input.matches && input.matches("input.crew-file")) {
      stagePhotos(Number(input.dataset.stage), input.dataset.kind, input.files);
      input.value = "";
    }
  }

  function bind() {
    $("#crew-stops").addEventListener("click", onClick);
    $("#crew-orphans").addEventListener("click", onClick);
    $("#crew-stops").addEventListener("change", onChange);
    sheet.addEventListener("click", (event) => {
      if (event.target === sheet) { closeSheet(); return; }  // a tap on the backdrop
      const reason = event.target.closest("[data-reason]");
      if (reason) {
        $("#crew-sheet-note").value = reason.dataset.reason;
        renderSheet();
        return;
      }
      onClick(event);
    });
    sheet.addEventListener("change", onChange);
    $("#crew-sheet-note").addEventListener("input", renderSheet);
    $("#crew-sheet-cancel").addEventListener("click", closeSheet);
    $("#crew-sheet-send").addEventListener("click", sendSheet);
    sheet.addEventListener("close", () => { sheetFor = null; });
    $("#crew-waiting").addEventListener("click", () => { sync(); flushPings(); });
    window.addEventListener("online", () => {
      state.reachable = true;
      // "Saved on this phone…" no longer holds: the queue is about to go.
      clearTimeout(toastTimer);
      $("#crew-toast").classList.add("hidden");
      render();
      sync().then(refreshToday);
      flushPings();
    });
    window.addEventListener("offline", render);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && navigator.onLine) { sync(); flushPings(); }
    });
    // Periodic retry: a dead zone does not always fire 'online' when it ends.
    setInterval(() => {
      if (!navigator.onLine) return;
      if (state.actions.some((a) => a.state === "pending")) sync();
      flushPings();
    }, (cfg.retry_interval_s || 20) * 1000);
    setInterval(() => { flushPings(); gpsUpdate(); }, (cfg.ping_interval_s || 15) * 1000);
    setInterval(() => { if (navigator.onLine && !syncing) refreshToday(); }, 5 * 60 * 1000);
  }

  async function start() {
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js").catch(() => {});
    }
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
    bind();
    await loadLocal();
    render();
    fitMap();
    gpsUpdate();
    await Promise.all([sync(), refreshToday()]);
  }

  window.RasadCrew = { sync, refreshToday, flushPings, state, view, map, config: cfg };
  start();
})();
