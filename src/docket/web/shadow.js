// The shadow tool on the item page (served by Docket, loaded with the page's nonce; no inline
// script). Click the picture three times: an upright object's base, its top, its shadow's tip.
// The marks go as picture pixels with the form to /items/ID/shadow, whose page gives the answer
// (the page's policy lets a form submit to Docket; it refuses a script's own requests).
// What it says comes from the page, in the page's language: the data-said-* attributes of
// #shadow-tool (translated in shadow_tool.html); the script holds no words of its own.
"use strict";
(function () {
  const tool = document.getElementById("shadow-tool");
  if (!tool) return;
  const picture = tool.querySelector("img");
  const frame = tool.querySelector(".shadow-frame");
  const said = tool.querySelector(".shadow-said");
  const names = ["base", "top", "tip"];
  const said_after = [tool.dataset.saidBase, tool.dataset.saidTop, tool.dataset.saidDone];
  let marks = [];
  Object.assign(frame.style, { position: "relative", display: "inline-block", maxWidth: "100%" });
  Object.assign(picture.style, { maxWidth: "100%", cursor: "crosshair" });

  function dot(x, y) {
    const mark = document.createElement("span");
    mark.className = "shadow-mark";
    Object.assign(mark.style, {
      position: "absolute", left: (x - 4) + "px", top: (y - 4) + "px", width: "8px",
      height: "8px", borderRadius: "4px", background: "#e00", pointerEvents: "none",
    });
    frame.appendChild(mark);
  }

  function clear() {
    marks = [];
    frame.querySelectorAll(".shadow-mark").forEach((m) => m.remove());
    said.textContent = tool.dataset.saidStart;
  }

  picture.addEventListener("click", (event) => {
    if (marks.length === 3) clear();
    const box = picture.getBoundingClientRect();
    const x = event.clientX - box.left;
    const y = event.clientY - box.top;
    const scale = picture.naturalWidth / box.width;
    marks.push([Math.round(x * scale * 10) / 10, Math.round(y * scale * 10) / 10]);
    dot(x, y);
    said.textContent = said_after[marks.length - 1];
  });

  tool.querySelector("form").addEventListener("submit", (event) => {
    if (marks.length !== 3) {
      event.preventDefault();
      said.textContent = tool.dataset.saidMissing;
      return;
    }
    marks.forEach((m, i) => { event.target.elements[names[i]].value = m[0] + "," + m[1]; });
    for (const field of event.target.elements) {  // what is left empty is not sent
      if (field.name && !field.value) field.disabled = true;
    }
  });
  window.addEventListener("pageshow", () => {
    for (const field of tool.querySelector("form").elements) field.disabled = false;
  });
  tool.querySelector(".shadow-clear").addEventListener("click", clear);
  clear();
})();
