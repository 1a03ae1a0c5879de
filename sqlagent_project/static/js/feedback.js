// Feedback on an answer (rate it, save it as a verified example), on every page
// that shows answers. A static file: the Content-Security-Policy allows no inline script.
(function () {
  if (window.sqlagentFeedback) return;
  window.sqlagentFeedback = true;
  function post(box, url, body) {
    var token = box.querySelector("input[name=csrfmiddlewaretoken]").value;
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token},
      body: JSON.stringify(body || {})}).then(function (r) {
        return r.json().then(function (data) { return {ok: r.ok, data: data}; });
      });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".feedback-rate, .feedback-save");
    if (!button) return;
    var box = button.closest(".feedback");
    var status = box.querySelector(".feedback-status");
    if (button.classList.contains("feedback-rate")) {
      var rating = button.dataset.rating;
      var comment = box.querySelector(".feedback-comment").value;
      post(box, box.dataset.feedbackUrl, {rating: rating, comment: comment}).then(function (r) {
        status.textContent = r.ok ? "Thanks for the feedback." : (r.data.detail || "Could not save.");
        // A team viewer is offered no Save (the page leaves the button out).
        var save = box.querySelector(".feedback-save");
        if (save) save.hidden = !(r.ok && rating === "up");
      });
    } else {
      post(box, box.dataset.saveUrl).then(function (r) {
        var saved = r.data.verified === false
          ? "Proposed as an example: a team admin verifies it before it is used."
          : "Saved as a verified example.";
        status.textContent = r.ok ? saved : (r.data.detail || "Could not save.");
        if (r.ok) button.hidden = true;
      });
    }
  });
})();
