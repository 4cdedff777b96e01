// A form with data-confirm asks before it is sent (no inline handler: the CSP allows scripts from 'self' only).
(function () {
  "use strict";
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (ev) => { if (!window.confirm(form.dataset.confirm)) ev.preventDefault(); });
  }
})();
