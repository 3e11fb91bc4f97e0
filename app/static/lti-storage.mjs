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

// At launch, without the state cookie: read them back and have the tool check them. The
// answer: null, or the launch and the key for a new window (lti/routes.py storage_window).
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
  return proof.ok ? proof.json() : null;
}

// Whether the session cookie the proof set came back with the next request.
async function cookieWorks(box, launch) {
  const visit = await fetch(box.dataset.visitUrl, { credentials: "same-origin", cache: "no-store" });
  return visit.ok && (await visit.json()).launch === launch;
}

// The frame refuses the tool's cookies: the button opens the new window itself and gives
// the key to that window only (its own, of the tool's origin), which then needs no question.
function offerWindow(box, key) {
  const form = document.getElementById("new-window");
  if (!form) return;
  let opened = null;
  window.addEventListener("message", (event) => {
    const data = event.data;
    if (!opened || event.source !== opened || event.origin !== window.location.origin) return;
    if (!data || data.subject !== "cpm.window.ready") return;
    opened.postMessage({ subject: "cpm.window.key", key }, window.location.origin);
  });
  form.addEventListener("submit", (event) => {
    opened = window.open(box.dataset.windowUrl, "_blank");
    if (opened) event.preventDefault(); // a blocked pop-up: the form's own new window
  });
}

// The new window: ask the frame that opened it for the key, and post it.
function askOpener() {
  const opener = window.opener;
  if (!opener) return Promise.reject(new Error("no opener"));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no key")), WAIT_MS);
    window.addEventListener("message", (event) => {
      const data = event.data;
      if (event.source !== opener || event.origin !== window.location.origin) return;
      if (!data || data.subject !== "cpm.window.key" || typeof data.key !== "string") return;
      clearTimeout(timer);
      resolve(data.key);
    });
    opener.postMessage({ subject: "cpm.window.ready" }, window.location.origin);
  });
}

async function signInWindow(box) {
  const key = await askOpener();
  const answer = await fetch(box.dataset.postUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ key }),
  });
  if (!answer.ok) throw new Error("refused");
}

const box = document.getElementById("lti-storage");
if (box && box.dataset.mode === "keep") {
  keep(box)
    .catch(() => {})
    .finally(() => window.location.assign(box.dataset.next));
} else if (box && box.dataset.mode === "prove") {
  // On failure the page stays as it is: the new-window flow, with its question.
  // data-outcome says which way it went (for people reading the page's source, and tests).
  prove(box)
    .then(async (proven) => {
      if (!proven) {
        box.dataset.outcome = "not-proven";
      } else if (await cookieWorks(box, proven.launch)) {
        box.dataset.outcome = "frame";
        window.location.assign(box.dataset.next);
      } else {
        offerWindow(box, proven.window);
        box.dataset.outcome = "new-window";
      }
    })
    .catch(() => {
      box.dataset.outcome = "not-proven";
    });
} else if (box && box.dataset.mode === "window") {
  signInWindow(box)
    .then(() => window.location.assign(box.dataset.next))
    .catch(() => {
      document.getElementById("lti-storage-status").textContent = "";
      document.getElementById("lti-storage-failed").hidden = false;
    });
}
