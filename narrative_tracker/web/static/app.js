// Progressive enhancement only: every page works without this file.
// Labelling queue: a/r accept or reject, 1/2/3 set the stance, s skips.
"use strict";
document.addEventListener("keydown", function (event) {
  var form = document.getElementById("queue-form");
  if (!form || event.ctrlKey || event.metaKey || event.altKey) return;
  var target = event.target;
  if (target && ["TEXTAREA", "SELECT"].indexOf(target.tagName) >= 0) return;
  if (target && target.tagName === "INPUT" && target.type !== "radio") return;
  var element = form.querySelector('[data-key="' + CSS.escape(event.key) + '"]');
  if (!element) return;
  event.preventDefault();
  if (element.tagName === "INPUT") {
    element.checked = true;
  } else {
    element.click();
  }
});

// Models page: while a training run goes, follow it through GET /models/training (the page shows
// the same state without this script, with a Refresh link). Text only, never markup.
(function () {
  var POLL_MS = 2000;
  var MAX_POLLS = 5400; // three hours at most, then the Refresh link is there
  var section = document.getElementById("training");
  if (!section || section.getAttribute("data-running") !== "true") return;
  var url = section.getAttribute("data-status");
  var polls = 0;

  function text(id, value) {
    var element = document.getElementById(id);
    if (element) element.textContent = value;
  }

  function capitalised(value) {
    return value ? value.charAt(0).toUpperCase() + value.slice(1) : "";
  }

  function show(state) {
    text("training-by", state.started_by);
    text("training-phase", capitalised(state.phase) + (state.folds ? ", fold " + state.fold + " of " + state.folds : ""));
    text("training-step", state.step ? ": " + state.step : "");
    text("training-count", state.total ? state.done + " of " + state.total + " " + state.unit : "");
    text("training-elapsed", Math.round(state.elapsed_seconds) + " s");
    var bar = document.getElementById("training-bar");
    if (bar) {
      bar.max = state.total || 1;
      bar.value = state.done;
    }
  }

  function finish(state) {
    document.getElementById("training-running").hidden = true;
    text("training-message", state.message);
    var outcome = document.getElementById("training-outcome");
    outcome.hidden = false;
    if (state.message.indexOf("Training failed") === 0) outcome.className = "error";
    document.getElementById("training-reload").hidden = !state.version;
    var button = document.getElementById("train");
    if (button) button.disabled = false;
    section.setAttribute("data-running", "false");
  }

  function poll() {
    polls += 1;
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (state) {
        if (state.running) {
          show(state);
          if (polls < MAX_POLLS) window.setTimeout(poll, POLL_MS);
        } else {
          finish(state);
        }
      })
      .catch(function () {
        // Signed out, server gone: leave the page as it is; the Refresh link still works.
      });
  }

  window.setTimeout(poll, POLL_MS);
})();
