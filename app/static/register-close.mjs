// Tells the LMS that registration is over, as LTI Dynamic Registration asks: the LMS
// (Moodle, the demo LMS) closes its frame or window and lists the new tool. Sent only
// to the LMS's own origin, read from the page (the issuer of the configuration read).
const marker = document.getElementById("lti-close");
const origin = marker ? marker.dataset.origin : "";
const target = window.opener || (window.parent !== window ? window.parent : null);
if (origin && target) {
  target.postMessage({ subject: "org.imsglobal.lti.close" }, origin);
}
