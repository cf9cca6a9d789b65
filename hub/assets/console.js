// Vivres console: the two live parts, plain JS, no dependency. Every page
// works without it (forms post, the run page refreshes itself).
"use strict";

// A running sync: its figures, polled once a second from /runs/{id}/live.
function followRun(live) {
  const tick = async () => {
    try {
      const r = await fetch(live.dataset.src, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (r.redirected || !r.ok) { location.reload(); return; }
      const figures = await r.json();
      for (const el of live.querySelectorAll("[data-field]")) {
        const v = figures[el.dataset.field];
        if (v !== undefined && el.textContent !== v) el.textContent = v;
      }
      // Finished: the page shows the summary and the refused lines.
      if (figures.status !== "running") { location.reload(); return; }
    } catch (e) { /* the hub restarting: try again */ }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
}

// An upload form: drag-and-drop onto the zone, sent without leaving the page.
function upload(form) {
  const zone = form.querySelector("label.drop");
  const input = form.querySelector("input[type=file]");
  const status = form.querySelector("#upload-status");
  const send = async () => {
    if (!input.files.length) return;
    status.textContent = "…";
    try {
      const r = await fetch(form.action, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (r.headers.get("content-type")?.includes("application/json")) {
        const answer = await r.json();
        status.textContent = answer.message;
        status.className = answer.duplicate ? "notice duplicate" : "notice stored";
      } else {
        // An error page: its words, in the status line.
        const page = new DOMParser().parseFromString(await r.text(), "text/html");
        status.textContent = [...page.querySelectorAll("main h1, main p")].map((e) => e.textContent).join(" ");
        status.className = "error";
      }
    } catch (e) { status.textContent = String(e); status.className = "error"; }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  for (const ev of ["dragenter", "dragover"]) zone.addEventListener(ev, (e) => { e.preventDefault(); zone.classList.add("over"); });
  for (const ev of ["dragleave", "drop"]) zone.addEventListener(ev, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); input.files = e.dataTransfer.files; send(); });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live && live.dataset.status === "running") followRun(live);
  const form = document.getElementById("upload");
  if (form) upload(form);
});
