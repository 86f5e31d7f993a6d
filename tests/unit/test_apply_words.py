"""What an apply did, in words (controlplane/apply/words.py): the toast after a save and the
operation log's details name services as the pages do, never by unit or verb."""

from __future__ import annotations

from controlplane.apply import words
from controlplane.apply.commit import Outcome, Result
from controlplane.apply.plan import FileChange, Plan
from controlplane.apply.targets import Action
from controlplane.drivers.services import ActionFailed
from controlplane.oplog import Detail, describe, encode

PROFILE = Action("freeswitch", "profile_restart")
JANUS = Action("janus", "restart")
NGINX = Action("nginx", "reload")


def result(*outcomes: Outcome, ok: bool = True, **extra) -> Result:
    return Result(ok=ok, files=[], outcomes=list(outcomes), **extra)


def test_the_toast_names_the_services_that_restarted() -> None:
    done = result(Outcome(PROFILE, True, "restarted"), Outcome(JANUS, True, "restarted (pid 7)"),
                  Outcome(NGINX, True, "reloaded vcbox-nginx"))
    assert words.saved(True, done, "zh_CN") == "已保存，SIP/IVR 服务、MCU 服务已重启。"
    assert words.saved(True, done, "en") == "Saved. Restarted: SIP/IVR service, MCU service."


def test_a_reload_or_no_action_is_in_effect_and_nothing_changed_says_so() -> None:
    assert words.saved(True, result(Outcome(NGINX, True, "reloaded")), "zh_CN") == "已保存并生效。"
    assert words.saved(True, None, "zh_CN") == "已保存并生效。"  # SMTP: nothing to apply
    assert words.saved(False, None, "zh_CN") == "没有更改。"


def test_services_that_do_not_run_here_are_said_checked_not_restarted() -> None:
    firewall = Action("firewall", "reload")
    checked = result(Outcome(PROFILE, True, "checked"),
                     Outcome(firewall, True, "checked: nft -c ok (not run here)"))
    text = words.saved(True, checked, "zh_CN")
    assert text == "已保存。本机未运行以下服务，仅检查了新配置：SIP/IVR 服务、防火墙。"
    assert "重启" not in text


def said(detail: Detail, language: str) -> tuple[str, str]:
    """The details as the log shows them: stored, read back, put into words."""
    return describe(encode(detail), language)


def test_the_details_say_each_action_in_words_and_keep_the_files_apart() -> None:
    plan = Plan((FileChange("etc/janus/janus.jcfg", b"a", b"b"),), (JANUS, NGINX))
    done = result(Outcome(JANUS, True, "restarted"), Outcome(NGINX, True, "reloaded"))
    detail = words.details(plan, done)
    text, technical = said(detail, "zh_CN")
    assert text == "MCU 服务已重启。Web 服务器已重新加载配置。"
    assert technical == "etc/janus/janus.jcfg"
    # Read in English, the same entry speaks English.
    assert said(detail, "en")[0] == ("MCU service restarted. Web server reloaded its "
                                     "configuration.")


def test_a_refusal_keeps_the_services_own_output_in_the_technical_details() -> None:
    plan = Plan((), (JANUS,))
    failed = result(Outcome(JANUS, False, "bind: address in use"), ok=False,
                    failed=ActionFailed("janus", "restart", "bind: address in use"),
                    restored=True)
    text, technical = said(words.details(plan, failed), "en")
    assert text == ("The MCU service refused the change (its own words below). "
                    "The previous configuration is back in effect.")
    assert technical == "janus: bind: address in use"
    clock = Action("clock", "set_time", "2030-01-02T03:04:05")
    assert said(words.details(Plan((), (clock,)), result(Outcome(clock, True, "set"))),
                "en") == ("System time set to 2030-01-02 03:04:05.", "")
