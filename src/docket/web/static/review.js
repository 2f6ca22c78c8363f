// Docket review shortcuts, served by Docket itself (the page policy runs no inline script).
// On the item grid: j / k move to the next / previous item, x ticks it for bulk work,
// f readies the bulk form to flag the ticked items. On an item page: f goes to its flag.
// "Tick all on this page" ticks every item of the grid. Enter in a box of a fieldset that
// has a button of its own (the bulk bar's export) presses that button, not the form's first
// one (Apply).
(function () {
  "use strict";
  function typing(target) {
    return target instanceof HTMLElement &&
      (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(target.tagName) &&
        target.getAttribute("type") !== "checkbox");
  }
  function tiles() {
    return Array.prototype.slice.call(document.querySelectorAll(".grid .tile"));
  }
  function current(list) {
    var active = document.activeElement;
    for (var i = 0; i < list.length; i++) {
      if (list[i].contains(active)) { return i; }
    }
    return -1;
  }
  function move(step) {
    var list = tiles();
    if (!list.length) { return; }
    var at = current(list);
    var next = at < 0 ? (step > 0 ? 0 : list.length - 1) : Math.min(Math.max(at + step, 0), list.length - 1);
    var link = list[next].querySelector("a");
    if (link) { link.focus(); link.scrollIntoView({block: "nearest"}); }
  }
  function tick() {
    var list = tiles();
    var at = current(list);
    var box = at < 0 ? null : list[at].querySelector("input[type=checkbox]");
    if (box) { box.checked = !box.checked; }
  }
  function flag() {
    var bulk = document.getElementById("bulk");
    if (bulk) {
      bulk.elements.namedItem("action").value = "flag";
      bulk.elements.namedItem("value").focus();
      return;
    }
    var own = document.querySelector("form[data-shortcut=flag] select");
    if (own) { own.focus(); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var actions = {j: function () { move(1); }, k: function () { move(-1); }, x: tick, f: flag};
    var action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  });
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key !== "Enter" || !(box instanceof HTMLInputElement) || !box.form) { return; }
    var own = box.closest("fieldset[data-own-submit]");
    var button = own ? own.querySelector("button:not([type=button])") : null;
    if (!button) { return; }
    event.preventDefault();
    box.form.requestSubmit(button);
  });
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-select=all]") : null;
    if (!button) { return; }
    tiles().forEach(function (tile) {
      var box = tile.querySelector("input[type=checkbox]");
      if (box) { box.checked = true; }
    });
  });
})();
