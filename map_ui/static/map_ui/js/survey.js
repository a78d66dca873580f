/* Rasad survey page (/survey/<token>/): the form works without this script; it shows the
   date in the reader's calendar and the ratings in their digits, and sends the form once. */
(function () {
  "use strict";
  const R = window.Rasad;
  document.querySelectorAll("#survey time[datetime]").forEach((node) => {
    node.textContent = R.fmtDate(node.getAttribute("datetime"));
  });
  document.querySelectorAll("#survey [data-number]").forEach((node) => {
    node.textContent = R.fmtNumber(Number(node.dataset.number));
  });
  const form = document.getElementById("survey-form");
  if (form) {
    form.addEventListener("submit", () => {
      // After the browser took the form's data: a second tap sends nothing more.
      setTimeout(() => { document.getElementById("survey-send").disabled = true; }, 0);
    });
  }
})();
