"""Personal data masked in logs, exports and analytics (the agents still see it in the transcript): e-mail
addresses, phone numbers (Estonian, Russian and international formats), Estonian personal identification codes
(isikukood, checked by its date and check digit) and payment cards (signals.card_numbers).

Numbers that only look like phones are left alone: amounts, dates, times, short numbers, and numbers that a word
such as "order", "arve" or "заказ", or a '#' or '№', says are a reference."""
from __future__ import annotations

import logging
import re
from datetime import date
from typing import Callable, Optional

from signals.card_numbers import mask_card_numbers

EMAIL_MASK = "[e-mail]"
PHONE_MASK = "[phone]"
PERSONAL_CODE_MASK = "[isikukood]"

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")

PERSONAL_CODE = re.compile(r"(?<![\d-])[1-6]\d{10}(?![\d-])")
FIRST_WEIGHTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 1)
SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 1, 2, 3)
CENTURY_BY_FIRST_DIGIT = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}

# "+" or "00", the country code, then groups of digits with single spaces, dashes, dots or parentheses between them
INTERNATIONAL = re.compile(r"(?<![\w+])(?:\+|00(?=[1-9]))\(?\d{1,4}\)?(?:[ .-]?\(?\d{1,6}\)?){1,7}(?!\w)")
RUSSIAN = re.compile(
    r"(?<![\w+])(?:[78][ -]?\(?[3489]\d\d\)?[ -]?\d{3}[ -]?\d\d[ -]?\d\d"  # 8 (916) 123-45-67, 89161234567
    r"|\(9\d\d\) ?\d{3}[ -]?\d\d[ -]?\d\d|9\d\d[ -]\d{3}[ -]\d\d[ -]\d\d)")  # (916) 123-45-67, 916 123 45 67
ESTONIAN_MOBILE = re.compile(r"(?<![\w+])(?:5\d{2,3}|8[1-4]\d{1,2})[ -]?\d{3,4}(?![\w])")
ESTONIAN_LANDLINE = re.compile(r"(?<![\w+])[3467]\d{2,3}[ -]?\d{3,4}(?![\w])")

NOT_A_NUMBER_AFTER = re.compile(r"^(?:[.,:/]\d|\s?(?:€|eur|euro|eurot|usd|\$|₽|руб|rub|%|kb|mb|gb|ms|sec|min))", re.I)
NOT_A_NUMBER_BEFORE = re.compile(r"(?:\d[.,:/]|[€$₽]\s?)$")
REFERENCE_BEFORE = re.compile(
    r"(?:[#№]|\b(?:order|invoice|ref(?:erence)?|tracking|ticket|contract|account|message|conversation|update|id"
    r"|tellimus\w*|arve\w*|viitenumb\w*|leping\w*|pakk\w*|saadetis\w*"
    r"|заказ\w*|сч[её]т\w*|договор\w*|посылк\w*|накладн\w*)\b[\s:.]*(?:number|nr|no|num|номер|n)?\.?)[\s:]*$",
    re.I)
# seven digits without a space are a phone only after such a word
PHONE_WORD_BEFORE = re.compile(r"\b(?:tel|telefon\w*|phone|mob\w*|call|helista\w*|тел\w*|звон\w*|номер)\b\W{0,8}$", re.I)
CONTEXT_CHARS = 30

log_record_filter: Optional["PersonalDataFilter"] = None


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def valid_personal_code(code: str) -> bool:
    """An Estonian isikukood: GYYMMDDSSSC, G 1-6 (the century and sex), a real birth date, the check digit."""
    if not re.fullmatch(r"[1-6]\d{10}", code):
        return False
    digits = [int(d) for d in code]
    try:
        date(CENTURY_BY_FIRST_DIGIT[digits[0]] + int(code[1:3]), int(code[3:5]), int(code[5:7]))
    except ValueError:
        return False
    check = sum(d * w for d, w in zip(digits, FIRST_WEIGHTS)) % 11
    if check == 10:
        check = sum(d * w for d, w in zip(digits, SECOND_WEIGHTS)) % 11
        check = 0 if check == 10 else check
    return check == digits[10]


def mask_emails(text: str) -> str:
    return EMAIL.sub(EMAIL_MASK, text)


def mask_personal_codes(text: str) -> str:
    return PERSONAL_CODE.sub(lambda match: PERSONAL_CODE_MASK if valid_personal_code(match.group()) else match.group(), text)


def _looks_like_a_reference_or_amount(text: str, start: int, end: int) -> bool:
    before, after = text[max(0, start - CONTEXT_CHARS):start], text[end:end + 8]
    return bool(NOT_A_NUMBER_BEFORE.search(before) or NOT_A_NUMBER_AFTER.match(after) or REFERENCE_BEFORE.search(before))


def _international(text: str, match: re.Match) -> bool:
    number = match.group()
    digits = _digits(number)
    fewest = 8
    if number.startswith("00"):
        digits, fewest = digits[2:], 9
    balanced = number.count("(") == number.count(")")
    return fewest <= len(digits) <= 15 and balanced and not number.rstrip(")").endswith((".", "-", " "))


def _russian(text: str, match: re.Match) -> bool:
    return len(_digits(match.group())) in (10, 11)


def _estonian_mobile(text: str, match: re.Match) -> bool:
    return len(_digits(match.group())) in ((7, 8) if match.group().startswith("5") else (8,))


def _estonian_landline(text: str, match: re.Match) -> bool:
    """Seven digits: a phone when grouped like one ("612 3456"), or when a word before it says so ("tel 6123456")."""
    number = match.group()
    if len(_digits(number)) != 7:
        return False
    return bool(re.search(r"[ -]", number) or PHONE_WORD_BEFORE.search(text[max(0, match.start() - CONTEXT_CHARS):match.start()]))


def _phone_masker(pattern: re.Pattern, plausible: Callable[[str, re.Match], bool]) -> Callable[[str], str]:
    def mask(text: str) -> str:
        def masked(match: re.Match) -> str:
            if _looks_like_a_reference_or_amount(text, match.start(), match.end()) or not plausible(text, match):
                return match.group()
            return PHONE_MASK

        return pattern.sub(masked, text)

    return mask


PHONE_MASKERS = [_phone_masker(INTERNATIONAL, _international), _phone_masker(RUSSIAN, _russian),
                 _phone_masker(ESTONIAN_MOBILE, _estonian_mobile), _phone_masker(ESTONIAN_LANDLINE, _estonian_landline)]


def mask_phone_numbers(text: str) -> str:
    for mask in PHONE_MASKERS:
        text = mask(text)
    return text


def mask_personal_data(text: str) -> str:
    """E-mail addresses, payment cards, personal codes and phone numbers replaced by their masks; in that order,
    so that the digits of an address or a card are never taken for a phone."""
    if not text:
        return text
    return mask_phone_numbers(mask_personal_codes(mask_card_numbers(mask_emails(text))))


class PersonalDataFilter(logging.Filter):
    """Masks a log record's final message (its arguments filled in) and exception text; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "personal_data_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a wrong format string: logging reports it when the record is formatted
            return True
        record.msg, record.args = mask_personal_data(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_personal_data(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_personal_data(record.stack_info)
        record.personal_data_masked = True
        return True


def install_log_masking() -> None:
    """Every log record of this process is masked when it is made, whichever logger makes it and whichever handler
    (ours, Rasa's, Sanic's, added before or after this call) writes it."""
    global log_record_filter
    if log_record_filter is not None:
        return
    log_record_filter = PersonalDataFilter()
    make_record = logging.getLogRecordFactory()

    def masked_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        log_record_filter.filter(record)
        return record

    logging.setLogRecordFactory(masked_record)
