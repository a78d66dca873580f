/* Rasad town-hall meetings: the list of meetings, recording one, and, during the meeting,
   the needs residents raise, one line each: at a place (street search or a click on the
   map; filed as a report with channel `meeting`) or a district need. Each need shows where
   it stands now (open, referred, resolved); the district's last meeting's open needs come
   first. Everything goes through /api/v1/meetings/…; resident text is only inserted as
   textContent. */
(function () {
  "use strict";
  const R = window.Rasad;
  const cfg = R.config;
  const { gettext, interpolate, ngettext } = R;
  const map = R.mapByName(cfg.map);
  const $ = (sel, root) => (root || document).querySelector(sel);
  const el = R.el;
  const state = { meetings: [], current: null, pin: null, marker: null, places: [] };

  if (map) {
    const b = cfg.area_bounds;  // [west, south, east, north]
    if (b) map.fitBounds(L.latLngBounds([b[1], b[0]], [b[3], b[2]]), { padding: [16, 16], animate: false });
    if (window.ResizeObserver) new ResizeObserver(() => map.invalidateSize()).observe(map.getContainer());
    R.roadsFallback(map);
  }

  function meetingTitle(m) {
    const where = m.district_name || m.sector;
    return interpolate(gettext("%(where)s, %(date)s"), {
      where, date: R.fmtDate(m.held_at, { dateStyle: "medium" }) }, true);
  }

  async function listLoad(selectId) {
    const res = await R.api(cfg.urls.meetings);
    if (!res.ok) return;
    state.meetings = res.data.results;
    const list = $("#mt-list");
    list.replaceChildren(...state.meetings.map((m) => el("li", {}, [
      el("a", { href: `?meeting=${m.id}`, "data-id": String(m.id), text: meetingTitle(m),
                class: state.current && state.current.id === m.id ? "current" : "" })])));
    $("#mt-empty").classList.toggle("hidden", state.meetings.length > 0);
    if (selectId) meetingOpen(selectId);
  }

  function fieldErrors(form, data) {
    form.querySelectorAll("[data-error-for]").forEach((p) => { p.textContent = ""; });
    const errors = (data && data.errors) || {};
    let shown = false;
    for (const [field, messages] of Object.entries(errors)) {
      const slot = Array.from(form.querySelectorAll("[data-error-for]"))
        .find((p) => p.dataset.errorFor.split(" ").includes(field));
      if (slot) { slot.textContent = messages.join(" "); shown = true; }
    }
    return shown;
  }

  $("#mt-new-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const values = new FormData(form);
    const held = values.get("held_at");
    const body = {
      held_at: held ? new Date(held).toISOString() : null, place: values.get("place"),
      district: values.get("district"), sector: values.get("sector"),
      departments: values.getAll("departments").join(","),
      agencies: values.getAll("agencies").join(","),
      attendance: Number(values.get("attendance") || 0), minutes: values.get("minutes"),
    };
    if (!body.held_at) delete body.held_at;
    const res = await R.api(cfg.urls.meetings, { json: body });
    $("#mt-new-error").textContent = "";
    if (!res.ok) {
      if (!fieldErrors(form, res.data)) $("#mt-new-error").textContent = R.errorText(res);
      return;
    }
    form.reset();
    $("#mt-new").open = false;
    history.replaceState(null, "", `?meeting=${res.data.id}`);
    listLoad(res.data.id);
  });

  $("#mt-list").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-id]");
    if (!link) return;
    event.preventDefault();
    history.replaceState(null, "", `?meeting=${link.dataset.id}`);
    meetingOpen(Number(link.dataset.id));
  });

  function stageBadge(row) {
    const text = row.stage === "referred" && row.referred_to
      ? interpolate(gettext("referred to %(agency)s"), { agency: row.referred_to }, true)
      : row.status_label;
    return el("span", { class: `badge stage-${row.stage}`, text });
  }

  function needRow(row) {
    const what = el("td", {}, [el("span", { text: row.text })]);
    if (row.tracking_code) what.append(" ", el("span", { class: "muted small", dir: "ltr", text: row.tracking_code }));
    const stage = el("td", {}, [stageBadge(row)]);
    if (row.kind === "district") {
      const select = el("select", { "aria-label": gettext("District need's status"), "data-need": String(row.id) },
        cfg.need_statuses.map((s) => el("option", { value: s.code, text: s.name })));
      select.value = row.status;
      stage.append(" ", select);
    }
    return el("tr", { "data-need": String(row.id), "data-stage": row.stage }, [
      what, el("td", { text: row.category_name || "—" }), stage,
      el("td", { text: row.answered ? (row.answer || gettext("answered on the spot")) : "" })]);
  }

  function render(m) {
    state.current = m;
    $("#mt-placeholder").classList.add("hidden");
    $("#mt-detail").classList.remove("hidden");
    $("#mt-heading").textContent = meetingTitle(m);
    const who = [...m.departments, ...m.agencies].map((d) => d.name).join(" · ");
    $("#mt-facts").textContent = [m.place, ngettext("%(count)s resident", "%(count)s residents", m.attendance,
      { count: R.fmtNumber(m.attendance) }), who].filter(Boolean).join(" — ");
    $("#mt-print").href = `/meetings/${m.token}/`;
    $("#mt-sent").textContent = m.summary_sent_at
      ? interpolate(gettext("Summary sent %(when)s"), { when: R.fmtDate(m.summary_sent_at, { dateStyle: "medium", timeStyle: "short" }) }, true) : "";
    $("#mt-photos").replaceChildren(...m.photos.map((p) =>
      el("img", { src: p.url, alt: gettext("Photo of the meeting"), width: "120", loading: "lazy" })));
    $("#mt-needs tbody").replaceChildren(...m.needs.map(needRow));
    $("#mt-counts").textContent = interpolate(gettext(
      "%(raised)s needs · %(answered)s answered on the spot · %(referred)s referred · %(resolved)s resolved since"),
    Object.fromEntries(Object.entries(m.counts).map(([k, v]) => [k, R.fmtNumber(v)])), true);
    const previous = m.previous;
    $("#mt-previous").classList.toggle("hidden", !previous || !previous.open_needs.length);
    if (previous) {
      $("#mt-previous-title").textContent = interpolate(gettext("Still open from the meeting of %(date)s"),
        { date: R.fmtDate(previous.held_at, { dateStyle: "medium" }) }, true);
      $("#mt-previous-list").replaceChildren(...previous.open_needs.map((row) =>
        el("li", {}, [el("span", { text: row.text }), " ", stageBadge(row)])));
    }
    document.querySelectorAll("#mt-list a").forEach((a) =>
      a.classList.toggle("current", Number(a.dataset.id) === m.id));
  }

  async function meetingOpen(id) {
    const res = await R.api(`${cfg.urls.meetings}${id}/`);
    if (res.ok) render(res.data);
  }

  function pinSet(latlng, label) {
    state.pin = latlng;
    if (state.marker) state.marker.setLatLng(latlng); else state.marker = L.marker(latlng).addTo(map);
    $("#mt-pin-status").textContent = label || gettext("Placed on the map.");
  }

  if (map) map.on("click", (e) => { if (!$("#mt-district-need").checked) pinSet(e.latlng); });

  let typing = null;
  $("#mt-street").addEventListener("input", (event) => {
    clearTimeout(typing);
    const q = event.target.value.trim();
    const chosen = state.places.find((p) => p.name === q);
    if (chosen) { pinSet(L.latLng(chosen.lat, chosen.lon), chosen.name); map.setView(state.pin, 17); return; }
    if (q.length < 3) return;
    typing = setTimeout(async () => {
      const res = await R.api(`${cfg.urls.geocode}?q=${encodeURIComponent(q)}`);
      if (!res.ok) return;
      state.places = res.data.results;
      $("#mt-street-options").replaceChildren(...state.places.map((p) => el("option", { value: p.name })));
    }, 250);
  });

  $("#mt-district-need").addEventListener("change", (event) => {
    $(".mt-place-field").classList.toggle("hidden", event.target.checked);
  });

  $("#mt-need-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!state.current) return;
    const form = event.target;
    const values = new FormData(form);
    const body = {
      text: values.get("text"), category: values.get("category"),
      district_need: !!values.get("district_need"), name: values.get("name"),
      phone: values.get("phone"), email: values.get("email"), language: values.get("language"),
      answered: !!values.get("answered"), answer: values.get("answer"),
    };
    if (!body.district_need && state.pin) {
      body.lon = Number(state.pin.lng.toFixed(7));
      body.lat = Number(state.pin.lat.toFixed(7));
      body.address = $("#mt-street").value;
    }
    const res = await R.api(`${cfg.urls.meetings}${state.current.id}/needs/`, { json: body });
    $("#mt-need-error").textContent = "";
    if (!res.ok) {
      if (!fieldErrors(form, res.data)) $("#mt-need-error").textContent = R.errorText(res);
      return;
    }
    fieldErrors(form, null);
    const keep = values.get("language");
    form.reset();
    $("#mt-language").value = keep;
    $(".mt-place-field").classList.remove("hidden");
    if (state.marker) { map.removeLayer(state.marker); state.marker = null; }
    state.pin = null;
    $("#mt-pin-status").textContent = "";
    $("#mt-text").focus();
    meetingOpen(state.current.id);
  });

  $("#mt-needs").addEventListener("change", async (event) => {
    const select = event.target.closest("select[data-need]");
    if (!select) return;
    const res = await R.api(`${cfg.urls.meetings}${state.current.id}/needs/${select.dataset.need}/status/`,
      { json: { status: select.value } });
    if (res.ok) meetingOpen(state.current.id);
  });

  $("#mt-photo").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file || !state.current) return;
    const body = new FormData();
    body.append("photo", file);
    const res = await R.api(`${cfg.urls.meetings}${state.current.id}/photos/`, { method: "POST", body });
    $("#mt-photo-error").textContent = res.ok ? "" : R.errorText(res);
    event.target.value = "";
    if (res.ok) meetingOpen(state.current.id);
  });

  $("#mt-send").addEventListener("click", async () => {
    const res = await R.api(`${cfg.urls.meetings}${state.current.id}/summary/send/`, { method: "POST" });
    $("#mt-sent").textContent = res.ok
      ? ngettext("Summary sent to %(count)s resident.", "Summary sent to %(count)s residents.", res.data.queued, { count: R.fmtNumber(res.data.queued) })
      : R.errorText(res);
  });

  const asked = Number(new URLSearchParams(location.search).get("meeting")) || null;
  listLoad(asked);
})();
