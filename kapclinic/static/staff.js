// Idle sign-out warning: two minutes before the server ends an idle staff session,
// offer to stay signed in (a POST that refreshes the session); at the end, go to the login page.
(function () {
  var body = document.body;
  var minutes = parseFloat(body.getAttribute("data-idle-minutes"));
  if (!minutes) return;
  var warning = document.getElementById("idle-warning");
  var button = document.getElementById("stay-signed-in");
  var csrf = document.querySelector('input[name="csrf_token"]');
  var warnTimer, endTimer;
  function schedule() {
    clearTimeout(warnTimer); clearTimeout(endTimer);
    warning.hidden = true;
    warnTimer = setTimeout(function () { warning.hidden = false; button.focus(); }, Math.max(0, (minutes - 2) * 60000));
    endTimer = setTimeout(function () { window.location.assign(body.getAttribute("data-login-url")); }, minutes * 60000);
  }
  button.addEventListener("click", function () {
    fetch(body.getAttribute("data-keepalive-url"), {
      method: "POST", credentials: "same-origin",
      headers: {"X-CSRFToken": csrf ? csrf.value : ""}
    }).then(function (response) {
      // An ended session answers with a redirect to the login page, which fetch follows.
      if (response.ok && !response.redirected) schedule(); else window.location.assign(body.getAttribute("data-login-url"));
    });
  });
  schedule();
})();

// A Print button, shown only where script runs to work it (the browser's own Print works without).
(function () {
  var buttons = document.querySelectorAll("[data-print]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].hidden = false;
    buttons[i].addEventListener("click", function () { window.print(); });
  }
})();
