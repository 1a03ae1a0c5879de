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
    if (target) { copyText(target.textContent, button); }
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

  document.addEventListener("DOMContentLoaded", function () {
    var turns = document.querySelectorAll(".turn");
    if (turns.length) { turns[turns.length - 1].scrollIntoView({ block: "start" }); }
  });
})();
