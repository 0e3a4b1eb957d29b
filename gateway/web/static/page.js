// The status page's script: the live parts from the event stream, and the controls' answers shown in place.
// Served as a file of its own: the Content-Security-Policy runs no inline script.
"use strict";
(function () {
  const base = document.body.dataset.base || "";
  const POLL_MS = 2000;
  const STREAM_GRACE_MS = 5000;  // no event by then: the stream is held up on the way (a buffering proxy)

  function showMeter(msg) {
    const live = document.querySelector(`[data-live="${CSS.escape(msg.id)}"]`);
    if (!live) return;
    const open = live.querySelector("details")?.open;  // keep "All readings" open across updates
    live.innerHTML = msg.html;
    if (open) live.querySelector("details")?.setAttribute("open", "");
  }

  // Polling: for proxies that buffer event streams (Home Assistant's ingress compressed them before 2026.1),
  // and on request (?transport=poll).
  async function poll() {
    document.body.dataset.transport = "poll";
    for (;;) {
      try {
        const response = await fetch(`${base}/live`, {credentials: "same-origin"});
        for (const msg of (await response.json()).meters) showMeter(msg);
      } catch (err) {
        console.warn("status page: no answer from the gateway", err);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  if (new URLSearchParams(location.search).get("transport") === "poll") {
    poll();
  } else {
    document.body.dataset.transport = "events";
    const events = new EventSource(`${base}/events`);
    let heard = false;
    events.addEventListener("meter", (e) => { heard = true; showMeter(JSON.parse(e.data)); });
    setTimeout(() => { if (!heard) { events.close(); poll(); } }, STREAM_GRACE_MS);
  }

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
