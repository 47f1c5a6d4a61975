// sitewatch dashboard: live updates over Server-Sent Events, and small comforts.
// Hand-written, no dependencies. Without it every page still works and refreshes
// itself every 60 s (a <noscript> refresh in the page head).
(() => {
  "use strict";

  const body = document.body;

  // -- relative times ("12 s ago") stay true while the page is open ----------------
  const ago = (iso) => {
    if (!iso) return "never";
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 60) return `${Math.floor(s)} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  };
  const tick = () => {
    for (const t of document.querySelectorAll("time[data-field=checked]")) {
      const iso = t.getAttribute("datetime");
      if (iso) t.textContent = ago(iso);
    }
  };
  setInterval(tick, 5000);

  const ms = (v) => (v === null || v === undefined ? "—" : v >= 10000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);

  // -- forms: show the fields of the chosen type only (a check's, a channel's) ------
  // Hidden fields are disabled too, so they are not sent.
  const type = document.getElementById("field-type");
  if (type && type.tagName === "SELECT") {
    const show = () => {
      for (const g of document.querySelectorAll("[data-groups]")) {
        const off = !g.dataset.groups.split(" ").includes(type.value || "http");
        g.hidden = off;
        for (const input of g.querySelectorAll("input, select, textarea")) input.disabled = off;
      }
    };
    type.addEventListener("change", show);
    show();
  }

  // -- live updates -----------------------------------------------------------------
  const ids = body.dataset.liveIds;
  if (ids === undefined || !("EventSource" in window)) return;

  const indicator = document.getElementById("live-status");
  const live = (on) => {
    if (!indicator) return;
    indicator.classList.toggle("hidden", !on);
    indicator.classList.toggle("flex", on);
  };

  const setField = (root, name, text) => {
    for (const el of root.querySelectorAll(`[data-field="${name}"]`)) el.textContent = text;
  };

  let chartTimer = null;
  const refreshChart = (root) => {
    const chart = document.getElementById("chart");
    if (!chart || chartTimer) return;
    chartTimer = setTimeout(async () => {
      chartTimer = null;
      try {
        const res = await fetch(root.dataset.chartSrc, { credentials: "same-origin" });
        if (!res.ok) return;
        const doc = new DOMParser().parseFromString(await res.text(), "image/svg+xml");
        const svg = doc.documentElement;
        if (svg.nodeName === "svg") chart.replaceChildren(document.importNode(svg, true));
      } catch (_) {
        /* the next event tries again */
      }
    }, 2000);
  };

  const update = (w) => {
    for (const el of document.querySelectorAll(`[data-website-id="${w.id}"]`)) {
      if (el.dataset.state !== "paused" && el.dataset.state !== w.state) {
        el.dataset.state = w.state;
        const slot = el.querySelector('[data-field="badge"]');
        const badge = document.getElementById(`badge-${w.state}`);
        if (slot && badge) slot.replaceChildren(badge.content.cloneNode(true));
      }
      for (const t of el.querySelectorAll("time[data-field=checked]")) {
        t.setAttribute("datetime", w.checked_at);
        t.textContent = ago(w.checked_at);
      }
      setField(el, "ms", ms(w.response_ms));
      setField(el, "code", w.status_code ?? "");
      setField(el, "error", w.state === "down" ? w.error || "" : "");
      if (el.dataset.chartSrc) refreshChart(el);
    }
    const last = document.getElementById("last-ms");
    if (last && document.querySelector(`[data-website-id="${w.id}"][data-chart-src]`)) last.textContent = ms(w.response_ms);
  };

  const counts = (c) => {
    for (const [key, value] of Object.entries(c)) {
      const el = document.getElementById(`count-${key}`);
      if (el) el.textContent = String(value);
    }
  };

  const source = new EventSource(`/events?ids=${encodeURIComponent(ids)}`);
  source.addEventListener("open", () => live(true));
  source.addEventListener("error", () => live(false));
  source.addEventListener("checks", (event) => {
    const data = JSON.parse(event.data);
    for (const w of data.websites) update(w);
    counts(data.counts);
    body.dataset.liveUpdates = String(Number(body.dataset.liveUpdates || 0) + 1);
  });
  window.addEventListener("pagehide", () => source.close());
})();
