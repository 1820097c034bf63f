// The console's only script (served from here, no CDN): keeps a live leaderboard up to date by asking the
// server for the top 10 every second. Names are put in as text, never as HTML.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) { return; }
  var url = board.getAttribute("data-live");
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, key) { return key in values ? String(values[key]) : all; });
  }
  function clock(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }
  function show(data) {
    var left = document.getElementById("left");
    if (data.open && data.seconds_left !== null) {
      left.textContent = fill(board.getAttribute("data-left"), { time: clock(data.seconds_left) });
    } else {
      left.textContent = data.open ? "" : board.getAttribute("data-closed");
    }
    document.getElementById("players").textContent = fill(board.getAttribute("data-players"), { n: data.players });
    var list = document.getElementById("top");
    var items = [];
    data.top.forEach(function (row) {
      var li = document.createElement("li");
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = row.name === null ? board.getAttribute("data-anonymous") : row.name;
      var score = document.createElement("span");
      score.className = "score";
      score.textContent = fill(board.getAttribute("data-points"), { score: row.score });
      li.appendChild(name);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(score);
      items.push(li);
    });
    list.replaceChildren.apply(list, items);
    board.setAttribute("data-updated", String(Date.now()));
  }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(show)
      .catch(function () { /* the next poll tries again */ })
      .then(function () { window.setTimeout(poll, 1000); });
  }
  window.setTimeout(poll, 1000);
}());

// Broadcasts: the composer's live recipient count, asked as the audience's boxes are ticked.
(function () {
  "use strict";
  var form = document.getElementById("composer");
  if (!form) { return; }
  var out = document.getElementById("count");
  var pending = null;
  function ask() {
    var params = new URLSearchParams();
    ["country", "type", "language", "group", "members", "unfinished"].forEach(function (name) {
      form.querySelectorAll("input[name='" + name + "']:checked").forEach(function (box) {
        params.append(name, box.value);
      });
    });
    fetch(form.getAttribute("data-count") + "?" + params.toString(), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) { out.textContent = data.text; out.setAttribute("data-n", String(data.n)); })
      .catch(function () { /* the next change asks again */ });
  }
  form.addEventListener("change", function () {
    if (pending) { window.clearTimeout(pending); }
    pending = window.setTimeout(ask, 150);
  });
  ask();
}());

// Broadcasts: one broadcast's live progress bar, asked every second until it has settled.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  function show(data) {
    var bar = document.getElementById("bar");
    bar.max = data.total;
    bar.value = data.total - data.left;
    ["sent", "failed", "blocked", "left", "cancelled", "total"].forEach(function (key) {
      document.getElementById(key).textContent = String(data[key]);
    });
    if (data.done) {
      var cancel = document.getElementById("cancel-form");
      if (cancel) { cancel.remove(); }
    }
    return data.done;
  }
  function poll() {
    fetch(live.getAttribute("data-live"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(show)
      .catch(function () { return false; })
      .then(function (done) { if (!done) { window.setTimeout(poll, 1000); } });
  }
  window.setTimeout(poll, 1000);
}());

// Broadcasts: a file over the size limit is refused at once, before the form (and what was typed) is sent.
(function () {
  "use strict";
  var input = document.getElementById("media");
  if (!input) { return; }
  input.addEventListener("change", function () {
    var max = Number(input.getAttribute("data-max"));
    var file = input.files && input.files[0];
    input.setCustomValidity(file && max && file.size > max ? input.getAttribute("data-too-big") : "");
    input.reportValidity();
  });
}());
