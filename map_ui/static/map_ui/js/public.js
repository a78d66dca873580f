/* The public figures page (/public/): the server writes every figure as data; here they are
   written in the reader's digits and style (Arabic-Indic in Arabic, Persian digits in
   Persian), months and dates in the reader's calendar (Solar Hijri in Persian), and a
   district chosen from the list is shown at once. Without scripts the page still reads. */
(function () {
  "use strict";
  const R = window.Rasad;
  const STYLES = {
    count: { maximumFractionDigits: 0 },
    days: { minimumFractionDigits: 1, maximumFractionDigits: 1 },
    rate: { minimumFractionDigits: 1, maximumFractionDigits: 1 },
    share: { style: "percent", maximumFractionDigits: 0 },
  };

  document.querySelectorAll("[data-num]").forEach((node) => {
    const value = Number(node.dataset.num);
    if (!Number.isFinite(value)) return;
    node.textContent = R.fmtNumber(value, STYLES[node.dataset.kind] || STYLES.count);
  });
  // Dates without a time are calendar days: read in UTC so no time zone moves them.
  document.querySelectorAll("time.fmt-month").forEach((node) => {
    node.textContent = R.fmtDate(node.getAttribute("datetime"), { year: "numeric", month: "long", timeZone: "UTC" });
    const first = R.fmtDate(node.dataset.first, { day: "numeric", month: "short", timeZone: "UTC" });
    const last = R.fmtDate(node.dataset.last, { day: "numeric", month: "short", timeZone: "UTC" });
    node.title = `${first} – ${last}`;
  });
  document.querySelectorAll("time.fmt-date").forEach((node) => {
    node.textContent = R.fmtDate(node.getAttribute("datetime"), { dateStyle: "long", timeZone: "UTC" });
  });
  document.querySelectorAll("time.fmt-datetime").forEach((node) => {
    node.textContent = R.fmtDate(node.getAttribute("datetime"));
  });

  const choice = document.getElementById("district-choice");
  if (choice) {
    choice.addEventListener("change", () => choice.form.submit());
    const button = choice.form.querySelector("button[type=submit]");
    if (button) button.classList.add("hidden");
  }
  document.body.dataset.ready = "true";
})();
