/* Rasad alerts page: tapping the map picks the centre of an alert area (lon/lat fields of the
   form) and draws its radius; the form itself is posted as a plain form. */
(function () {
  "use strict";
  const R = window.Rasad;
  const config = R.config || {};
  const map = config.map ? R.mapByName(config.map) : null;
  const lon = document.getElementById("alerts-lon");
  const lat = document.getElementById("alerts-lat");
  const radius = document.getElementById("alerts-radius");
  if (!map || !lon || !lat || !radius) return;
  if (config.area_bounds) {
    const b = config.area_bounds;
    try { map.fitBounds([[b[1], b[0]], [b[3], b[2]]]); } catch (e) { /* keep the centre */ }
  }
  let circle = null;
  function draw() {
    if (!lon.value || !lat.value) return;
    const centre = [parseFloat(lat.value), parseFloat(lon.value)];
    const r = parseFloat(radius.value) || 500;
    if (circle) circle.setLatLng(centre).setRadius(r);
    else circle = L.circle(centre, { radius: r, color: "#0b5cad" }).addTo(map);
  }
  map.on("click", (event) => {
    lon.value = event.latlng.lng.toFixed(6);
    lat.value = event.latlng.lat.toFixed(6);
    const area = document.querySelector('input[name="scope"][value="area"]');
    if (area) area.checked = true;
    draw();
  });
  radius.addEventListener("input", draw);
  draw();
})();
