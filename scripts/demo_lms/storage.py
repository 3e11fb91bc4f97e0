"""The demo LMS's platform storage: its side of 1EdTech's LTI Client Side postMessages.

The course page that frames the tool answers `lti.capabilities`, `lti.put_data` and
`lti.get_data`, as Canvas does, so that a tool whose cookies the browser refuses in the
frame can keep its login's state and nonce in the LMS's page. Only messages from the tool's
registered origin are answered, and each origin has its own store (the page's memory).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

STORAGE_TARGET = "_parent"

_SCRIPT = """<script>
(() => {
  const allowed = %(origins)s;
  const stores = new Map();  // one per tool origin: a tool never reads another's data
  const answer = (event, data, extra) =>
    event.source.postMessage(
      { subject: data.subject + ".response", message_id: data.message_id, ...extra },
      event.origin);
  window.addEventListener("message", (event) => {
    const data = event.data;
    if (!allowed.includes(event.origin) || !event.source) return;
    if (!data || typeof data !== "object" || typeof data.message_id !== "string") return;
    if (!stores.has(event.origin)) stores.set(event.origin, new Map());
    const store = stores.get(event.origin);
    if (data.subject === "lti.capabilities") {
      answer(event, data, { supported_messages: [
        { subject: "lti.capabilities" }, { subject: "lti.put_data" },
        { subject: "lti.get_data" } ] });
    } else if (data.subject === "lti.put_data") {
      const value = data.value;
      if (typeof data.key !== "string" || !(typeof value === "string" || value === null)) {
        answer(event, data, { error: { code: "bad_request", message: "key and value" } });
        return;
      }
      if (value === null) store.delete(data.key);  // null removes, as the spec says
      else store.set(data.key, value);
      answer(event, data, { key: data.key, value: data.value });
    } else if (data.subject === "lti.get_data") {
      if (!store.has(data.key)) {
        answer(event, data, { error: { code: "not_found", message: "no such key" } });
        return;
      }
      answer(event, data, { key: data.key, value: store.get(data.key) });
    }
  });
})();
</script>"""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def storage_script(tool_url: str) -> str:
    """The course page's listener, answering the tool at `tool_url`'s origin only."""
    # json.dumps of a URL origin, with "<" escaped: nothing can end the script element.
    origins = json.dumps([origin_of(tool_url)]).replace("<", "\\u003c")
    return _SCRIPT % {"origins": origins}
