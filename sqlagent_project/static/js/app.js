// Small progressive enhancements; every form also works without this script.
// Data is only ever set with textContent, never innerHTML.
(function () {
  "use strict";

  function copyText(text, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
      return;
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); done(); } catch (e) { /* nothing to do */ }
    document.body.removeChild(area);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) { return; }
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (target) { copyText("value" in target ? target.value : target.textContent, button); }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-busy")) { return; }
    if (form.classList.contains("busy")) { event.preventDefault(); return; }
    form.classList.add("busy");
    form.querySelectorAll("button[type=submit]").forEach(function (b) {
      b.setAttribute("disabled", "");
      if (b.dataset.busyLabel) { b.textContent = b.dataset.busyLabel; }
    });
  });

  // Enter sends the question; Shift+Enter makes a new line.
  document.addEventListener("keydown", function (event) {
    var area = event.target;
    if (area.id !== "id_question" || event.key !== "Enter" || event.shiftKey) { return; }
    event.preventDefault();
    if (area.value.trim() && area.form) { area.form.requestSubmit(); }
  });

  // Up in an empty question box brings the last question back to edit.
  document.addEventListener("keydown", function (event) {
    var area = event.target;
    if (area.id !== "id_question" || event.key !== "ArrowUp" || area.value) { return; }
    var last = document.querySelectorAll("#turns .resend[data-question]");
    if (!last.length) { return; }
    event.preventDefault();
    area.value = last[last.length - 1].dataset.question;
    area.dispatchEvent(new Event("input"));
  });

  // Ctrl+K (or Cmd+K) searches the conversations.
  document.addEventListener("keydown", function (event) {
    if (event.key.toLowerCase() !== "k" || !(event.ctrlKey || event.metaKey)) { return; }
    var search = document.getElementById("thread-search");
    if (search) { event.preventDefault(); search.focus(); search.select(); }
  });

  // The sidebar's search narrows the list as the user types (the form still
  // searches on the server when sent).
  document.addEventListener("input", function (event) {
    if (event.target.id !== "thread-search") { return; }
    var words = event.target.value.trim().toLowerCase();
    document.querySelectorAll("#conversations .thread-list").forEach(function (list) {
      var shown = 0;
      list.querySelectorAll(".thread-item").forEach(function (item) {
        var match = !words || item.dataset.title.indexOf(words) !== -1;
        item.hidden = !match;
        if (match) { shown += 1; }
      });
      list.hidden = !shown;
      var heading = list.previousElementSibling;
      if (heading && heading.classList.contains("thread-group")) { heading.hidden = !shown; }
    });
  });

  // "/" focuses the question box, unless the user is typing somewhere.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var active = document.activeElement;
    if (active && (active.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName))) { return; }
    var box = document.getElementById("id_question");
    if (box) { event.preventDefault(); box.focus(); }
  });

  // A counter under the question: a long paste is flagged before sending,
  // never cut silently.
  function counter(box) {
    var limit = Number(box.dataset.maxLength || 0);
    if (!limit) { return; }
    var note = document.createElement("small");
    note.className = "muted counter";
    note.id = "question-counter";
    note.setAttribute("aria-live", "polite");
    box.setAttribute("aria-describedby", note.id);
    box.insertAdjacentElement("afterend", note);
    var update = function () {
      var over = box.value.length - limit;
      note.classList.toggle("over", over > 0);
      note.textContent = over > 0
        ? box.value.length + " / " + limit + " characters: " + over + " too many, shorten the question before sending."
        : box.value.length + " / " + limit + " characters";
    };
    box.addEventListener("input", update);
    update();
    if (box.form) {
      box.form.addEventListener("submit", function (event) {
        if (box.value.length > limit) { event.preventDefault(); event.stopImmediatePropagation(); box.focus(); }
      }, true);
    }
  }

  // The question being sent is kept until its answer shows, so a login that
  // expired in between does not lose it.
  var DRAFT = "sqlagent-question-draft";
  document.addEventListener("submit", function (event) {
    var box = event.target.querySelector && event.target.querySelector("#id_question");
    if (box && window.sessionStorage) { sessionStorage.setItem(DRAFT, box.value); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("id_question");
    if (box) {
      counter(box);
      var draft = window.sessionStorage ? sessionStorage.getItem(DRAFT) : null;
      if (draft) {
        var asked = Array.prototype.some.call(document.querySelectorAll(".turn .question"), function (q) {
          return q.textContent.indexOf(draft.trim()) !== -1;
        });
        if (!asked && !box.value) { box.value = draft; box.dispatchEvent(new Event("input")); }
        sessionStorage.removeItem(DRAFT);
      }
    }
    // Messages go where the user is looking: an error or notice is scrolled
    // into view; otherwise the latest answer is.
    var notice = document.querySelector(".messages");
    var turns = document.querySelectorAll(".turn");
    var target = window.location.hash ? document.getElementById(window.location.hash.slice(1)) : null;
    if (target) {
      // The page was sent back to one turn (Edit SQL): stay with it.
      target.scrollIntoView({ block: "start" });
    } else if (notice) {
      notice.scrollIntoView({ block: "start" });
    } else if (turns.length) {
      turns[turns.length - 1].scrollIntoView({ block: "start" });
    }
    if (box) { box.focus({ preventScroll: true }); }
    // A turn still running (say, asked in another tab) updates by itself.
    var running = document.querySelector(".turn[data-status=running]");
    if (running && window.fetch) {
      var poll = function () {
        fetch("/turns/" + running.dataset.turnId + "/status/", { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (body) {
            if (body && body.status !== "running") { window.location.reload(); }
            else { setTimeout(poll, 3000); }
          }).catch(function () { setTimeout(poll, 10000); });
      };
      setTimeout(poll, 3000);
    }
  });
})();
