// A form sent back with problems: move focus to its summary, so a screen reader reads what to
// fix first and a keyboard user starts from the links to each field (GOV.UK's error summary).
(function () {
  var summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
})();

// "Print or save a copy": the browser's own print dialog (which also saves as PDF).
(function () {
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
