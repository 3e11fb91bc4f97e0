// Reloads a registration page while the tool talks to the LMS in the background
// (lti/dynreg.py); the page's "Check again" button does the same without JavaScript.
const waiting = document.querySelector("[data-refresh]");
if (waiting) {
  const delay = Math.max(500, Number(waiting.dataset.refresh) || 2000);
  setTimeout(() => window.location.reload(), delay);
}
