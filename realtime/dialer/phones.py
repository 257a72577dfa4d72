"""Phone numbers: anything a list or an admin types, as E.164 (``+12125550123``) or a reason why not.

Validation is libphonenumber's (the ``phonenumbers`` package). It costs about 90 µs a
number, too slow for million-row lists, so North American numbers written the usual
ways take a short cut: their validity depends only on the first few national digits
(for most area codes the area code and the exchange's first digit; how many is worked
out from the installed metadata's patterns when this module loads), and the verdict
for each such prefix is remembered in a 10 MB table.
Every other number goes through ``phonenumbers.parse`` as it is.
"""
from __future__ import annotations

import logging
import re._parser as sre_parse  # the stdlib's regular-expression parser, to read the metadata

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber, PhoneNumberFormat

logger = logging.getLogger(__name__)

DEFAULT_REGION = "US"

_NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
# What people put between digits; anything else (letters, extensions) takes the full parser.
_SEPARATORS = str.maketrans("", "", " \t().-/")
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


class InvalidPhoneNumber(ValueError):
    """Not a dialable number; ``reason`` says why in a few words."""

    error_id = "invalid-phone-number"

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"invalid phone number {raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    """The number in E.164; numbers without a country code are read as ``region``'s."""
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber(raw, "missing")
    national = _nanp_national_number(text, region)
    if national is not None:
        verdict = _nanp_verdict(national)
        if verdict == _VALID:
            return f"+1{national}"
        raise InvalidPhoneNumber(raw, "not a valid number")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(raw, _PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(raw, "not a valid number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _nanp_verdict(national: int) -> int:
    prefix = national // 1000
    verdict = _nanp_verdicts[prefix]
    if verdict == _UNKNOWN:
        valid = phonenumbers.is_valid_number(PhoneNumber(country_code=1, national_number=national))
        verdict = _VALID if valid else _INVALID
        area = national // 10_000_000
        decided = _deciding[area] or _deciding_digits(area)
        _deciding[area] = decided
        if decided <= 7:
            span = 10 ** (7 - decided)
            start = prefix // span * span
            _nanp_verdicts[start:start + span] = bytes([verdict]) * span
    return verdict


def _nanp_national_number(text: str, region: str) -> int | None:
    """The ten national digits of a North American number in a plain spelling, else None."""
    digits = text.translate(_SEPARATORS)
    plus = digits.startswith("+")
    if plus:
        digits = digits[1:]
    if not digits.isascii() or not digits.isdigit():
        return None
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    elif plus or len(digits) != 10 or region not in ("US", "CA"):
        # Other NANP regions rewrite 7-digit local numbers; leave their rules to the parser.
        return None
    if digits[0] in "01":
        return None
    return int(digits)


class _Unsupported(Exception):
    """A pattern construct the prefix analysis does not follow."""


def _derive(items: list, digit: int) -> list[list]:
    """What is left of a parsed pattern after it has read one more character (every way it can)."""
    if not items:
        return []
    (op, arg), rest = items[0], items[1:]
    if op is sre_parse.LITERAL:
        return [rest] if arg == digit else []
    if op is sre_parse.IN:
        return [rest] if any(_in_class(part, digit) for part in arg) else []
    if op is sre_parse.BRANCH:
        return [r for branch in arg[1] for r in _derive(list(branch) + rest, digit)]
    if op is sre_parse.SUBPATTERN:
        return _derive(list(arg[-1]) + rest, digit)
    if op is sre_parse.MAX_REPEAT:
        low, high, item = arg
        more = high if high is sre_parse.MAXREPEAT else high - 1
        again = [(op, (max(low - 1, 0), more, item))] if more else []
        once = _derive(list(item) + again + rest, digit) if high else []
        return once if low else once + _derive(rest, digit)
    raise _Unsupported(op)


def _in_class(part: tuple, digit: int) -> bool:
    op, arg = part
    if op is sre_parse.LITERAL:
        return arg == digit
    if op is sre_parse.RANGE:
        return arg[0] <= digit <= arg[1]
    if op is sre_parse.CATEGORY and arg is sre_parse.CATEGORY_DIGIT:
        return 48 <= digit <= 57
    raise _Unsupported(op)


def _width(items: list) -> tuple[int, int]:
    return sre_parse.SubPattern(sre_parse.State(), items).getwidth()


def _free_tail(items: list) -> int:
    """How many trailing digits a parsed pattern never constrains (on every branch)."""
    if not items:
        return 0
    op, arg = items[-1]
    if op is sre_parse.BRANCH:
        return min(_free_tail(list(branch)) for branch in arg[1])
    if op is sre_parse.SUBPATTERN:
        return _free_tail(list(arg[-1]))
    if op is sre_parse.MAX_REPEAT:
        low, high, item = arg
        if low == high and list(item) == [(sre_parse.IN, [(sre_parse.CATEGORY, sre_parse.CATEGORY_DIGIT)])]:
            return low
    return 0


def _nanp_patterns() -> tuple[list[list], list[list]]:
    """Every North American region's number patterns and region-selecting prefixes, parsed."""
    descs = ("general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost",
             "personal_number", "voip", "pager", "uan", "voicemail")
    patterns, leading = [], []
    for region in _NANP_REGIONS:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata.leading_digits:
            leading.append(list(sre_parse.parse(metadata.leading_digits)))
        for name in descs:
            desc = getattr(metadata, name)
            if desc is not None and desc.national_number_pattern is not None:
                patterns.append(list(sre_parse.parse(desc.national_number_pattern)))
    return patterns, leading


def _deciding_digits(area: int) -> int:
    """How many leading national digits decide the validity of ten-digit numbers in an area code.

    10 means "all of them": no short cut for that area code.
    """
    global _patterns
    if _patterns is None:
        _patterns = _nanp_patterns()
    patterns, leading = _patterns
    digits = [ord(c) for c in str(area)]
    try:
        decided = 3
        for pattern in leading:
            if _after(pattern, digits):
                decided = max(decided, _width(pattern)[1])
        for pattern in patterns:
            for rest in _after(pattern, digits):
                low, high = _width(rest)
                if low <= 7 <= high:  # the rest of a ten-digit number can match it
                    decided = max(decided, 10 - _free_tail(rest))
    except _Unsupported:
        decided = 10
    return decided


def _after(pattern: list, digits: list[int]) -> list[list]:
    rests = [pattern]
    for digit in digits:
        rests = [r for rest in rests for r in _derive(rest, digit)]
    return rests


_UNKNOWN, _VALID, _INVALID = 0, 1, 2
_patterns: tuple[list[list], list[list]] | None = None
_deciding = bytearray(1000)  # area code -> deciding digits, worked out on first use
# Verdicts by seven-digit prefix; a verdict reached on fewer digits fills all the prefixes it covers.
_nanp_verdicts = bytearray(10_000_000)
