// "Copy" buttons: copy the named field's text. They are hidden until this script shows them:
// without JavaScript the read-only field is plain selectable text, and nothing depends on this.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (b) {
    b.hidden = false;
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    field.focus();
    field.select();
    var told = document.getElementById("copied");
    function done() { if (told) { told.hidden = false; } }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        if (document.execCommand && document.execCommand("copy")) { done(); }
      });
    } else if (document.execCommand && document.execCommand("copy")) {
      done();
    }
  });
}());
