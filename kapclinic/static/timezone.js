// Show slots in the visitor's own time zone: if the page was opened without a
// zone, reload once with the browser's zone. The selector stays as a fallback.
(function () {
  var select = document.querySelector("select[data-tz-select]");
  if (!select) return;
  select.addEventListener("change", function () { select.form.submit(); });
  if (!select.hasAttribute("data-tz-detect")) return;
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone || zone === select.value) return;
  // Some browsers name a zone by an older IANA name (Asia/Calcutta) the list does not show:
  // the server accepts those too, and answers with the name the list has.
  if (!/^[A-Za-z]+\/[A-Za-z0-9_+\-\/]+$/.test(zone)) return;
  var url = new URL(window.location.href);
  url.searchParams.set("tz", zone);
  window.location.replace(url.toString());
})();
