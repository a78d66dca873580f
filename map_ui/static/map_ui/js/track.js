/* Rasad tracking: /track/<code>/ shows a report's status, public timeline, place and photos,
   and lets the reporter confirm a fix or reopen it; /track/ lists the reports sent from this
   phone. Citizen and staff text reaches the page only through textContent. */
(function () {
  "use strict";
  const R = window.Rasad;
  const { gettext, ngettext, interpolate: fmt, el, registerWorker } = R;
  const gettext_noop = (msg) => msg;
  // Status names that Rasad.statusLabel translates: listed here so makemessages -d djangojs
  // collects them.
  gettext_noop("new"); gettext_noop("verified"); gettext_noop("assigned"); gettext_noop("en route");
  gettext_noop("on site"); gettext_noop("resolved"); gettext_noop("closed"); gettext_noop("rejected");
  gettext_noop("merged"); gettext_noop("reopened");

  const config = R.config || {};
  const MINE_KEY = "rasad-my-reports";
  const STATUSES = ["new", "verified", "assigned", "en_route", "on_site", "resolved", "closed",
    "rejected", "merged", "reopened", "referred"];

  function safeUrl(url) {
    try {
      const u = new URL(url, window.location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  }
  function badge(node, status) {
    node.className = `badge status-${STATUSES.includes(status) ? status : "new"}`;
    node.textContent = R.statusLabel(status);
    node.dataset.status = status || "";
  }
  function mine() {
    try { return JSON.parse(localStorage.getItem(MINE_KEY) || "[]"); } catch (e) { return []; }
  }
  function remember(entry) {
    try {
      const list = mine();
      const old = list.find((e) => e.code === entry.code) || {};
      const rest = list.filter((e) => e.code !== entry.code);
      localStorage.setItem(MINE_KEY, JSON.stringify([Object.assign(old, entry), ...rest].slice(0, 50)));
    } catch (e) { /* storage disabled */ }
  }

  /* ---------- /track/<code>/ ---------- */
  function trackPage() {
    const code = config.code;
    const article = document.getElementById("track");
    const errorBox = document.getElementById("track-error");
    const map = config.map ? R.mapByName(config.map) : null;
    let layer = null;
    if (map) R.roadsFallback(map);

    function showError(message) {
      errorBox.textContent = message;
      errorBox.classList.toggle("hidden", !message);
    }

    function renderMap(data) {
      if (!map) return;
      if (layer) layer.remove();
      layer = L.layerGroup().addTo(map);
      const point = (data.incident && data.incident.location) || data.location;
      if (!point) return;
      const [lng, lat] = point.coordinates;
      L.marker([lat, lng], { icon: L.divIcon({ className: "track-pin", iconSize: [30, 40], iconAnchor: [15, 38],
        html: '<svg viewBox="0 0 36 48" width="30" height="40" aria-hidden="true"><path d="M18 46C18 46 3 28 3 17a15 15 0 0 1 30 0c0 11-15 29-15 29z" fill="#c62828" stroke="#fff" stroke-width="2.5"/><circle cx="18" cy="17" r="6" fill="#fff"/></svg>' }),
      keyboard: false, interactive: false }).addTo(layer);
      map.invalidateSize();
      map.setView([lat, lng], 16);
    }

    function renderTimeline(entries) {
      const list = document.getElementById("timeline");
      list.replaceChildren();
      entries.forEach((entry) => {
        const head = el("div", { class: "timeline-head" }, [
          el("time", { datetime: entry.created_at, class: "muted small", text: R.fmtDate(entry.created_at) }),
        ]);
        if (entry.to_status) {
          const status = el("span");
          badge(status, entry.to_status);
          head.append(" ", status);
        } else {
          head.append(" ", el("span", { class: "badge", text: gettext("Note") }));
        }
        const li = el("li", { "data-status": entry.to_status || "" }, [head]);
        if (entry.note) li.append(el("p", { class: "note", text: entry.note }));
        list.append(li);
      });
    }

    function renderPhotos(photos) {
      const box = document.getElementById("photos");
      box.replaceChildren();
      (photos || []).forEach((photo, i) => {
        const full = safeUrl(photo.url);
        const thumb = safeUrl(photo.thumbnail_url) || full;
        if (!thumb) return;
        const img = el("img", { src: thumb, alt: fmt(gettext("Photo %(n)s"), { n: R.fmtNumber(i + 1) }), loading: "lazy" });
        box.append(full ? el("a", { href: full, target: "_blank", rel: "noopener" }, [img]) : img);
      });
    }

    function render(data) {
      badge(document.getElementById("status"), data.status);
      document.getElementById("category").textContent = data.category_name || data.category || "";
      document.getElementById("reported-at").textContent = fmt(gettext("Reported %(date)s"), { date: R.fmtDate(data.created_at) });
      const n = (data.incident && data.incident.report_count) || 1;
      document.getElementById("report-count").textContent = n > 1
        ? fmt(ngettext("%(n)s person reported this problem", "%(n)s people reported this problem", n), { n: R.fmtNumber(n) }) : "";
      const rejected = document.getElementById("rejected");
      rejected.textContent = data.rejected_reason ? fmt(gettext("Not accepted: %(reason)s"), { reason: data.rejected_reason }) : "";
      rejected.classList.toggle("hidden", !data.rejected_reason);
      const referral = document.getElementById("referral");
      if (referral) {
        referral.textContent = data.referral ? fmt(gettext("%(agency)s is responsible for this problem and has had it since %(date)s."),
          { agency: data.referral.agency, date: R.fmtDate(data.referral.since) }) : "";
        referral.classList.toggle("hidden", !data.referral);
      }
      const address = document.getElementById("address");
      address.textContent = data.address || "";
      address.classList.toggle("hidden", !data.address);
      const description = document.getElementById("description");
      description.textContent = data.description || "";
      description.classList.toggle("muted", !data.description);
      if (!data.description) description.textContent = gettext("No description.");
      renderPhotos(data.photos);
      renderTimeline(data.timeline || []);
      renderMap(data);
      const status = data.incident ? data.incident.status : data.status;
      const feedback = document.getElementById("feedback");
      feedback.classList.toggle("hidden", status !== "resolved" && status !== "closed");
      document.getElementById("confirm-fix").classList.toggle("hidden", status !== "resolved");
      document.getElementById("feedback-closed").classList.toggle("hidden", status !== "closed");
      document.getElementById("feedback-title").classList.toggle("hidden", status !== "resolved");
      article.setAttribute("aria-busy", "false");
      article.dataset.status = status;
      remember({ code, category: data.category, category_name: data.category_name, status: data.status,
        created_at: data.created_at });
    }

    async function load() {
      let res = null;
      try { res = await R.api(`/api/v1/track/${encodeURIComponent(code)}/`); } catch (e) { res = null; }
      if (!res) {
        showError(gettext("The report could not be loaded. Check your connection and try again."));
        return;
      }
      if (!res.ok) {
        showError(String((res.data && res.data.detail) || gettext("The report could not be loaded.")));
        return;
      }
      showError("");
      render(res.data);
    }

    /* feedback on a fix */
    const slot = (key) => document.querySelector(`#feedback [data-error-for="${key}"]`);
    const thanks = document.getElementById("feedback-thanks");
    function problem(res, key) {
      if (!res) return gettext("The server could not be reached. Check your connection and try again.");
      const errors = (res.data && res.data.errors) || {};
      return String((errors[key] || [])[0] || (res.data && res.data.detail) || gettext("Something went wrong. Try again."));
    }
    async function post(path, body) {
      try { return await R.api(path, { method: "POST", json: body || {} }); } catch (e) { return null; }
    }
    document.getElementById("confirm-fix").addEventListener("click", async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      slot("feedback").textContent = "";
      const res = await post(`/api/v1/track/${encodeURIComponent(code)}/confirm/`);
      button.disabled = false;
      if (res && res.ok) {
        thanks.textContent = gettext("Thank you for confirming the fix!");
        thanks.classList.remove("hidden");
        await load();
      } else {
        slot("feedback").textContent = problem(res, "feedback");
      }
    });
    const reopenForm = document.getElementById("reopen-form");
    document.getElementById("reopen-open").addEventListener("click", () => {
      reopenForm.classList.remove("hidden");
      document.getElementById("reopen-reason").focus();
    });
    reopenForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reason = document.getElementById("reopen-reason");
      slot("reason").textContent = "";
      slot("feedback").textContent = "";
      if (!reason.value.trim()) {
        slot("reason").textContent = gettext("Tell us what is still wrong.");
        reason.setAttribute("aria-invalid", "true");
        reason.focus();
        return;
      }
      reason.removeAttribute("aria-invalid");
      const button = reopenForm.querySelector("button[type=submit]");
      button.disabled = true;
      const res = await post(`/api/v1/track/${encodeURIComponent(code)}/reopen/`, { reason: reason.value.trim() });
      button.disabled = false;
      if (res && res.ok) {
        reopenForm.reset();
        reopenForm.classList.add("hidden");
        thanks.textContent = gettext("Thank you. The report is open again and the city will look at it.");
        thanks.classList.remove("hidden");
        await load();
      } else if (res && res.data && res.data.errors && res.data.errors.reason) {
        slot("reason").textContent = problem(res, "reason");
      } else {
        slot("feedback").textContent = problem(res, "feedback");
      }
    });

    load();
    window.addEventListener("online", load);
  }

  /* ---------- /track/: the reports sent from this phone ---------- */
  function lookupPage() {
    const section = document.getElementById("my-reports");
    const list = document.getElementById("my-reports-list");
    const entries = mine();
    section.classList.toggle("hidden", !entries.length);
    list.replaceChildren();
    entries.forEach((entry) => {
      const status = el("span");
      if (entry.status) badge(status, entry.status);
      list.append(el("li", {}, [
        el("a", { href: `/track/${encodeURIComponent(entry.code)}/`, class: "code", dir: "ltr", text: entry.code }),
        " ", el("span", { text: entry.category_name || entry.category || "" }), " ", status,
        el("span", { class: "muted small", text: entry.created_at ? R.fmtDate(entry.created_at) : "" }),
      ]));
    });
  }

  registerWorker();
  R.offlineBanner();
  if (config.code && document.getElementById("track")) trackPage();
  if (document.getElementById("my-reports")) lookupPage();
})();
