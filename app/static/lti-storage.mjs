// Platform storage (1EdTech "LTI Client Side postMessages", as Canvas offers it): where a
// browser refuses the tool's cookies in the LMS's frame, the login keeps its state and nonce
// in the LMS's page, and the launch page reads them back to prove it is the same browser.
// Messages go only to the platform's origin (never "*"), and only its answers to our own
// message ids count: any other page may post messages to this window.
const WAIT_MS = 3000;

function storageWindow(target) {
  if (window.parent === window) return null; // not framed: nowhere to keep anything
  if (target === "_parent") return window.parent;
  try {
    return window.parent.frames[target] || null;
  } catch {
    return null;
  }
}

function messageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// One request and its answer, or a rejection on an error answer or after WAIT_MS.
function ask(win, origin, subject, fields) {
  const id = messageId();
  return new Promise((resolve, reject) => {
    const listener = (event) => {
      const data = event.data;
      if (event.origin !== origin || event.source !== win) return;
      if (!data || typeof data !== "object" || data.message_id !== id) return;
      if (data.subject !== `${subject}.response`) return;
      done();
      if (data.error) reject(new Error(`${subject}: ${data.error.code || "error"}`));
      else resolve(data);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${subject}: no answer`));
    }, WAIT_MS);
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener("message", listener);
    };
    window.addEventListener("message", listener);
    win.postMessage({ subject, message_id: id, ...fields }, origin);
  });
}

async function supports(win, origin, subject) {
  const answer = await ask(win, origin, "lti.capabilities", {});
  const messages = Array.isArray(answer.supported_messages) ? answer.supported_messages : [];
  return messages.some((m) => m && m.subject === subject);
}

// At login: keep the state and nonce, then go on to the LMS's auth URL whatever happened
// (the state cookie may still work, and the new-window flow is there if not).
async function keep(box) {
  const win = storageWindow(box.dataset.target);
  const origin = box.dataset.origin;
  if (!win || !(await supports(win, origin, "lti.put_data"))) return;
  for (const [key, value] of Object.entries(JSON.parse(box.dataset.items))) {
    const answer = await ask(win, origin, "lti.put_data", { key, value });
    if (answer.key !== key) throw new Error("lti.put_data: answer for another key");
  }
}

async function read(win, origin, key) {
  const answer = await ask(win, origin, "lti.get_data", { key });
  return answer.key === key && typeof answer.value === "string" ? answer.value : null;
}

// At launch, without the state cookie: read them back, have the tool check them, and go
// on in this frame if the session cookie the tool then sets comes back.
async function prove(box) {
  const win = storageWindow(box.dataset.target);
  const origin = box.dataset.origin;
  if (!win || !(await supports(win, origin, "lti.get_data"))) return false;
  const [stateKey, nonceKey] = JSON.parse(box.dataset.keys);
  const state = await read(win, origin, stateKey);
  const nonce = await read(win, origin, nonceKey);
  if (!state || !nonce) return false;
  const proof = await fetch(box.dataset.proofUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ proof: box.dataset.proof, state, nonce }),
  });
  if (!proof.ok) return false;
  const { launch } = await proof.json();
  const visit = await fetch(box.dataset.visitUrl, { credentials: "same-origin", cache: "no-store" });
  return visit.ok && (await visit.json()).launch === launch;
}

const box = document.getElementById("lti-storage");
if (box && box.dataset.mode === "keep") {
  keep(box)
    .catch(() => {})
    .finally(() => window.location.assign(box.dataset.next));
} else if (box && box.dataset.mode === "prove") {
  // On failure the page stays as it is: the new-window flow.
  prove(box)
    .then((inFrame) => {
      if (inFrame) window.location.assign(box.dataset.next);
    })
    .catch(() => {});
}
