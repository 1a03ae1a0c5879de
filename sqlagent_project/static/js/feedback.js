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
        box.querySelector(".feedback-save").hidden = !(r.ok && rating === "up");
      });
    } else {
      post(box, box.dataset.saveUrl).then(function (r) {
        status.textContent = r.ok ? "Saved as a verified example." : (r.data.detail || "Could not save.");
        if (r.ok) button.hidden = true;
      });
    }
  });
})();
