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
