// Tells the LMS that registration is over, as LTI Dynamic Registration asks: the LMS
// (Moodle, Canvas, the demo LMS) closes its frame or window and lists the new tool.
// Sent to any origin ("*", as the specification's and Canvas's examples do): Canvas's page
// is on the school's own domain, not on the issuer's, and the message carries no secret.
const marker = document.getElementById("lti-close");
const target = window.opener || (window.parent !== window ? window.parent : null);
if (marker && target) {
  target.postMessage({ subject: "org.imsglobal.lti.close" }, "*");
}
