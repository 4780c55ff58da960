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
