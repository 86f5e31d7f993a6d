"""What an apply did, in the administrator's words: the short message after a save (the
settings pages' toast) and the details of the operation log's apply entry.

Services are named as the pages name them (SIP/IVR service, MCU service ...), never by
their unit or program name. A service that does not run on this machine (development,
tests: its configuration is only checked) is said to be checked, not restarted.
"""

from __future__ import annotations

from controlplane.apply.commit import Outcome, Result
from controlplane.apply.plan import Plan
from controlplane.errors import Message
from controlplane.i18n import N_, normalize, translate
from controlplane.oplog import Detail
from controlplane.sections.base import Term

SERVICES: dict[str, str] = {
    "freeswitch": N_("SIP/IVR service"),
    "janus": N_("MCU service"),
    "coturn": N_("TURN service"),
    "nginx": N_("web server"),
    "ssh": N_("SSH service"),
    "chrony": N_("time synchronisation service"),
    "rsyslog": N_("log forwarding service"),
    "network": N_("network"),
    "firewall": N_("firewall"),
    "clock": N_("system clock"),
}
RESTARTS = frozenset({"restart", "profile_restart"})
RELOADS = frozenset({"reload", "reloadxml"})


def service_name(service: str, language: str) -> str:
    return translate(language, SERVICES.get(service, N_("system service")))


def _join(names: list[str], language: str) -> str:
    return ("、" if normalize(language) == "zh_CN" else ", ").join(names)


def _checked_only(outcome: Outcome) -> bool:
    """The action was not run: the service does not run here, its config was checked."""
    text = outcome.text.strip()
    return text.startswith(("checked", "skipped", "files written"))


def _unique(services: list[str]) -> list[str]:
    return list(dict.fromkeys(services))


def saved(changed: bool, result: Result | None, language: str) -> str:
    """The toast after a save: nothing changed; saved and in effect; which services
    restarted; or, where they do not run, that their configuration was checked."""
    if not changed:
        return translate(language, N_("Nothing changed."))
    outcomes = result.outcomes if result is not None else []
    restarted = _unique([o.action.service for o in outcomes
                         if o.ok and o.action.verb in RESTARTS and not _checked_only(o)])
    if restarted:
        return translate(language, N_("Saved. Restarted: %(services)s."),
                         services=_join([service_name(s, language) for s in restarted],
                                        language))
    checked = _unique([o.action.service for o in outcomes
                       if o.ok and _checked_only(o) and o.action.service in SERVICES
                       and o.action.service not in ("network", "clock")])
    if checked:
        return translate(language, N_(
            "Saved. Not running on this machine, so only their new configuration was "
            "checked: %(services)s."),
            services=_join([service_name(s, language) for s in checked], language))
    return translate(language, N_("Saved and in effect."))


def _outcome(outcome: Outcome) -> Message:
    """One service action as a message (translated when the log is read)."""
    action = outcome.action
    service = Term(SERVICES.get(action.service, N_("system service")))
    if not outcome.ok:
        return (N_("The %(service)s refused the change (its own words below)."),
                {"service": service})
    if _checked_only(outcome):
        if action.service == "network":
            return N_("Network: the files are written; the live network is not changed on "
                      "this machine.")
        return (N_("%(service)s: configuration checked (it does not run on this machine)."),
                {"service": service})
    if action.verb in RESTARTS:
        return (N_("%(service)s restarted."), {"service": service})
    if action.verb in RELOADS:
        return (N_("%(service)s reloaded its configuration."), {"service": service})
    if action.service == "network":
        return N_("Network settings applied.")
    if action.verb == "timezone":
        return N_("Time zone set.")
    if action.verb == "set_time":
        return (N_("System time set to %(time)s."), {"time": action.arg.replace("T", " ")})
    return (N_("%(service)s updated."), {"service": service})


def details(plan: Plan, result: Result) -> Detail:
    """The operation log's details of an apply: each service action in words; the
    programs' own words (a refusal's output, the configuration files that changed) apart,
    as technical details."""
    messages: list[Message] = [_outcome(o) for o in result.outcomes]
    technical: list[str] = [f"{o.action.service}: {o.text.strip()}"
                            for o in result.outcomes if not o.ok and o.text.strip()]
    if result.failed is not None and not any(not o.ok for o in result.outcomes):
        messages.append(N_("The configuration files could not be written."))
        technical.append(result.failed.output)
    if result.restored:
        messages.append(N_("The previous configuration is back in effect."))
    if plan.files:
        technical.append("\n".join(f.path for f in plan.files))
    return Detail(tuple(messages) or (N_("Nothing changed."),), "\n".join(technical))
