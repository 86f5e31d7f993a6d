"""FreeSWITCH's dialplan, answered live over mod_xml_curl (DESIGN D4): what a dialled
number does, decided at call time from the store (no reloadxml when an account changes).

- A 4-digit account number (E2) in the "default" context (the context the directory gives
  every authenticated account) rings all of that account's registered devices
  (`user/<account>@<domain>`: the directory's dial-string reaches each contact). An
  account with no registered device answers 480 Temporarily Unavailable; a busy or
  declining callee gives its own answer (486, 603) through the bridge's cause.
- Anything else is answered 404 Not Found.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import quoteattr

CONTEXT = "default"
# Bridge failures after which the call goes on to the 480 below; other causes (busy,
# declined) end the call with the callee's own answer.
UNREACHABLE_CAUSES = "USER_NOT_REGISTERED,SUBSCRIBER_ABSENT,NO_USER_RESPONSE"


def _document(context: str, name: str, destination: str, actions: list[tuple[str, str]]
              ) -> str:
    body = "".join(f"          <action application={quoteattr(app)} data={quoteattr(data)}/>\n"
                   for app, data in actions)
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<document type="freeswitch/xml">\n'
        '  <section name="dialplan" description="vcbox">\n'
        f"    <context name={quoteattr(context)}>\n"
        f"      <extension name={quoteattr(name)}>\n"
        f'        <condition field="destination_number" '
        f"expression={quoteattr('^' + _literal(destination) + '$')}>\n"
        f"{body}"
        "        </condition>\n"
        "      </extension>\n"
        "    </context>\n"
        "  </section>\n"
        "</document>\n"
    )


def _literal(text: str) -> str:
    """A regular expression matching exactly `text` (PCRE metacharacters escaped)."""
    return "".join("\\" + c if not c.isalnum() else c for c in text)


def route(context: str, destination: str, domain: str,
          is_account: Callable[[str], bool]) -> str:
    """The dialplan document for one call: `destination` dialled in `context`."""
    if context == CONTEXT and is_account(destination):
        return _document(context, f"account-{destination}", destination, [
            ("set", "hangup_after_bridge=true"),
            ("set", f"continue_on_fail={UNREACHABLE_CAUSES}"),
            ("set", "call_timeout=60"),
            ("bridge", f"user/{destination}@{domain}"),
            ("respond", "480 Temporarily Unavailable"),
        ])
    return _document(context, "not-found", destination, [("respond", "404 Not Found")])
