"""The sidebar (controlplane.web.nav): the guide's menu pruned to the pages that exist."""

from __future__ import annotations

from controlplane.i18n import translate
from controlplane.web import nav
from controlplane.web.nav import Item, active, group, prune, visible


def shape(items: list[Item]) -> list:
    return [[i.label, shape(list(i.children))] if i.is_group else i.label for i in items]


def every_path() -> set[str]:
    return {p for item in nav.MENU for p in item.paths()}


def test_with_every_page_the_menu_is_the_guides_in_its_order() -> None:
    menu = visible(every_path())
    zh = [[translate("zh_CN", i.label),
           [[translate("zh_CN", c.label), [translate("zh_CN", g.label) for g in c.children]]
            if c.is_group else translate("zh_CN", c.label) for c in i.children]]
          if i.is_group else translate("zh_CN", i.label) for i in menu]
    assert zh == [
        "首页",
        ["系统状态", ["系统信息", "在线用户", "实时会议"]],
        ["系统管理", [
            "通话设置",
            ["系统设置", ["网络设置", "服务设置", "端口设置", "时间/时区设置", "SMTP 邮箱设置",
                         "磁盘空间设置"]],
            ["系统维护", ["设备升级", "备份/还原", "系统升级", "重启/恢复出厂设置"]],
            ["系统日志", ["日志服务器设置", "操作日志", "系统日志", "终端日志"]],
            "许可证"]],
        "账号管理", "会议室管理", "会议管理", "会议统计",
    ]


def test_entries_without_a_page_are_left_out_and_empty_groups_go() -> None:
    pages = {"/", "/settings/call", "/settings/smtp", "/logs/operation", "/accounts"}
    assert shape(visible(pages)) == [
        "Home",
        ["System management", ["Call settings", ["System settings", ["SMTP mail settings"]],
                               ["Logs", ["Operation log"]]]],
        "Accounts",
    ]
    # 系统状态 had no page left, nor 系统维护: gone, not shown empty.
    assert shape(visible({"/"})) == ["Home"]
    assert visible(set()) == []


def test_a_group_whose_subgroups_are_all_empty_goes() -> None:
    menu = (group("Outer", "outer", group("Inner", "inner", Item("Page", "/p"))),
            Item("Home", "/"))
    assert shape(prune(menu, {"/"})) == ["Home"]
    assert shape(prune(menu, {"/p"})) == [["Outer", [["Inner", ["Page"]]]]]
    assert prune(menu, {"/p"})[0].key == "outer"


def test_every_path_and_group_key_is_unique() -> None:
    paths = [p for item in nav.MENU for p in item.paths()]
    assert len(paths) == len(set(paths))

    def keys(items) -> list[str]:
        out = []
        for i in items:
            if i.is_group:
                out += [i.key, *keys(i.children)]
        return out

    found = keys(nav.MENU)
    assert all(found) and len(found) == len(set(found))


def test_the_active_entry_is_the_page_or_the_one_it_is_under() -> None:
    menu = visible(every_path())
    assert active(menu, "/") == "/"
    assert active(menu, "/settings/smtp") == "/settings/smtp"
    assert active(menu, "/accounts/3001") == "/accounts"
    assert active(menu, "/accountsx") == ""
    assert active(menu, "/no-such-page") == ""  # not under "/"
