"""Input rules R1-R8 (SPEC §0) and validate()."""

from __future__ import annotations

import pytest

from controlplane import rules
from controlplane.errors import ValidationError
from controlplane.rules import Field, FieldError

LABEL63 = "a" * 63

# rule -> (valid values, invalid values)
CASES = {
    "login_password": (
        ["abcdef", "a" * 16, "Admin#123", "密码密码密码", "      "],
        ["abcde", "a" * 17, "", 123456, None],
    ),
    "smtp_password": (
        ["", "x", "p" * 128, "密" * 128],
        ["p" * 129, 12345678, None],
    ),
    "email": (
        ["jane@example.com", "a.b+c@mail.example.org", "x@10.0.0.1", "x@[192.168.1.2]",
         "u" * 64 + "@" + "d" * 59 + ".com"],  # exactly 128
        ["jane", "jane@", "@example.com", "jane@example", "jane@exa mple.com",
         "a<b@example.com", "a>b@example.com", "a,b@example.com", 'a"b@example.com',
         "a'b@example.com", "a&b@example.com", "u" * 64 + "@" + "d" * 60 + ".com", "", 5],
    ),
    "account": (
        ["0000", "1001", "9999", " 1234 "],
        ["123", "12345", "12a4", "", "١٢٣٤", 1234, "12 4"],
    ),
    # R5 and R7 are one name rule (only the lengths differ): full-width punctuation, symbols
    # and brackets are fine; " and \ (SIP display names) and line breaks are not.
    "account_name": (
        ["Jane Doe", "张三", "王小明", "山田 太郎", "jane.doe_2-b", "n" * 128, "名" * 128,
         "张三（销售部）", "Jane (Sales)", "【前台】李四", "a<b", "x@y", "Jane/Doe", "O'Neil & Co"],
        ["", "   ", "n" * 129, "名" * 129, 'Jane "JD" Doe', "a\\b", "a\nb", "a\tb", 7, None],
    ),
    "domain": (
        ["example.com", "cn.pool.ntp.org", "localhost", "10.0.0.1", "::1", "smtp-1.example.com",
         "example.com.", f"{LABEL63}.{LABEL63}"],
        ["", "-bad.example.com", "bad-.example.com", "a..b", "under_score.com", "1.2.3",
         "999.1.1.1", "exa mple.com", "a" * 64 + ".com", f"{LABEL63}.{LABEL63}.a", 80],
    ),
    "room_name": (
        ["Room 1", "会议室 A", "r" * 255, "周会 <weekly> & 'all'", "会议室（一）",
         "张三（销售部）"],
        ["", "   ", "r" * 256, 5, None, 'Room "A"', "a\\b", "a\r\nb"],
    ),
    "port": (
        [1, 80, 65535, "5060", " 443 "],
        [0, 65536, -1, True, "abc", 1.5, "", "70000", None, "0x50"],
    ),
    "port_range": (
        [{"min": 30000, "max": 37999}, {"min": 1, "max": 1001},
         {"min": "38000", "max": "49999"}, {"min": 64535, "max": 65535}],
        [{"min": 1000, "max": 1999}, {"min": 2000, "max": 1000}, {"min": 5000, "max": 5000},
         {"min": 0, "max": 5000}, {"min": 1, "max": 65536}, {"min": 1}, [1, 2000], "1-2000"],
    ),
}


def _params(valid: bool):
    index = 0 if valid else 1
    return [pytest.param(name, value, id=f"{name}-{i}")
            for name, cases in CASES.items() for i, value in enumerate(cases[index])]


def test_every_rule_has_at_least_three_valid_and_three_invalid_cases() -> None:
    for name, (good, bad) in CASES.items():
        assert len(good) >= 3 and len(bad) >= 3, name


@pytest.mark.parametrize(("rule", "value"), _params(valid=True))
def test_valid_values_pass(rule: str, value) -> None:
    getattr(rules, rule)(value)


@pytest.mark.parametrize(("rule", "value"), _params(valid=False))
def test_invalid_values_are_refused(rule: str, value) -> None:
    with pytest.raises(FieldError) as info:
        getattr(rules, rule)(value)
    assert info.value.message  # a message for the field, shown next to it


def test_normalised_results() -> None:
    assert rules.email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert rules.domain("SMTP.Example.com") == "smtp.example.com"
    assert rules.account(" 1234 ") == "1234"
    assert rules.account_name("  张三 ") == "张三"
    assert rules.port("5060") == 5060
    assert rules.port_range({"min": "38000", "max": "49999"}) == {"min": 38000, "max": 49999}


@pytest.mark.parametrize("name", ["张三（销售部）", "A&B <HQ>", "周会 · 第一期", "x" * 128,
                                  'a"b', "a\\b", "a\nb", "\u200b"])
def test_accounts_and_rooms_share_one_name_rule(name: str) -> None:
    """R5/R7: a name is accepted for an account exactly when it is for a room (within 128
    characters; rooms may be longer)."""
    def accepted(rule) -> bool:
        try:
            rule(name)
        except FieldError:
            return False
        return True

    assert accepted(rules.account_name) == accepted(rules.room_name)
    assert rules.account_name("  张三（销售部） ") == rules.room_name("张三（销售部）")


def test_email_is_case_insensitive() -> None:
    assert rules.email("ADMIN@EXAMPLE.COM") == rules.email("admin@example.com")


def test_email_length_limit_is_128() -> None:
    address = "u" * 64 + "@" + "d" * 59 + ".com"
    assert len(address) == 128
    assert rules.email(address) == address
    with pytest.raises(FieldError) as info:
        rules.email("u" + address)
    assert info.value.message == ("At most %(max)s characters.", {"max": 128})


@pytest.mark.parametrize("char", list("<>,\"'&"))
def test_email_illegal_characters(char: str) -> None:
    with pytest.raises(FieldError, match="not allowed"):
        rules.email(f"ja{char}ne@example.com")


def test_port_range_checks_both_ends_as_ports() -> None:
    with pytest.raises(FieldError, match="1 to 65535"):
        rules.port_range({"min": 0, "max": 2000})
    with pytest.raises(FieldError, match="at least 1000"):
        rules.port_range({"min": 1000, "max": 1999})


# -- validate() -----------------------------------------------------------------------------
FIELDS = {
    "email": rules.email,
    "account": rules.account,
    "name": rules.account_name,
    "port": Field(rules.port, required=False),
}


def test_validate_returns_clean_values() -> None:
    clean = rules.validate(
        {"email": "A@Example.com", "account": "1001", "name": "张三", "port": "5060"}, FIELDS)
    assert clean == {"email": "a@example.com", "account": "1001", "name": "张三", "port": 5060}


def test_validate_reports_every_bad_field_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        rules.validate({"email": "bad", "account": "12", "port": 0}, FIELDS)
    assert set(info.value.details) == {"email", "account", "name", "port"}
    assert info.value.details["name"] == "Required."


def test_validate_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError) as info:
        rules.validate({"email": "a@example.com", "account": "1001", "name": "x",
                        "emial": "typo@example.com"}, FIELDS)
    assert info.value.details == {"emial": "Unknown field."}


def test_validate_allows_confirm_flag() -> None:
    clean = rules.validate(
        {"email": "a@example.com", "account": "1001", "name": "x", "confirm": True}, FIELDS)
    assert "confirm" not in clean


def test_validate_treats_null_as_absent() -> None:
    with pytest.raises(ValidationError) as info:
        rules.validate({"email": None, "account": "1001", "name": "x"}, FIELDS)
    assert info.value.details == {"email": "Required."}
    assert rules.validate({"email": "a@b.cn", "account": "1001", "name": "x", "port": None},
                          FIELDS) == {"email": "a@b.cn", "account": "1001", "name": "x"}


def test_validate_partial_mode() -> None:
    assert rules.validate({"account": "1001"}, FIELDS, partial=True) == {"account": "1001"}
    assert rules.validate({}, FIELDS, partial=True) == {}
    with pytest.raises(ValidationError) as info:
        rules.validate({"account": "1"}, FIELDS, partial=True)
    assert set(info.value.details) == {"account"}
    with pytest.raises(ValidationError) as info:
        rules.validate({"nope": 1}, FIELDS, partial=True)
    assert set(info.value.details) == {"nope"}


@pytest.mark.parametrize("body", [None, [], "email=a@b.cn", 3])
def test_validate_needs_an_object(body) -> None:
    with pytest.raises(ValidationError) as info:
        rules.validate(body, FIELDS)
    assert info.value.details == {}
