// Weekly hours: add and remove ranges, and copy Monday's to Tuesday to Friday, in the page. Without
// JavaScript the same buttons post the form back and the server shows it again, saving nothing.
(function () {
  var form = document.querySelector("form[data-hours]");
  if (!form) return;
  var status = form.querySelector("[data-hours-status]");
  function rows(day) { return Array.prototype.slice.call(day.querySelectorAll("[data-range]")); }
  function shown(day) { return rows(day).filter(function (row) { return !row.hidden; }); }
  function inputs(row) { return row.querySelectorAll("input"); }
  function pair(row) { var fields = inputs(row); return [fields[0].value, fields[1].value]; }
  function typed(day) { return shown(day).map(pair).filter(function (times) { return times[0] || times[1]; }); }
  function dayName(day) { return day.querySelector("legend").textContent; }
  function setRanges(day, pairs) {
    rows(day).forEach(function (row, index) {
      var times = pairs[index] || ["", ""];
      var fields = inputs(row);
      fields[0].value = times[0];
      fields[1].value = times[1];
      row.hidden = index >= Math.max(pairs.length, 1);
    });
    day.querySelector("[data-add-range]").hidden = pairs.length >= rows(day).length;
  }
  // A time box the browser cannot read ("9am" typed, or half a time) sends nothing at all: the
  // range would vanish on save. So saving waits until each one is whole, and says which.
  function halfTyped(scope) {
    return Array.prototype.slice.call(scope.querySelectorAll("input[type=time]")).filter(function (input) {
      return input.validity.badInput;
    });
  }
  form.addEventListener("submit", function (event) {
    var unread = halfTyped(form);
    if (!unread.length) return;
    event.preventDefault();
    unread.forEach(function (input) { input.setAttribute("aria-invalid", "true"); });
    unread[0].focus();
    status.textContent = unread.length + (unread.length === 1 ? " time is" : " times are") +
      " not finished (" + dayName(unread[0].closest("[data-day]")) + "): type the hours, minutes and AM or PM. Nothing was saved.";
  });
  form.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    var day = button && button.closest("[data-day]");
    if (!day) return;
    if (button.hasAttribute("data-add-range")) {
      var next = rows(day).filter(function (row) { return row.hidden; })[0];
      if (!next) return;
      event.preventDefault();
      next.hidden = false;
      button.hidden = !rows(day).some(function (row) { return row.hidden; });
      inputs(next)[0].focus();
      status.textContent = "A range is added to " + dayName(day) + ".";
    } else if (button.hasAttribute("data-remove-range")) {
      event.preventDefault();
      var gone = button.closest("[data-range]");
      setRanges(day, shown(day).filter(function (row) { return row !== gone; }).map(pair));
      inputs(shown(day)[0])[0].focus();
      status.textContent = "A range is removed from " + dayName(day) + ". Save to keep the change.";
    } else if (button.hasAttribute("data-copy-weekdays")) {
      event.preventDefault();
      var days = form.querySelectorAll("[data-day]");
      if (halfTyped(days[0]).length) {
        halfTyped(days[0])[0].focus();
        status.textContent = "Finish Monday's times first: hours, minutes and AM or PM. Nothing was copied.";
        return;
      }
      var monday = typed(days[0]);
      for (var weekday = 1; weekday <= 4; weekday++) setRanges(days[weekday], monday);
      status.textContent = "Monday's hours are copied to Tuesday to Friday. Save to keep them.";
    }
  });
})();

// Feed address: copy it with one press, and say so where a screen reader hears it.
(function () {
  document.querySelectorAll("[data-copy-from]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy-from"));
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    button.hidden = false;
    button.addEventListener("click", function () {
      function copied() { status.textContent = "Copied"; }
      function byHand() { source.select(); status.textContent = "Select the address and copy it."; }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(copied, byHand);
      } else {
        source.select();
        try { if (document.execCommand("copy")) copied(); else byHand(); } catch (error) { byHand(); }
      }
    });
  });
})();
