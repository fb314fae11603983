// tenant-access web wizard: the copy button and live progress. The pages work without it.
(function () {
  "use strict";

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var id = button.getAttribute("data-copy");
    var source = document.getElementById(id);
    var said = document.querySelector('[data-copied-for="' + id + '"]');
    if (!source || !navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(
        function () { if (said) { said.textContent = "Copied."; } },
        function () { if (said) { said.textContent = "Could not copy: select the code and copy it."; } }
      );
    });
  });

  // Right after "Sign in with Microsoft": go on to Microsoft's page. (A form may not redirect
  // to another origin under this page's CSP form-action, so the page carries the link.)
  var go = document.querySelector("a[data-go]");
  if (go) { window.location.assign(go.href); }

  document.querySelectorAll("[data-poll-url]").forEach(function (region) {
    var url = region.getAttribute("data-poll-url");
    var every = parseInt(region.getAttribute("data-poll-every"), 10) || 5000;
    var text = region.querySelector("[data-poll-text]") || region;
    var bar = document.getElementById(region.getAttribute("data-progress") || "");
    function check() {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (status) {
          if (status.message && text.textContent !== status.message) { text.textContent = status.message; }
          if (bar && typeof status.max === "number") {
            bar.max = Math.max(status.max, 1);
            bar.value = status.value;
          }
          if (status.done) {
            if (status.next) { window.location.assign(status.next); }
            return;
          }
          window.setTimeout(check, every);
        })
        .catch(function () { window.setTimeout(check, every * 2); });
    }
    window.setTimeout(check, every);
  });
})();
