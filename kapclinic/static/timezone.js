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

// Find a zone by typing part of its name or city: the list the box controls keeps only the matches
// (the zone chosen before always stays), rebuilt rather than hidden, which every browser's list honours.
(function () {
  var box = document.querySelector("[data-tz-search]");
  if (!box) return;
  var input = box.querySelector("input");
  var select = document.getElementById(input.getAttribute("aria-controls"));
  var count = box.querySelector("[aria-live]");
  if (!select) return;
  var all = Array.prototype.slice.call(select.options);
  var before = select.options[select.selectedIndex];  // the zone the page was drawn with
  function words(text) { return text.toLowerCase().replace(/_/g, " "); }
  box.hidden = false;
  input.addEventListener("input", function () {
    var wanted = words(input.value.trim());
    function matches(option) {
      return words(option.textContent).indexOf(wanted) !== -1 || words(option.value).indexOf(wanted) !== -1;
    }
    var found = wanted ? all.filter(matches) : all;
    // What was typed chooses: the first match is selected unless the zone chosen before is one, so
    // Enter, "Show" or the form's own button use the city typed. The zone chosen before stays in
    // the list, to go back to.
    var chosen = wanted && found.length && found.indexOf(before) === -1 ? found[0] : before;
    var kept = all.filter(function (option) { return option === before || found.indexOf(option) !== -1; });
    select.replaceChildren.apply(select, kept);
    select.value = chosen.value;
    count.textContent = wanted
      ? found.length + (found.length === 1 ? " zone matches" : " zones match") + (found.length ? "; chosen: " + chosen.textContent : "")
      : "";
    if (wanted && kept.length > 1) select.size = Math.min(kept.length, 6); else select.removeAttribute("size");
  });
})();
