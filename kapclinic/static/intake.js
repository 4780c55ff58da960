// Hide follow-up questions until the answer they depend on is given (FHIR enableWhen).
// Without JavaScript every question shows, and the server ignores the ones that do not apply.
(function () {
  var dependent = document.querySelectorAll("[data-enable-when]");
  if (!dependent.length) return;
  var form = dependent[0].closest("form");
  function answer(name) {
    var fields = form.querySelectorAll('[name="' + name + '"]');
    var values = [];
    fields.forEach(function (field) {
      if ((field.type === "radio" || field.type === "checkbox")) { if (field.checked) values.push(field.value); }
      else if (field.value.trim()) values.push(field.value.trim());
    });
    return values;
  }
  function matches(values, expected) {
    if (expected === true) return values.some(function (v) { return v !== "no" && v !== "false"; });
    return values.indexOf(expected) !== -1;
  }
  function update() {
    dependent.forEach(function (block) {
      var rules = JSON.parse(block.getAttribute("data-enable-when"));
      var any = block.getAttribute("data-enable-behavior") === "any";
      var results = rules.map(function (rule) { return matches(answer(rule[0]), rule[1]); });
      block.hidden = !(any ? results.some(Boolean) : results.every(Boolean));
    });
  }
  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();
})();

// "Add another": show the next hidden row and move focus to it, without a round trip.
(function () {
  document.querySelectorAll("[data-add-row]").forEach(function (button) {
    var group = button.closest("[data-row-group]");
    button.addEventListener("click", function (event) {
      var next = group.querySelector("fieldset.row[hidden]");
      if (!next) return;
      event.preventDefault();
      next.hidden = false;
      var first = next.querySelector("input, select, textarea");
      if (first) first.focus();
      if (!group.querySelector("fieldset.row[hidden]")) button.hidden = true;
    });
  });
})();
