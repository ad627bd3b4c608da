// Workhorse dashboard: the page's own small script (no framework, no build step).
//
// - keeps relative times ("3 min ago") current;
// - asks for confirmation before destructive actions (forms with data-confirm);
// - follows the server's live feed (Server-Sent Events, /admin/queues/live) and
//   updates counts, bars and badges in place, reloads the job list or the open job
//   when one of their jobs changes, appends log lines and moves progress bars.
//   Nothing is polled: every update comes from a pushed event.
(function () {
  "use strict";

  var body = document.body;
  var QUIET_MS = 250;     // wait this long after an event before reloading a part
  var MIN_GAP_MS = 1000;  // and reload one part at most once a second

  // ---- times ------------------------------------------------------------------
  var UNITS = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];

  function spanText(seconds) {
    for (var i = 0; i < UNITS.length; i++) {
      if (seconds >= UNITS[i][0] || UNITS[i][0] === 1) {
        return Math.floor(seconds / UNITS[i][0]) + " " + UNITS[i][1];
      }
    }
    return "0 s";
  }

  function relative(ms) {
    var delta = (ms - Date.now()) / 1000;
    if (Math.abs(delta) < 5) return "just now";
    var text = spanText(Math.abs(delta));
    return delta > 0 ? "in " + text : text + " ago";
  }

  function refreshTimes(root) {
    root.querySelectorAll("time[data-ts]").forEach(function (el) {
      var ms = Number(el.dataset.ts);
      if (el.dataset.mode === "abs") {
        var rel = el.querySelector(".rel");
        if (rel) rel.textContent = "(" + relative(ms) + ")";
      } else {
        el.textContent = relative(ms);
      }
    });
  }

  function timeTag(ms) {
    if (!ms) return '<span class="muted">—</span>';
    var d = new Date(ms);
    var full = d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
    return '<time datetime="' + d.toISOString() + '" data-ts="' + ms + '" data-mode="rel" title="' +
      full + '">' + relative(ms) + "</time>";
  }

  setInterval(function () { refreshTimes(document); }, 15000);

  // ---- confirmations, back links, keyboard -----------------------------------------
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
    }
  });

  document.querySelectorAll("[data-back]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      if (history.length > 1) { e.preventDefault(); history.back(); }
    });
  });

  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (e.key !== "/" || tag === "input" || tag === "textarea" || tag === "select") return;
    var box = document.querySelector("[data-search-box]");
    if (box) { e.preventDefault(); box.focus(); }
  });

  // ---- log filter -----------------------------------------------------------------
  function wireLogFilter(root) {
    var input = root.querySelector("[data-log-filter]");
    var list = root.querySelector("[data-logs]");
    if (!input || !list) return;
    input.addEventListener("input", function () { filterLogs(list, input.value); });
    list.scrollTop = list.scrollHeight;
  }

  function filterLogs(list, text) {
    var needle = text.toLowerCase();
    list.querySelectorAll("li").forEach(function (li) {
      li.hidden = needle !== "" && li.textContent.toLowerCase().indexOf(needle) < 0;
    });
  }

  // ---- parts of the page reloaded from the server -------------------------------
  function Part(el) {
    this.el = el;
    this.timer = null;
    this.last = 0;
    this.busy = false;
  }

  Part.prototype.soon = function () {
    if (this.timer) return;
    // A search re-reads many jobs: its results are refreshed less often.
    var gap = Number(this.el.dataset.minGap) || MIN_GAP_MS;
    var wait = Math.max(QUIET_MS, this.last + gap - Date.now());
    var self = this;
    this.timer = setTimeout(function () { self.timer = null; self.reload(); }, wait);
  };

  Part.prototype.reload = function () {
    var self = this;
    if (this.busy) { this.soon(); return; }
    if (this.el.querySelector("[data-edit-box][open]")) {  // never clobber an edit
      var note = document.querySelector("[data-changed-note]");
      if (note) note.hidden = false;
      return;
    }
    this.busy = true;
    this.last = Date.now();
    var url = this.el.dataset.fragment;
    url += (url.indexOf("?") < 0 ? "?" : "&") + "fragment=1";
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error("status " + r.status);
        return r.text();
      })
      .then(function (html) {
        var filter = self.el.querySelector("[data-log-filter]");
        var text = filter ? filter.value : "";
        self.el.innerHTML = html;
        refreshTimes(self.el);
        wireLogFilter(self.el);
        var again = self.el.querySelector("[data-log-filter]");
        if (again && text) { again.value = text; filterLogs(self.el.querySelector("[data-logs]"), text); }
        body.dispatchEvent(new CustomEvent("wh:reloaded"));
      })
      .catch(function () { setStatus("off", "Live updates stopped: reload the page"); })
      .then(function () { self.busy = false; });
  };

  var listEl = document.getElementById("job-list");
  var jobEl = document.getElementById("job-detail");
  var list = listEl ? new Part(listEl) : null;
  var detail = jobEl ? new Part(jobEl) : null;
  if (jobEl) wireLogFilter(jobEl);

  // ---- counts per queue -------------------------------------------------------
  var countsEl = document.getElementById("queue-counts");
  var counts = countsEl ? JSON.parse(countsEl.textContent) : {};
  var STATES = ["active", "waiting", "prioritized", "delayed", "waiting-children", "completed", "failed"];

  function setText(selector, text) {
    document.querySelectorAll(selector).forEach(function (el) { el.textContent = text; });
  }

  function updateTotals() {
    var listQueue = body.dataset.listQueue;
    var all = 0;
    STATES.forEach(function (state) {
      var n = 0;
      Object.keys(counts).forEach(function (q) {
        if (!listQueue || listQueue === q) n += counts[q][state] || 0;
      });
      all += n;
      setText('[data-total="' + state + '"]', String(n));
    });
    setText('[data-total="all"]', String(all));
  }

  function updateBar(queue, byState) {
    var svg = document.querySelector('svg[data-bar="' + CSS.escape(queue) + '"]');
    if (!svg) return;
    var total = 0;
    STATES.forEach(function (s) { total += byState[s] || 0; });
    var x = 0;
    STATES.forEach(function (s) {
      var rect = svg.querySelector('rect[data-state="' + s + '"]');
      var w = total ? 100 * (byState[s] || 0) / total : 0;
      if (rect) { rect.setAttribute("x", x.toFixed(3)); rect.setAttribute("width", w.toFixed(3)); }
      x += w;
    });
  }

  function onQueue(s) {
    var q = s.queue;
    var esc = CSS.escape(q);
    counts[q] = s.counts;
    STATES.forEach(function (state) {
      document.querySelectorAll('[data-count="' + esc + ":" + state + '"]').forEach(function (el) {
        var n = s.counts[state] || 0;
        el.textContent = String(n);
        el.classList.toggle("zero", n === 0);
        el.setAttribute("aria-label", q + " " + state + ": " + n);
      });
    });
    updateBar(q, s.counts);
    updateTotals();
    var deadTotal = 0;
    document.querySelectorAll('[data-stat$=":dead"]').forEach(function (el) {
      if (el.dataset.stat === q + ":dead") el.textContent = String(s.dead);
      deadTotal += Number(el.textContent) || 0;
    });
    setText('[data-total="dead"]', String(deadTotal));
    setText('[data-stat="' + esc + ':perMinute"]', s.perMinute.toFixed(1) + (s.capped ? "+" : ""));
    setText('[data-stat="' + esc + ':failureRate"]',
      s.failureRate === null ? "—" : (s.failureRate < 10 ? s.failureRate.toFixed(1) : Math.round(s.failureRate)) + " %");
    document.querySelectorAll('[data-stat="' + esc + ':oldestReadyAt"]').forEach(function (el) {
      el.innerHTML = timeTag(s.oldestReadyAt);
    });
    document.querySelectorAll('[data-when-paused="' + esc + '"]').forEach(function (el) { el.hidden = !s.paused; });
    document.querySelectorAll('[data-when-running="' + esc + '"]').forEach(function (el) { el.hidden = s.paused; });
  }

  // ---- job events -------------------------------------------------------------
  function progressPercent(p) {
    if (typeof p === "number") return p;
    if (p && typeof p.overallProgress === "number") return p.overallProgress;
    return null;
  }

  function setProgress(root, p) {
    var pct = progressPercent(p);
    if (pct === null) return false;
    var bars = root.querySelectorAll("progress[data-progress]");
    bars.forEach(function (bar) { bar.value = pct; bar.textContent = Math.round(pct) + " %"; });
    var text = root.querySelector("[data-progress-text]");
    if (text && p && typeof p === "object") {
      var parts = [];
      if (p.currentStep) parts.push("Step: " + p.currentStep + (p.totalSteps ? " (" + p.totalSteps + " steps)" : ""));
      if (typeof p.stepProgress === "number") parts.push(Math.round(p.stepProgress) + " % of the step");
      var line = parts.join(" · ") + (p.message ? " — " + p.message : "");
      text.firstElementChild.textContent = line;
      text.lastElementChild.textContent = (Math.round(pct * 10) / 10) + " %";
    }
    return bars.length > 0;
  }

  function appendLog(line) {
    var logs = document.querySelector("[data-logs]");
    if (!logs) return;
    var atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    var li = document.createElement("li");
    var n = Number(logs.dataset.next) || logs.children.length + 1;
    li.dataset.n = String(n);
    logs.dataset.next = String(n + 1);
    li.textContent = line;
    var filter = document.querySelector("[data-log-filter]");
    if (filter && filter.value) li.hidden = line.toLowerCase().indexOf(filter.value.toLowerCase()) < 0;
    logs.appendChild(li);
    var none = document.querySelector("[data-no-logs]");
    if (none) none.remove();
    if (atEnd) logs.scrollTop = logs.scrollHeight;
  }

  function onJob(ev) {
    if (detail && ev.queue === body.dataset.jobQueue && ev.id === body.dataset.jobId) {
      if (ev.event === "log") appendLog(ev.line);
      else if (ev.event !== "progress" || !setProgress(jobEl, ev.progress)) detail.soon();
    }
    if (list) {
      var listQueue = body.dataset.listQueue;
      if (listQueue && listQueue !== ev.queue) return;
      if (ev.event === "log") return;
      if (ev.event === "progress") {
        var row = listEl.querySelector('[data-row="' + CSS.escape(ev.queue + ":" + ev.id) + '"]');
        if (row && setProgress(row, ev.progress)) return;
        if (!row) return;
      }
      list.soon();
    }
  }

  // ---- the live feed ------------------------------------------------------------
  var statusEl = document.querySelector("[data-live-status]");

  function setStatus(kind, text) {
    if (!statusEl) return;
    statusEl.classList.remove("on", "off");
    if (kind) statusEl.classList.add(kind);
    statusEl.textContent = text;
  }

  function reloadAll() {
    if (list) list.soon();
    if (detail) detail.soon();
    if (countsEl) window.location.reload();
  }

  var liveUrl = body.dataset.live;
  if (!liveUrl || !window.EventSource) {
    setStatus("off", "No live updates");
    return;
  }
  var source = new EventSource(liveUrl);
  source.onopen = function () { setStatus("on", "Live"); };
  source.onerror = function () {
    setStatus(source.readyState === EventSource.CLOSED ? "off" : "",
      source.readyState === EventSource.CLOSED ? "Live updates stopped: reload the page" : "Reconnecting…");
  };
  source.addEventListener("queue", function (e) { onQueue(JSON.parse(e.data)); });
  source.addEventListener("job", function (e) { onJob(JSON.parse(e.data)); });
  source.addEventListener("resync", reloadAll);
  window.addEventListener("pagehide", function () { source.close(); });
})();
