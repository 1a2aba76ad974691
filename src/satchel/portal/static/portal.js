// satchel portal: small enhancements; every page works without them.
"use strict";

// Filters apply as soon as a box is ticked (the Apply button stays for keyboards and no-JS).
function autoSubmitFilters() {
  const form = document.getElementById("filters");
  if (!form) return;
  form.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type === "checkbox") {
      form.requestSubmit();
    }
  });
}

function remaining(seconds) {
  if (seconds >= 3600) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    return `${h} h ${String(m).padStart(2, "0")} min`;
  }
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m > 0 ? `${m} min ${String(s).padStart(2, "0")} s` : `${s} s`;
}

// Each link's lifetime counts down; an expired one can no longer be copied.
function countDown() {
  const spans = Array.from(document.querySelectorAll(".expires[data-expires]"));
  if (spans.length === 0) return;
  const tick = () => {
    const now = Math.floor(Date.now() / 1000);
    for (const span of spans) {
      const left = Number(span.dataset.expires) - now;
      const row = span.closest("td");
      const copy = row ? row.querySelector("button.copy-link") : null;
      if (left > 0) {
        span.textContent = `link expires in ${remaining(left)}`;
      } else if (!span.classList.contains("expired")) {
        span.classList.add("expired");
        span.textContent = "link expired: reload the page for a new one";
        if (copy) copy.disabled = true;
      }
    }
  };
  tick();
  window.setInterval(tick, 1000);
}

// "Copy download link": to the clipboard, or shown for copying by hand where not allowed.
function copyLinks() {
  for (const button of document.querySelectorAll("button.copy-link")) {
    button.addEventListener("click", async () => {
      const url = button.dataset.url || "";
      const field = button.parentElement ? button.parentElement.querySelector(".link-url") : null;
      try {
        await navigator.clipboard.writeText(url);
        button.textContent = "Link copied";
        window.setTimeout(() => { button.textContent = "Copy download link"; }, 2000);
      } catch (error) {
        if (field) {
          field.hidden = false;
          field.focus();
          field.select();
        }
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  autoSubmitFilters();
  countDown();
  copyLinks();
});
