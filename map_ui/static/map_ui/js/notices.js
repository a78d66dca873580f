/* Rasad notices on the citizen map: the city's notices (water cuts, road closures, storm
   warnings) valid now for the district the map shows, as banners over the map. A notice
   closed with its × stays closed for this visit. Text reaches the page only as textContent. */
(function () {
  "use strict";
  const R = window.Rasad;
  const { gettext, el } = R;
  const box = document.getElementById("notice-banners");
  const map = R.config && R.config.map ? R.mapByName(R.config.map) : null;
  if (!box || !map) return;
  const CLOSED_KEY = "rasad-notices-closed";
  let timer = null;
  let shownFor = null;

  function closed() {
    try { return JSON.parse(sessionStorage.getItem(CLOSED_KEY) || "[]"); } catch (e) { return []; }
  }
  function close(id) {
    try { sessionStorage.setItem(CLOSED_KEY, JSON.stringify([...closed(), id])); } catch (e) { /* private mode */ }
  }
  function render(data) {
    const hidden = closed();
    box.replaceChildren(...(data.notices || []).filter((n) => !hidden.includes(n.id)).map((n) => {
      const banner = el("div", { class: "notice-banner", role: "status", "data-notice": n.id,
                                 "data-kind": n.kind }, [
        n.title ? el("strong", { class: "notice-title", text: n.title }) : null,
        n.body ? el("span", { class: "notice-body", text: ` ${n.body}` }) : null,
        data.district ? el("a", { class: "notice-more", href: `/alerts/district/${encodeURIComponent(data.district)}/`,
                                  text: gettext("Alerts for this district") }) : null,
      ]);
      banner.append(el("button", { type: "button", class: "notice-close", "aria-label": gettext("Close"),
        text: "×", onclick: () => { close(n.id); banner.remove(); } }));
      return banner;
    }));
  }
  async function load() {
    const centre = map.getCenter();
    const key = `${centre.lng.toFixed(3)},${centre.lat.toFixed(3)}`;
    if (key === shownFor) return;
    shownFor = key;
    const result = await R.api(`/api/v1/alerts/notices/?lon=${centre.lng.toFixed(6)}&lat=${centre.lat.toFixed(6)}`);
    if (result.ok && result.data) render(result.data);
  }
  map.on("moveend", () => { clearTimeout(timer); timer = setTimeout(load, 400); });
  load();
})();
