"""Language detection and message clean-up."""
from __future__ import annotations

import re

import pytest

from knowledge.text import (
    detect_language,
    extract_name,
    fold_for_matching,
    is_pleasantry_only,
    latin_to_cyrillic,
    normalize_query,
    strip_pleasantries,
    without_emoji,
)

LATIN = re.compile(r"[a-z]", re.IGNORECASE)


@pytest.mark.parametrize(
    "text",
    [
        "Tere! Minu internet ei tööta",
        "Kuidas WiFi parooli muuta?",
        "Millal on arve maksetähtaeg?",
        "Mul on vaja uut lepingut",
        # Estonian typed without diacritics
        "internet ei toota",
        "kuidas ma saan arvet maksta",
        "aitah, see aitas",
        "tanan",
    ],
)
def test_detects_estonian(text):
    assert detect_language(text).code == "et"
    assert detect_language(text).latin_russian is False


@pytest.mark.parametrize(
    "text",
    ["Привет, не работает интернет", "Как поменять пароль от Wi-Fi?", "Когда нужно оплатить счёт?", "спасибо"],
)
def test_detects_russian_in_cyrillic(text):
    detected = detect_language(text)
    assert detected.code == "ru"
    assert detected.latin_russian is False


@pytest.mark.parametrize(
    "text",
    ["u menya ne rabotaet internet", "privet, kak oplatit schet", "pochemu ne rabotaet tv", "spasibo", "kak pomenyat parol ot wifi"],
)
def test_detects_latin_script_russian(text):
    detected = detect_language(text)
    assert detected.code == "ru"
    assert detected.latin_russian is True


@pytest.mark.parametrize(
    "text",
    ["How do I pay my bill?", "My router keeps restarting", "What is the payment deadline?", "Thanks", "Hello"],
)
def test_detects_english(text):
    detected = detect_language(text)
    assert detected.code == "en"
    assert detected.latin_russian is False


@pytest.mark.parametrize("text", ["", "12345", "?!", "   "])
def test_no_letters_gives_the_default(text):
    assert detect_language(text).code == "en"
    assert detect_language(text, default="et").code == "et"
    assert detect_language(text, default="ru").code == "ru"


@pytest.mark.parametrize(
    "latin, cyrillic",
    [
        ("u menya ne rabotaet internet", "у меня не работает интернет"),
        ("privet", "привет"),
        ("spasibo", "спасибо"),
        ("shchuka", "щука"),
        ("chto", "что"),
        ("zhdu", "жду"),
        ("khorosho", "хорошо"),
        ("dobryy den", "добрый ден"),
        ("moy", "мой"),
        ("schyot", "счёт"),
        ("podklyuchit", "подключит"),
        ("Kak dela?", "как дела?"),
        ("ya hochu", "я хочу"),
    ],
)
def test_latin_to_cyrillic(latin, cyrillic):
    assert latin_to_cyrillic(latin) == cyrillic


@pytest.mark.parametrize(
    "latin, cyrillic",
    [("vy", "вы"), ("tarify", "тарифы"), ("my byli", "мы были"), ("zdravstvuyte", "здравствуйте")],
)
def test_latin_to_cyrillic_handles_y(latin, cyrillic):
    result = latin_to_cyrillic(latin)
    assert not LATIN.search(result), result
    assert result == cyrillic


@pytest.mark.parametrize(
    "text, core",
    [
        ("Hi! How do I pay my bill?", "How do I pay my bill?"),
        ("Good morning, where is my invoice", "where is my invoice"),
        ("Dear support, my internet is slow", "my internet is slow"),
        ("Hello, I'm Anna. My TV is broken", "My TV is broken"),
        ("Tere! Internet ei tööta", "Internet ei tööta"),
        ("Tere päevast, kuidas arvet maksta?", "kuidas arvet maksta?"),
        ("Tere, mina olen Mari. Internet ei tööta", "Internet ei tööta"),
        ("Здравствуйте! Как оплатить счёт?", "Как оплатить счёт?"),
        ("Добрый день, меня зовут Олег, не работает интернет", "не работает интернет"),
        ("privet, kak oplatit schet", "kak oplatit schet"),
        # nothing left after stripping: the text is kept
        ("Hi!", "Hi!"),
        ("Tere, mina olen Mari.", "Tere, mina olen Mari."),
        # a word that merely starts like a greeting is not one
        ("Hilary called about my bill", "Hilary called about my bill"),
        ("Heinz here, internet broken", "Heinz here, internet broken"),
    ],
)
def test_strip_pleasantries(text, core):
    assert strip_pleasantries(text) == core


@pytest.mark.parametrize(
    "text, name",
    [
        ("Tere, mina olen Mari.", "Mari"),
        ("Tere! Minu nimi on Mari Tamm. Internet ei tööta", "Mari Tamm"),
        ("Ma olen Jüri, arve on vale", "Jüri"),
        ("Hi, I'm John.", "John"),
        ("Hello! My name is Mary Smith. My internet is down", "Mary Smith"),
        ("This is Bob, my bill is wrong", "Bob"),
        ("Меня зовут Олег.", "Олег"),
        ("Привет, я Анна!", "Анна"),
        ("Здравствуйте, меня зовут Олег, не работает интернет", "Олег"),
    ],
)
def test_extract_name(text, name):
    assert extract_name(text) == name


@pytest.mark.parametrize(
    "text",
    ["How do I pay my bill?", "Internet ei tööta", "Не работает интернет", "Hi, I am having trouble with my router."],
)
def test_extract_name_without_an_introduction(text):
    assert extract_name(text) is None


@pytest.mark.parametrize(
    "text, name",
    [("Tere, mina olen Mari", "Mari"), ("Hi, I'm John", "John"), ("Здравствуйте, меня зовут Олег", "Олег")],
)
def test_extract_name_without_trailing_punctuation(text, name):
    assert extract_name(text) == name
    assert is_pleasantry_only(text) is True


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hi!", True),
        ("Tere, mina olen Mari.", True),
        ("Здравствуйте!", True),
        ("Hi! How do I pay my bill?", False),
        ("How do I pay my bill?", False),
    ],
)
def test_is_pleasantry_only(text, expected):
    assert is_pleasantry_only(text) is expected


def test_normalize_query_transliterates_latin_russian_after_stripping_the_greeting():
    core, language = normalize_query("privet, u menya ne rabotaet internet")
    assert language.code == "ru" and language.latin_russian
    assert core == "у меня не работает интернет"
    core, language = normalize_query("Hi! My internet is down")
    assert (core, language.code, language.latin_russian) == ("My internet is down", "en", False)


def test_fold_for_matching():
    assert fold_for_matching("  Internet EI  tööta ") == "internet ei toota"
    assert fold_for_matching("Счёт") == "счет"


@pytest.mark.parametrize("text", [
    "Hi, it's broken", "hi im stuck", "hey, this is urgent!", "Привет, это срочно", "Tere, olen mures", "hello, I am sorry",
])
def test_a_greeting_and_a_state_is_not_an_introduction(text):
    assert extract_name(text) is None
    assert is_pleasantry_only(text) is False


def test_numbers_are_not_emoticons():
    assert without_emoji("My code is 833 and I paid 83 euros :)") == "My code is 833 and I paid 83 euros"


def test_latin_russian_moi_is_not_the_estonian_greeting():
    core, language = normalize_query("moi internet ne rabotaet")
    assert language.latin_russian and core == "мои интернет не работает"
    assert strip_pleasantries("Moi! Kuidas arvet maksta?") == "Kuidas arvet maksta?"
