// Maxion's job page: follows the job's event stream (resuming after the last
// event the page shows, so no line is lost or repeated), numbers new lines as
// the server does, filters the log, and opens the step of a #L123 permalink.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) return;
  var log = document.getElementById("log");
  var nextLine = parseInt(root.dataset.nextLine, 10) || 1;
  var lastId = parseInt(root.dataset.after, 10) || 0;
  var blocks = log.querySelectorAll("details.step");
  var last = blocks[blocks.length - 1];
  var current = last && last.classList.contains("running") ? last : null;

  function openTo(hash) {
    var el = hash && hash.length > 1 ? document.getElementById(hash.slice(1)) : null;
    if (!el) return;
    var d = el.closest("details");
    if (d) d.open = true;
    var old = log.querySelector(".target");
    if (old) old.classList.remove("target");
    el.classList.add("target");
    el.scrollIntoView({ block: "center" });
  }
  openTo(location.hash);
  window.addEventListener("hashchange", function () { openTo(location.hash); });

  function block(step) {
    if (current && current.dataset.step === step) return current;
    var d = document.createElement("details");
    d.className = "step running";
    d.dataset.step = step;
    d.open = true;
    var s = document.createElement("summary");
    s.textContent = step;
    var lines = document.createElement("div");
    lines.className = "lines";
    d.appendChild(s);
    d.appendChild(lines);
    log.appendChild(d);
    current = d;
    return d;
  }

  // SGR colours (ESC [ … m) to classes, as the server renders them; other
  // escape sequences are dropped.
  var style = [];
  function appendText(span, text) {
    var re = /\x1b\[([0-9;]*)m|\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;
    var at = 0, m;
    function put(t) {
      t = t.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
      if (!t) return;
      var node = document.createElement("span");
      if (style.length) node.className = style.join(" ");
      node.textContent = t;
      span.appendChild(node);
    }
    while ((m = re.exec(text)) !== null) {
      put(text.slice(at, m.index));
      at = re.lastIndex;
      if (m[1] === undefined) continue;
      var codes = m[1] === "" ? [0] : m[1].split(";").map(Number);
      codes.forEach(function (c) {
        if (c === 0) style = [];
        else if (c === 1) style.push("b");
        else if (c >= 30 && c <= 37) style = style.filter(isNotFg).concat("fg" + (c - 30));
        else if (c >= 90 && c <= 97) style = style.filter(isNotFg).concat("fg" + (c - 82));
        else if (c === 39) style = style.filter(isNotFg);
      });
    }
    put(text.slice(at));
  }
  function isNotFg(c) { return c.indexOf("fg") !== 0; }

  function addLines(d, text, kind) {
    var lines = d.querySelector(".lines");
    if (text.slice(-1) === "\n") text = text.slice(0, -1);
    text.split("\n").forEach(function (t) {
      if (t.slice(-1) === "\r") t = t.slice(0, -1);
      var n = nextLine++;
      var row = document.createElement("div");
      row.className = "l " + kind;
      row.id = "L" + n;
      var a = document.createElement("a");
      a.className = "n";
      a.href = "#L" + n;
      a.textContent = n;
      var span = document.createElement("span");
      span.className = "t";
      appendText(span, t);
      row.appendChild(a);
      row.appendChild(span);
      if (search && search.value && t.toLowerCase().indexOf(search.value.toLowerCase()) < 0) row.classList.add("hide");
      lines.appendChild(row);
    });
  }

  var terminal = ["succeeded", "failed", "cancelled", "timed_out", "refused"];
  function onEvent(e) {
    if (e.type === "step_started") {
      current = null;
      block(e.step);
    } else if (e.type === "step_finished") {
      var d = block(e.step);
      d.className = "step " + (e.ok ? "passed" : "failed");
      d.querySelector("summary").textContent = e.note;
      current = null;
    } else if (e.type === "output") {
      addLines(block(e.step), e.text, e.stream === "stderr" ? "err" : "out");
    } else {
      var name = current ? current.dataset.step : "job";
      addLines(block(name), e.note || "", e.type === "error" ? "error" : "note");
    }
  }

  var search = document.getElementById("search");
  if (search) {
    search.addEventListener("input", function () {
      var q = search.value.toLowerCase();
      log.querySelectorAll("div.l").forEach(function (row) {
        var hit = !q || row.querySelector(".t").textContent.toLowerCase().indexOf(q) >= 0;
        row.classList.toggle("hide", !hit);
        if (hit && q) row.closest("details").open = true;
      });
    });
  }

  if (root.dataset.active !== "1" || !window.EventSource) return;
  var source = null;
  function onMessage(m) {
    var id = parseInt(m.lastEventId, 10);
    if (id <= lastId) return;
    lastId = id;
    var e = JSON.parse(m.data);
    onEvent(e);
    root.dataset.after = String(lastId);
    if (e.type === "state_changed" && terminal.indexOf(e.to) >= 0) {
      source.close();
      // The finished page (state, buttons, PR link) comes from the server.
      window.setTimeout(function () { location.reload(); }, 300);
    }
  }
  // A new connection resumes after the last event shown (the browser's own
  // reconnects send Last-Event-ID, which the server prefers).
  function connect() {
    source = new EventSource("/jobs/" + root.dataset.job + "/stream?after=" + lastId);
    source.onmessage = onMessage;
  }
  connect();
  window.maxionReconnect = function () {
    source.close();
    connect();
  };
})();
