// vertebra web app: small progressive enhancements. The pages work without this file.
(function () {
  "use strict";

  // "Missing information" and error links: go to the field and put the keyboard focus there.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.jump") : null;
    if (!link) return;
    var id = (link.getAttribute("href") || "").replace(/^#/, "");
    var target = document.getElementById(id);
    if (!target) return;
    event.preventDefault();
    var input = target.matches("input, select, textarea")
      ? target
      : target.querySelector("input:checked") || target.querySelector("input, select, textarea");
    target.scrollIntoView({ block: "center" });
    (input || target).focus({ preventScroll: true });
    target.classList.add("flash");
    window.setTimeout(function () { target.classList.remove("flash"); }, 1600);
  });

  // Ticking a condition or an allergy means the list has been reviewed.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box || box.type !== "checkbox" || !box.checked) return;
    var group = box.closest("[data-list]");
    if (!group) return;
    var reviewed = group.querySelector("input[type=radio][value=yes]");
    if (reviewed) reviewed.checked = true;
  }, true);

  // Questions for women only (postmenopausal, pregnant, breastfeeding): hidden and not sent
  // when sex is male (a disabled fieldset's inputs are not submitted).
  function sexChanged(select) {
    var male = select.value === "male";
    document.querySelectorAll("[data-female-only]").forEach(function (field) {
      field.hidden = male;
      field.disabled = male;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "f-sex") sexChanged(event.target);
  }, true);

  // Open the closed knowledge-table rows that hold the linked row.
  function openTarget() {
    var id = window.location.hash.replace(/^#/, "");
    var target = id ? document.getElementById(id) : null;
    var box = target && target.closest ? target.closest("details") : null;
    if (box && !box.open) { box.open = true; target.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openTarget);
  document.addEventListener("DOMContentLoaded", openTarget);

  // Print buttons on the printable pages.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) window.print();
  });

  // Busy state for assistive technology while the plan is recomputed.
  document.addEventListener("htmx:beforeRequest", function () {
    var plan = document.getElementById("plan");
    if (plan) plan.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterSettle", function () {
    var plan = document.getElementById("plan");
    if (plan) plan.setAttribute("aria-busy", "false");
  });
})();
