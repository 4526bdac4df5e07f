/* lvsweb console: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  // "/" jumps to the global search, as in many consoles (not while typing in a field).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var search = document.getElementById("global-search");
    if (search) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  });

  // Menus (<details class="menu">) close on Escape and on a click elsewhere.
  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest ? event.target.closest("details.menu") : null);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      var open = document.querySelector("details.menu[open]");
      closeMenus(null);
      if (open) open.querySelector("summary").focus();
    }
  });

  // The forwarding-method explanation follows the selected method (data-method-help on the select).
  function showMethod(select) {
    var box = document.getElementById(select.getAttribute("data-method-help"));
    if (!box) return;
    box.querySelectorAll("[data-method]").forEach(function (item) {
      item.classList.toggle("selected", item.getAttribute("data-method") === select.value);
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-method-help]")) showMethod(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-method-help]").forEach(showMethod);
  });

  // After htmx replaces a row, keep keyboard focus in it: on the same action if the new row has it (else on
  // its first one-click action, e.g. Enable after Drain — the undo is one key press away).
  document.addEventListener("htmx:afterSwap", function (event) {
    var config = event.detail.requestConfig;
    if (!config || config.verb !== "post") return; // a poll (connections) never moves the focus
    var old = event.detail.target;
    // An outerHTML swap replaced the target: find its successor by id.
    var row = (old && old.id && document.getElementById(old.id)) || old;
    if (!row || !row.querySelector) return;
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var clicked = source && source.querySelector ? source.querySelector("[data-action]") : null;
    var action = clicked && clicked.getAttribute("data-action");
    var button = (action && row.querySelector('[data-action="' + action + '"]')) || row.querySelector("[data-action]");
    if (button) button.focus();
  });

  // A failed htmx request (refused, invalid) falls back to the normal page, which explains why.
  document.addEventListener("htmx:responseError", function (event) {
    var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (form) {
      form.removeAttribute("hx-post");
      form.submit();
    }
  });

  // "Copy" buttons (data-copy="ID") put the text of element ID on the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(document.getElementById(button.dataset.copy).textContent).then(function () {
      button.textContent = "Copied";
    });
  });
})();
