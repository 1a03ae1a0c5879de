// The chat page answers live: the ask form posts to /ask with
// Accept: text/event-stream and shows each event as it arrives (question at
// once, steps, queries, first rows, the answer word by word). Stop (or Escape)
// cancels the ask. Without this script the form is an ordinary POST.
// Streamed data is only ever set with textContent, never innerHTML.
(function () {
  "use strict";

  var STEP_LABELS = {
    list_tables: "Listing the tables",
    describe_tables: "Reading the columns of ",
    run_query: "Running a query",
    find_values: "Looking up stored values",
    choose_chart: "Choosing a chart"
  };
  var MAX_ROWS_SHOWN = 20;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // Split an SSE byte stream into {event, data} frames.
  function frames(buffer) {
    var out = [];
    var parts = buffer.split("\n\n");
    var rest = parts.pop();
    parts.forEach(function (frame) {
      var name = "";
      var data = "";
      frame.split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) { name = line.slice(7); }
        else if (line.indexOf("data: ") === 0) { data += line.slice(6); }
      });
      if (name) {
        try { out.push({ event: name, data: JSON.parse(data) }); } catch (e) { /* skip */ }
      }
    });
    return { frames: out, rest: rest };
  }

  function LiveTurn(container, question) {
    this.article = el("article", "card turn live");
    this.article.setAttribute("aria-live", "polite");
    this.article.setAttribute("aria-busy", "true");
    var q = el("p", "question");
    q.appendChild(el("span", "muted", "You asked: "));
    q.appendChild(document.createTextNode(question));
    this.article.appendChild(q);
    var bar = el("div", "actions live-status");
    this.status = el("span", "muted", "Thinking…");
    this.stopButton = el("button", "secondary small stop", "Stop");
    this.stopButton.type = "button";
    this.stopButton.title = "Stop this question (Escape)";
    bar.appendChild(el("span", "spinner live-spinner"));
    bar.appendChild(this.status);
    bar.appendChild(this.stopButton);
    this.article.appendChild(bar);
    this.steps = el("ol", "steps");
    this.article.appendChild(this.steps);
    this.answer = el("div", "answer streaming");
    this.article.appendChild(this.answer);
    this.rows = el("div", "live-rows");
    this.article.appendChild(this.rows);
    this.lastQuery = null;
    this.turnId = null;
    this.onGrow = null;
    container.appendChild(this.article);
  }

  LiveTurn.prototype.grew = function () {
    if (this.onGrow) { this.onGrow(); }
  };

  LiveTurn.prototype.step = function (data) {
    // Text streamed before a tool call was the model thinking aloud.
    this.answer.textContent = "";
    var item = el("li", "step");
    var label = STEP_LABELS[data.tool] || data.tool;
    if (data.tool === "describe_tables") {
      label += (data.table_names || []).join(", ");
    }
    item.appendChild(el("span", "step-label", label));
    item.dataset.tool = data.tool;
    if (data.tool === "run_query" && data.sql) {
      var pre = el("pre", "sql");
      pre.appendChild(el("code", "", data.sql));
      item.appendChild(pre);
      this.lastQuery = item;
    }
    this.steps.appendChild(item);
    this.status.textContent = label + "…";
    this.grew();
  };

  LiveTurn.prototype.query = function (data) {
    var item = this.lastQuery;
    if (!item) { item = el("li", "step"); this.steps.appendChild(item); }
    var text = data.error
      ? data.error
      : data.row_count + " row" + (data.row_count === 1 ? "" : "s") +
        (data.truncated ? " (capped)" : "") + " · " + Math.round(data.duration_ms) + " ms";
    item.appendChild(el("span", data.error ? "error query-outcome" : "muted query-outcome", text));
    this.lastQuery = null;
    this.grew();
  };

  LiveTurn.prototype.showRows = function (data) {
    this.rows.textContent = "";
    var wrap = el("div", "table-wrap");
    var table = el("table", "result");
    var head = el("tr");
    data.columns.forEach(function (c) { head.appendChild(el("th", "", c)); });
    table.appendChild(el("thead")).appendChild(head);
    var body = el("tbody");
    data.rows.slice(0, MAX_ROWS_SHOWN).forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (cell) {
        var td = el("td", cell === null ? "null" : "", cell === null ? "NULL"
          : typeof cell === "object" ? JSON.stringify(cell) : cell);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    this.rows.appendChild(el("p", "muted", data.row_count + " row" +
      (data.row_count === 1 ? "" : "s") + (data.truncated ? " (capped)" : "")));
    this.rows.appendChild(wrap);
    this.grew();
  };

  LiveTurn.prototype.token = function (data) {
    this.answer.appendChild(document.createTextNode(data.text));
    this.status.textContent = "Answering…";
    this.grew();
  };

  LiveTurn.prototype.end = function (text, isError) {
    this.onGrow = null;
    this.article.setAttribute("aria-busy", "false");
    this.article.classList.remove("live");
    this.stopButton.remove();
    this.status.textContent = text;
    this.status.className = isError ? "error" : "muted";
    if (isError) { this.article.classList.add("error"); }
  };

  // Swap the live card for the page's own rendering of the stored turn
  // (Markdown answer, chart, paged table, Edit SQL), fetched from the server.
  function replaceWithStored(live) {
    if (!live.turnId) { return Promise.resolve(); }
    return fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var stored = doc.getElementById("turn-" + live.turnId);
        if (!stored) { return; }
        var fresh = document.importNode(stored, true);
        live.article.replaceWith(fresh);
        // The chart's spec is a JSON data block inside the turn: it came along.
        if (window.SQLAgentAnswers) { window.SQLAgentAnswers.enhance(fresh); }
        markLastTurn();
        // A first question names the conversation: the sidebar lists it now.
        var sidebar = doc.getElementById("conversations");
        var current = document.getElementById("conversations");
        if (sidebar && current && !current.contains(document.activeElement)) {
          current.replaceWith(document.importNode(sidebar, true));
        }
        var title = doc.querySelector("#turns > h2");
        var turns = document.getElementById("turns");
        if (title && turns && !turns.querySelector(":scope > h2")) {
          turns.insertBefore(document.importNode(title, true), turns.firstChild);
        }
      })
      .catch(function () { /* the live card stays; a reload shows the stored turn */ });
  }

  // Wait until the server has stored the turn (a stopped ask winds down in
  // the background), then show the stored rendering.
  function replaceWhenStored(live) {
    var tries = 0;
    var poll = function () {
      fetch("/turns/" + live.turnId + "/status/", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body && body.status !== "running") { replaceWithStored(live); }
          else if (++tries < 100) { setTimeout(poll, 300); }
        })
        .catch(function () { if (++tries < 100) { setTimeout(poll, 1000); } });
    };
    poll();
  }

  // Retry and edit-and-resend belong to the last question only.
  function markLastTurn() {
    var all = document.querySelectorAll("#turns .turn .resend");
    all.forEach(function (box, index) { box.hidden = index !== all.length - 1; });
  }

  function Asker(form) {
    this.form = form;
    this.area = form.querySelector("textarea[name=question]");
    this.button = form.querySelector("button[type=submit]");
    this.turns = document.getElementById("turns");
    this.composer = document.getElementById("composer") || form;
    this.hint = el("p", "error ask-hint");
    this.hint.id = "ask-hint";
    this.hint.setAttribute("role", "alert");
    this.hint.hidden = true;
    form.appendChild(this.hint);
    this.live = null;
    this.controller = null;
    this.following = true;
    this.followedY = 0;
    var self = this;
    // The page follows the answer while it grows, unless the user scrolls
    // up from where the page put it; scrolling back down to it follows again.
    window.addEventListener("scroll", function () {
      if (!self.live) { return; }
      if (self.following && self.scrolledAway()) { self.following = false; }
      else if (!self.following && self.answerInView()) {
        self.following = true;
        self.followedY = window.scrollY;
      }
    }, { passive: true });
  }

  Asker.prototype.scrolledAway = function () {
    return window.scrollY < this.followedY - 4;
  };

  // The bottom of the live card, against the top of the (sticky) composer.
  Asker.prototype.overlap = function () {
    var bottom = this.live.article.getBoundingClientRect().bottom;
    var limit = Math.min(window.innerHeight, this.composer.getBoundingClientRect().top);
    return bottom - limit;
  };

  Asker.prototype.answerInView = function () {
    var overlap = this.overlap();
    return overlap <= 160 && this.live.article.getBoundingClientRect().bottom > 0;
  };

  Asker.prototype.follow = function () {
    // The scroll event comes late: a user who just scrolled up is seen here.
    if (this.following && this.scrolledAway()) { this.following = false; }
    if (!this.live || !this.following) { return; }
    var overlap = this.overlap();
    if (overlap > 0) { window.scrollBy(0, overlap + 12); }
    this.followedY = window.scrollY;
  };

  Asker.prototype.say = function (text) {
    this.hint.textContent = text;
    this.hint.hidden = !text;
  };

  Asker.prototype.setQuestion = function (text) {
    this.area.value = text;
    // The character counter listens for input.
    this.area.dispatchEvent(new Event("input"));
  };

  Asker.prototype.finish = function (live) {
    if (this.live !== live) { return; }
    this.live = null;
    this.controller = null;
    this.busy(false);
  };

  Asker.prototype.busy = function (on) {
    this.form.classList.toggle("busy", on);
    if (on) { this.button.setAttribute("disabled", ""); }
    else { this.button.removeAttribute("disabled"); }
  };

  Asker.prototype.ask = function (question) {
    var self = this;
    if (self.live) { return; }
    if (!question.trim()) {
      self.say("Type a question first, then press Ask.");
      self.area.focus({ preventScroll: true });
      return;
    }
    self.say("");
    self.turns.querySelectorAll(".suggestions, :scope > p.muted").forEach(function (n) { n.remove(); });
    var live = new LiveTurn(self.turns, question);
    self.live = live;
    self.following = true;
    self.followedY = window.scrollY;
    live.onGrow = function () { self.follow(); };
    live.stopButton.addEventListener("click", function () { self.stop(); });
    self.follow();
    self.setQuestion("");
    self.busy(true);
    var controller = new AbortController();
    self.controller = controller;
    var outcome = null;
    fetch(self.form.dataset.streamUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "text/event-stream",
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken(self.form)
      },
      body: JSON.stringify({ question: question }),
      signal: controller.signal
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("text/event-stream") !== 0) {
        return response.json().then(function (body) {
          var detail = body.detail || Object.keys(body).map(function (k) {
            return [].concat(body[k]).join(" ");
          }).join(" ");
          outcome = { error: true, text: detail || ("Error " + response.status) };
        });
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { return; }
          buffer += decoder.decode(chunk.value, { stream: true });
          var parsed = frames(buffer);
          buffer = parsed.rest;
          // Frames belong to this ask's card, even once Stop has let the
          // user ask again; a stopped card takes no more of them.
          parsed.frames.forEach(function (f) {
            if (!live.stopped) { outcome = self.handle(f, live) || outcome; }
          });
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      outcome = outcome || { error: true, text: live.stopped ? "Stopped." : "The connection was lost." };
    }).then(function () {
      if (live.stopped) { return; }  // Stop already freed the page
      outcome = outcome || { error: true, text: "The answer stopped before it was complete." };
      live.end(outcome.text, outcome.error);
      self.finish(live);
      // A failed ask keeps its question, to send again or edit.
      if (outcome.error && !self.area.value) { self.setQuestion(question); }
      self.area.focus({ preventScroll: true });
      if (live.turnId) { return replaceWithStored(live); }
    });
  };

  Asker.prototype.handle = function (frame, live) {
    var data = frame.data;
    switch (frame.event) {
      case "turn":
        live.turnId = data.turn_id;
        live.article.id = "live-turn-" + data.turn_id;
        live.article.dataset.turnId = data.turn_id;
        return null;
      case "step": live.step(data); return null;
      case "query": live.query(data); return null;
      case "rows": live.showRows(data); return null;
      case "token": live.token(data); return null;
      case "done": return { error: false, text: "Answered." };
      case "error":
        return { error: data.code !== "cancelled", text: data.code === "cancelled" ? "Stopped." : data.detail };
      default: return null;
    }
  };

  // Stop frees the page at once: the card ends, Ask is usable again, and the
  // stream is dropped; the server is told to cancel (and a dropped stream
  // stops the run by itself), and the stored turn replaces the card once the
  // server has written it down as cancelled.
  Asker.prototype.stop = function () {
    var self = this;
    var live = self.live;
    var controller = self.controller;
    if (!live || live.stopped) { return; }
    live.stopped = true;
    live.end("Stopped.", false);
    self.finish(live);
    self.area.focus({ preventScroll: true });
    if (!live.turnId) { if (controller) { controller.abort(); } return; }
    var url = self.form.dataset.cancelUrl.replace("/0/", "/" + live.turnId + "/");
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken(self.form) }
    }).catch(function () { /* dropping the stream stops the run all the same */ })
      .then(function () {
        if (controller) { controller.abort(); }
        replaceWhenStored(live);
      });
  };

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("ask-form");
    if (!form || !form.dataset.streamUrl || !window.fetch || !window.TextDecoder) { return; }
    var asker = new Asker(form);
    // app.js's busy handling is for plain posts; this form is ours now.
    form.removeAttribute("data-busy");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      asker.ask(asker.area.value);
    });
    document.querySelectorAll("form.suggestion").forEach(function (suggestion) {
      suggestion.removeAttribute("data-busy");
      suggestion.addEventListener("submit", function (event) {
        event.preventDefault();
        asker.ask(suggestion.querySelector("input[name=question]").value);
      });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && asker.live) { asker.stop(); }
    });
    markLastTurn();
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-resend]");
      if (!button) { return; }
      var question = button.closest(".resend").dataset.question;
      if (button.dataset.resend === "retry") {
        asker.ask(question);
      } else {
        asker.setQuestion(question);
        asker.area.focus();
        asker.area.setSelectionRange(question.length, question.length);
      }
    });
  });
})();
