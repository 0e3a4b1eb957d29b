// The status page's script: the live parts from the event stream, and the controls' answers shown in place.
// Served as a file of its own: the Content-Security-Policy runs no inline script.
"use strict";
(function () {
  const base = document.body.dataset.base || "";

  function showMeter(msg) {
    const live = document.querySelector(`[data-live="${CSS.escape(msg.id)}"]`);
    if (!live) return;
    const open = live.querySelector("details")?.open;  // keep "All readings" open across updates
    live.innerHTML = msg.html;
    if (open) live.querySelector("details")?.setAttribute("open", "");
  }

  const events = new EventSource(`${base}/events`);
  events.addEventListener("meter", (e) => showMeter(JSON.parse(e.data)));
  events.addEventListener("open", () => document.body.classList.add("streaming"));
  events.addEventListener("error", () => document.body.classList.remove("streaming"));

  for (const form of document.querySelectorAll(".controls form")) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = new URLSearchParams(new FormData(form, e.submitter));
      const meter = form.closest("[data-meter]").dataset.meter;
      const result = document.querySelector(`[data-result="${CSS.escape(meter)}"]`);
      result.className = "result";
      result.textContent = "…";
      let answer;
      try {
        const response = await fetch(form.action, {method: "POST", body, credentials: "same-origin"});
        answer = await response.json();
      } catch (err) {
        answer = {status: "error", error: `no answer from the gateway (${err})`};
      }
      result.className = `result ${answer.status === "ok" ? "ok" : "error"}`;
      result.textContent = answer.status === "ok" ? `ok: ${JSON.stringify(answer.data)}` : answer.error;
    });
  }
})();
