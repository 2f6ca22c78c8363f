// Docket's redaction page, served by Docket itself (the page policy runs no inline script).
// Drawing on the picture with the mouse (or a pen or finger) adds a box to the form's X, Y,
// W, H rows, in pixels of the upright picture (data-width, data-height): the shown picture
// may be smaller, or the blurred preview's few pixels, so every point is scaled back. The
// rows stay the truth: typing in them moves the outlines, Delete removes a row, and the
// server checks every box again. Accepted face proposals are outlined dashed.
(function () {
  "use strict";
  var canvas = document.getElementById("redact-canvas");
  var layer = document.getElementById("redact-layer");
  var rows = document.getElementById("redact-rows");
  if (!canvas || !layer || !rows) { return; }
  var width = Number(canvas.getAttribute("data-width"));
  var height = Number(canvas.getAttribute("data-height"));
  var parts = ["x", "y", "w", "h"];

  function field(row, name) { return row.querySelector("input[name='" + name + "']"); }

  function boxOf(row) {
    var values = parts.map(function (name) { return field(row, name).value.trim(); });
    if (values.some(function (v) { return v === "" || isNaN(Number(v)); })) { return null; }
    return values.map(Number);
  }

  function outline(box, kind) {
    var mark = document.createElement("div");
    mark.className = "redact-mark " + kind;
    mark.style.left = (100 * box[0] / width) + "%";
    mark.style.top = (100 * box[1] / height) + "%";
    mark.style.width = (100 * box[2] / width) + "%";
    mark.style.height = (100 * box[3] / height) + "%";
    layer.appendChild(mark);
    return mark;
  }

  function draw() {
    layer.textContent = "";
    rows.querySelectorAll(".redact-row").forEach(function (row) {
      var box = boxOf(row);
      if (box) { outline(box, "redact-box"); }
    });
    document.querySelectorAll("input[name='face']").forEach(function (choice) {
      var box = choice.value.split(",").map(Number);
      outline(box, choice.checked ? "redact-face" : "redact-face redact-rejected");
    });
  }

  function emptyRow() {
    var found = null;
    rows.querySelectorAll(".redact-row").forEach(function (row) {
      if (!found && parts.every(function (name) { return field(row, name).value === ""; })) {
        found = row;
      }
    });
    if (found) { return found; }
    var last = rows.querySelector(".redact-row:last-child");
    var copy = last.cloneNode(true);
    copy.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    var number = rows.querySelectorAll(".redact-row").length + 1;
    copy.querySelectorAll("input").forEach(function (input, i) {
      input.setAttribute("aria-label", "box " + number + ", " + parts[i].toUpperCase());
    });
    rows.appendChild(copy);
    return copy;
  }

  function addBox(box) {
    var row = emptyRow();
    parts.forEach(function (name, i) { field(row, name).value = String(box[i]); });
    draw();
  }

  function point(event) {
    var shown = canvas.getBoundingClientRect();
    var x = (event.clientX - shown.left) * width / shown.width;
    var y = (event.clientY - shown.top) * height / shown.height;
    return [Math.min(Math.max(Math.round(x), 0), width), Math.min(Math.max(Math.round(y), 0), height)];
  }

  function span(a, b) {
    var left = Math.min(a[0], b[0]), top = Math.min(a[1], b[1]);
    return [left, top, Math.abs(a[0] - b[0]), Math.abs(a[1] - b[1])];
  }

  var start = null, rubber = null;
  canvas.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) { return; }
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    start = point(event);
    rubber = outline([start[0], start[1], 0, 0], "redact-box redact-drawing");
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!start) { return; }
    var box = span(start, point(event));
    rubber.style.left = (100 * box[0] / width) + "%";
    rubber.style.top = (100 * box[1] / height) + "%";
    rubber.style.width = (100 * box[2] / width) + "%";
    rubber.style.height = (100 * box[3] / height) + "%";
  });
  function finish(event) {
    if (!start) { return; }
    var box = span(start, point(event));
    start = null;
    if (box[2] >= 2 && box[3] >= 2) { addBox(box); } else { draw(); }
  }
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", function () { start = null; draw(); });

  rows.addEventListener("input", draw);
  rows.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest(".redact-delete") : null;
    if (!button) { return; }
    var row = button.closest(".redact-row");
    if (rows.querySelectorAll(".redact-row").length > 1) {
      row.remove();
    } else {
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    }
    draw();
  });
  var add = document.getElementById("redact-add");
  if (add) {
    add.addEventListener("click", function () { field(emptyRow(), "x").focus(); });
  }
  document.querySelectorAll("input[name='face']").forEach(function (choice) {
    choice.addEventListener("change", draw);
  });

  var slider = document.getElementById("redact-at-slider");
  var at = document.getElementById("redact-at");
  if (slider && at) {
    slider.addEventListener("input", function () { at.value = slider.value; });
    at.addEventListener("input", function () { slider.value = at.value; });
  }
  draw();
}());
