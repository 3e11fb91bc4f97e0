// Saves the quiz answers ticked so far on the server as the learner goes, so a reload,
// leaving and coming back, or another device shows them again. Submitting still sends the
// whole form, which is what is marked. Without this script, "Save and come back later" does it.
const form = document.querySelector("form[data-draft]");
if (form) {
  const address = form.dataset.draft;
  const status = document.getElementById("draft-status");
  const body = () => new URLSearchParams(new FormData(form)); // with its csrf_token
  let timer = null;
  let unsaved = false;

  const say = (text) => {
    if (status.textContent === text) return;
    const line = document.createElement("p");
    line.className = "govuk-body govuk-!-font-weight-bold";
    line.textContent = text;
    status.replaceChildren(...(text ? [line] : []));
  };

  const save = async () => {
    timer = null;
    unsaved = false;
    try {
      const response = await fetch(address, {
        method: "POST",
        body: body(),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(String(response.status));
      say("");
    } catch {
      unsaved = true;
      say('Your latest answers could not be saved. Select "Save and come back later" before you leave.');
    }
  };

  form.addEventListener("change", () => {
    unsaved = true;
    clearTimeout(timer);
    timer = setTimeout(save, 250);
  });

  // Leaving (a link, a reload, closing the tab) before the last change was sent: send it now.
  window.addEventListener("pagehide", () => {
    if (unsaved) {
      clearTimeout(timer);
      navigator.sendBeacon(address, body());
      unsaved = false;
    }
  });
}
