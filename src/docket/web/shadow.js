// The shadow tool on the item page (served by Docket, loaded with the page's nonce; no inline
// script). Click the picture three times: an upright object's base, its top, its shadow's tip.
// The marks are sent as picture pixels to /api/items/ID/shadow; the answer is shown as text.
"use strict";
(function () {
  const tool = document.getElementById("shadow-tool");
  if (!tool) return;
  const picture = tool.querySelector("img");
  const frame = tool.querySelector(".shadow-frame");
  const said = tool.querySelector(".shadow-said");
  const answer = tool.querySelector(".shadow-answer");
  const names = ["base", "top", "tip"];
  let marks = [];

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
    said.textContent = "Click the object's base.";
    answer.textContent = "";
  }

  picture.addEventListener("click", (event) => {
    if (marks.length === 3) clear();
    const box = picture.getBoundingClientRect();
    const x = event.clientX - box.left;
    const y = event.clientY - box.top;
    const scale = picture.naturalWidth / box.width;
    marks.push([Math.round(x * scale * 10) / 10, Math.round(y * scale * 10) / 10]);
    dot(x, y);
    said.textContent = marks.length < 3
      ? "Marked the " + names[marks.length - 1] + "; now the " + names[marks.length] + "."
      : "Marked base, top and shadow tip.";
  });

  tool.querySelector("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (marks.length !== 3) {
      answer.textContent = "Mark the base, the top and the shadow's tip first.";
      return;
    }
    const query = new URLSearchParams();
    marks.forEach((m, i) => query.set(names[i], m[0] + "," + m[1]));
    new FormData(event.target).forEach((value, key) => { if (value) query.set(key, value); });
    const reply = await fetch(tool.dataset.api + "?" + query.toString(), {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    const found = await reply.json();
    if (!reply.ok) {
      answer.textContent = "Refused: " + (found.detail || found.error || reply.status);
      return;
    }
    const lines = ["Implied sun elevation " + found.elevation + "°"
      + (found.azimuth === null ? "" : ", azimuth " + found.azimuth + "°") + "."];
    if (found.place) lines.push("At " + found.place.join(", ") + " on " + found.date + ":");
    found.times.forEach((t) => lines.push("  " + t.part + " " + t.time + " (sun at azimuth "
      + t.azimuth + "°)" + (t.part === found.nearest ? ", nearer by direction" : "")));
    if (found.note) lines.push(found.note + ".");
    if (found.at_capture) lines.push("At the stated capture time (" + found.at_capture.utc
      + ") the sun stood at elevation " + found.at_capture.elevation + "°, azimuth "
      + found.at_capture.azimuth + "°.");
    answer.textContent = lines.join("\n");
  });
  tool.querySelector(".shadow-clear").addEventListener("click", clear);
  clear();
})();
