// Warns two minutes before a quiz time limit ends (WCAG 2.2.1), without moving focus.
const box = document.getElementById("quiz-deadline");
if (box) {
  const deadline = Date.parse(box.dataset.deadline);
  const warning = document.createElement("p");
  warning.className = "govuk-body govuk-!-font-weight-bold";
  warning.setAttribute("role", "status");
  box.append(warning);
  const tick = () => {
    const left = Math.round((deadline - Date.now()) / 1000);
    if (left <= 120 && left > 0) {
      warning.textContent = `About ${Math.ceil(left / 60)} minute${left > 60 ? "s" : ""} left. Select "I need more time" if you need it.`;
    } else if (left <= 0) {
      warning.textContent = "The time limit has passed. Select \"I need more time\" to carry on.";
      return;
    }
    setTimeout(tick, 10000);
  };
  tick();
}
