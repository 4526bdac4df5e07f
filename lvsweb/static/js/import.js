/* Import page: a line number in the preview selects that line of the rules (without JavaScript the link scrolls to them). */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-line]");
    var box = document.getElementById("id_text");
    if (!link || !box) return;
    event.preventDefault();
    var lines = box.value.split("\n"), wanted = parseInt(link.dataset.line, 10) - 1, start = 0;
    for (var i = 0; i < wanted && i < lines.length; i++) start += lines[i].length + 1;
    box.focus();
    box.setSelectionRange(start, start + (lines[wanted] || "").length);
    box.scrollTop = Math.max(0, wanted * (box.scrollHeight / Math.max(lines.length, 1)) - box.clientHeight / 3);
  });
})();
