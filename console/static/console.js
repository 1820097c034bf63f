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
      name.textContent = row.name;
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
