// Status pages: live updates over Server-Sent Events, and the daily bars' titles
// on tap (a phone has no hover). The page works without this script: it is
// server-rendered and refreshes itself every minute from a <noscript> tag.
(function () {
  "use strict";

  var body = document.body;
  var root = document.getElementById("sw-page");
  if (!body || !root) return;

  // A tap (or click) on a day's bar shows its title under the bars.
  root.addEventListener("click", function (event) {
    var rect = event.target.closest ? event.target.closest(".sw-bars rect") : null;
    if (!rect) return;
    var title = rect.querySelector("title");
    var row = rect.closest("li");
    var tip = row ? row.querySelector(".sw-tip") : null;
    if (title && tip) tip.textContent = title.textContent;
  });

  // Relative "updated" time.
  function relative() {
    var nodes = root.querySelectorAll("time[data-relative]");
    for (var i = 0; i < nodes.length; i++) {
      var then = Date.parse(nodes[i].getAttribute("datetime"));
      if (isNaN(then)) continue;
      var s = Math.max(0, Math.round((Date.now() - then) / 1000));
      nodes[i].textContent = s < 60 ? s + " s ago" : Math.round(s / 60) + " min ago";
    }
  }
  relative();
  setInterval(relative, 5000);

  var url = body.getAttribute("data-events");
  if (!url || !window.EventSource || !window.fetch || !window.DOMParser) return;

  var pending = null;
  var busy = false;
  function reload() {
    pending = null;
    if (busy) { schedule(); return; }
    busy = true;
    fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-cache" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("sw-page");
        if (fresh) {
          root.innerHTML = fresh.innerHTML;
          relative();
        }
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () { busy = false; });
  }
  function schedule() {
    if (!pending) pending = setTimeout(reload, 2000);
  }

  var source = new EventSource(url);
  source.addEventListener("changed", schedule);
  // An instance that does not check (SITEWATCH_ROLE=web) hears of no results:
  // read the page again every minute anyway (an unchanged page costs a 304).
  setInterval(schedule, 60000);
})();
