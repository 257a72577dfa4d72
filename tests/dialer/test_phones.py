"""Phone numbers become E.164, or a reason a person can act on."""
from __future__ import annotations

import random

import phonenumbers
import pytest

from realtime.dialer.phones import InvalidPhoneNumber, to_e164


@pytest.mark.parametrize(
    "raw, e164",
    [
        ("(212) 555-0123", "+12125550123"),
        ("212.736.5000", "+12127365000"),
        ("212-736-5000", "+12127365000"),
        ("2127365000", "+12127365000"),
        ("1 212 736 5000", "+12127365000"),
        ("+1 (416) 555-0199", "+14165550199"),  # Canada, same country code
        ("1-800-555-1212", "+18005551212"),
        ("+44 20 7946 0958", "+442079460958"),
        ("  +33 1 42 68 53 00 ", "+33142685300"),
        ("212-736-5000 ext. 12", "+12127365000"),
    ],
)
def test_common_spellings_become_e164(raw, e164):
    assert to_e164(raw) == e164


def test_national_numbers_follow_the_region_given():
    assert to_e164("020 7946 0958", "GB") == "+442079460958"
    with pytest.raises(InvalidPhoneNumber):
        to_e164("020 7946 0958")  # not a US number


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "missing"),
        ("   ", "missing"),
        ("call me", "not a phone number"),
        ("+999 1234567", "unknown country code"),
        ("(123) 456-7890", "not a valid number"),  # no area code starts with 1
        ("555-0123", "not a valid number"),
        ("212 736 50001234567890", "too long"),
    ],
)
def test_bad_numbers_say_why(raw, reason):
    with pytest.raises(InvalidPhoneNumber) as caught:
        to_e164(raw)
    assert caught.value.reason == reason
    assert caught.value.error_id == "invalid-phone-number"
    assert repr(raw) in str(caught.value)


def test_agrees_with_libphonenumber_on_north_american_numbers():
    # The short cut for North American numbers must never change a verdict.
    rng = random.Random(7)
    for _ in range(1000):
        digits = f"{rng.randint(100, 999)}{rng.randint(0, 999):03d}{rng.randint(0, 9999):04d}"
        raw = rng.choice(["{0}", "({a}) {b}-{c}", "1{0}", "+1{0}", "+1 {a} {b} {c}", "{a}.{b}.{c}"]).format(
            digits, a=digits[:3], b=digits[3:6], c=digits[6:]
        )
        for region in ("US", "CA", "JM"):
            try:
                number = phonenumbers.parse(raw, region)
                expected = (
                    phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                    if phonenumbers.is_valid_number(number) else None
                )
            except phonenumbers.NumberParseException:
                expected = None
            try:
                got = to_e164(raw, region)
            except InvalidPhoneNumber:
                got = None
            assert got == expected, (raw, region)
