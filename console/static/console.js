/* Progressive enhancement of the staff console; every page works without it. */
(function () {
  "use strict";

  // Upload progress of a target list (htmx reports the browser's upload progress).
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-progress]") : null;
    if (!form || !event.detail.lengthComputable) return;
    var bar = document.querySelector(form.getAttribute("data-progress"));
    if (!bar) return;
    var percent = Math.round((event.detail.loaded / event.detail.total) * 100);
    bar.value = percent;
    bar.textContent = percent + "%";
  });

  // A review decided in place: one fewer pending.
  document.addEventListener("review-decided", function () {
    var count = document.getElementById("pending-count");
    if (!count) return;
    var left = Math.max(parseInt(count.textContent, 10) - 1, 0);
    count.textContent = String(left);
  });

  // Print buttons on the QR code pages.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-print]") : null;
    if (button) window.print();
  });
})();
