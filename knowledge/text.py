"""Language detection and the text clean-up that retrieval relies on (greetings, names, Latin-script Russian)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
LATIN = re.compile(r"[a-zõäöüšž]", re.IGNORECASE)
ESTONIAN_LETTERS = re.compile(r"[õäöü]", re.IGNORECASE)

# Frequent words of Russian typed in Latin letters; none of them is a common English or Estonian word.
TRANSLIT_WORDS = frozenset(
    """privet privetik zdravstvuyte zdravstvujte zdrastvuyte zdraste dobryy dobryj dobriy den vecher utro
    pochemu pochmu kak kakoy kakaya kakie chto shto chtoby eto etot eta mne menya menja moy moj moya moja moi
    mogu mozhno mozhet nuzhno nado hochu khochu hotel khotel skolko gde kogda kuda rabotaet rabotayet
    ne net da uzhe uje vse vsyo esche eshche ochen spasibo spasibki pozhaluysta pojaluysta pozhalujsta
    podskazhite podskajite pomogite skazhite ya vy vam vas nas nam u menya tebya sebya svoy svoi
     interneta internetom  tarifa schet scheta schyot dengi dengi vernut oplatit oplata
    podklyuchit podkljuchit otklyuchit otkljuchit  parol parolya nomer nomera  telefona
    zvonit zvonok  kartu  karty   routera televizor  kanaly kanalov 
    rabotat propal propalo plohoy medlenno medlennyy tormozit slomalsya perezagruzit pereezd  dogovora
    rastorgnut  operatora chelovek cheloveka zhivym zhivoy mozhno mojno li esli dlya dlja za po ot iz
    ty tvoy tvoj vash vasha vashu vashe ih ikh moih moikh hotya hotja budet budu byl byla bylo zabyl zabyla
    ukrali ukral smotret poluchit vzyat vzjat stoit kupit luchshe pristavka pristavku pristavke ekran
    gorit krasnyy krasnyj pokazyvaet vydaet vsyo vsjo vremya vremja oshibka oshibku zajti zayti mozhet
    zakonchilis konchilis edu poedu budet shtraf neustoyka neustojka  srok sroka okonchaniya
    okonchanija podat pretenziyu pretenziju kompaniyu kompaniju akkaunt sozdat kopiyu kopiju dannyh dannykh
     normalno staticheskiy staticheskij fil'm  naprokat cherez vtoruyu vtoruju spalnyu 
    privesti druga predoplachennye karty bez chernyy chernyj pereezzhayu pereezzhaju perenesti novyy novyj
     zablokirovat oplatil oplatila dva raza uslugi kotorye podklyuchal podkljuchal oshibka medlenno""".split()
)
ENGLISH_ONLY_WORDS = frozenset(
    "the is are my how what why can you your i it to do does not have with hi hey hello im thanks thank please pls".split()
)
ESTONIAN_WORDS = frozenset(
    """tere tervist ei on ja kas mis kuidas miks minu mu mul mulle ma mina sa sina te teie see ning aga
    kui kus millal palju arve arvet internet internetti ühendus yhendus töötab tootab tööta toota telekas
    teler pult parool parooli leping lepingu tahan saan aitäh aitah tänan tanan palun vaja soovin
    oma meil teil nad ka veel juba kõik koik midagi""".split()
)

LATIN_TO_CYRILLIC = [
    ("shch", "щ"), ("sch", "сч"), ("zh", "ж"), ("kh", "х"), ("ch", "ч"), ("sh", "ш"), ("ts", "ц"),
    ("yu", "ю"), ("ju", "ю"), ("ya", "я"), ("ja", "я"), ("yo", "ё"), ("jo", "ё"), ("yy", "ый"),
    ("iy", "ий"), ("ij", "ий"), ("'", "ь"), ("a", "а"), ("b", "б"), ("v", "в"), ("w", "в"), ("g", "г"),
    ("d", "д"), ("e", "е"), ("z", "з"), ("i", "и"), ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"),
    ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"), ("f", "ф"), ("h", "х"),
    ("c", "ц"), ("x", "кс"), ("q", "к"), ("j", "й"),
]
VOWELS = set("aeiouy")

GREETING = re.compile(
    r"^\s*(hi+|hello|hey+|heya|hiya|howdy|yo|hei|good\s+(morning|afternoon|evening|day)|greetings|dear\s+\w+|"
    r"tere(\s+(päevast|paevast|hommikust|õhtust|ohtust))?|tervist|tsau|tšau|moi(?=\s*(?:[,.!:;)-]|$))|"
    r"здравствуйте|здрасте|здрасьте|привет(ик|ствую)?|хай|салют|добрый\s+(день|вечер)|доброе\s+утро|"
    r"доброго\s+(времени\s+суток|дня)|"
    r"zdravstvuyte|zdravstvujte|zdraste|privet|dobryy\s+(den|vecher)|dobryj\s+(den|vecher)|dobriy\s+den|"
    r"dobroe\s+utro)\b[\s,.!:;)-]*",
    re.IGNORECASE,
)
INTRODUCTION = (r"i\s*'\s*m|im|i\s+am|my\s+name\s+is|my\s+name'?s|name'?s|this\s+is|it'?s|"
                r"mina\s+olen|ma\s+olen|olen|minu\s+nimi\s+on|mu\s+nimi\s+on|siin\s+on|"
                r"меня\s+зовут|это|я|menya\s+zovut|menja\s+zovut|eto|ya|ja")
SELF_INTRODUCTION = re.compile(
    rf"^\s*(?i:{INTRODUCTION})\s+"
    r"(?P<name>[A-ZÕÄÖÜŠŽА-ЯЁ][\w'-]+(\s+[A-ZÕÄÖÜŠŽА-ЯЁ][\w'-]+)?)\s*(?:[,.!;:-]+\s*|$)",
)
# after a greeting, a message that is nothing but an introduction may write the name in lower case: "hi im tom";
# only with the wordings that introduce a person ("it's broken", "это срочно" and "olen mures" introduce no one),
# and not with the words that say how the customer is ("hi im stuck")
NAMING_INTRODUCTION = (r"i\s*'\s*m|im|i\s+am|my\s+name\s+is|my\s+name'?s|mina\s+olen|ma\s+olen|minu\s+nimi\s+on|"
                       r"mu\s+nimi\s+on|меня\s+зовут|menya\s+zovut|menja\s+zovut")
NOT_A_NAME = set("""
    stuck sorry here back new confused lost trying having looking not so very still unable upset angry waiting fine
    good ok okay done ready sure glad happy sad annoyed frustrated tired calling writing interested worried late
    away moving leaving abroad afraid really just also unhappy disappointed locked blocked broke broken desperate
    furious mad sick busy online offline home outside traveling travelling
""".split())
BARE_INTRODUCTION = re.compile(rf"^\s*(?:{NAMING_INTRODUCTION})\s+(?P<name>[^\W\d_]{{2,20}})\s*[.!]*\s*$", re.IGNORECASE)


def _bare_introduction(rest: str):
    match = BARE_INTRODUCTION.match(rest)
    return match if match and match.group("name").lower() not in NOT_A_NAME else None
# polite openings that carry no content: "could you tell me", "подскажите, пожалуйста", "ütle palun"
FILLER = re.compile(
    r"^\s*(?:(?:please\s+)?(?:could|can)\s+you\s+(?:please\s+)?tell\s+me|(?:please\s+)?tell\s+me|"
    r"i\s+(?:want(?:ed)?|would\s+like|'d\s+like)\s+to\s+(?:ask|know)|quick\s+question|i\s+have\s+a\s+question|"
    r"подскажите|подскажи|скажите|скажи|у\s+меня\s+вопрос|вопрос|хочу\s+(?:спросить|узнать)|"
    r"podskazhite|podskazhi|skazhite|"
    r"ütle|ütelge|öelge|utle|oelge|mul\s+on\s+(?:üks\s+)?küsimus|küsimus|tahaksin\s+(?:küsida|teada))"
    r"(?:[\s,]+(?:please|pls|пожалуйста|плиз|pozhalujsta|pozhaluysta|palun))?[\s,.:!-]+",
    re.IGNORECASE,
)
# emoji, pictographs and their joiners, and text emoticons such as :) ;-) xD (not 8): it would eat "83 euros")
EMOTICON = re.compile(r"(?:(?<=\s)|^)(?:[:;=][-'^]?[()\[\]dDpP/\\|*3]+|\^_?\^|[xX][dD]+|<3)(?=\s|$|[,.!?])")


@dataclass(frozen=True)
class DetectedLanguage:
    code: str  # et, ru or en
    latin_russian: bool = False


@lru_cache(maxsize=1)
def _lingua_detector():
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.ESTONIAN).with_preloaded_language_models().build()


@lru_cache(maxsize=1)
def _slavic_detector():
    """Russian typed in Latin letters reads to a language model like a Latin-script Slavic language."""
    from lingua import Language, LanguageDetectorBuilder

    languages = [Language.ENGLISH, Language.ESTONIAN, Language.FINNISH, Language.LATVIAN, Language.LITHUANIAN,
                 *SLAVIC_LATIN(Language)]
    return LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models().build()


def load_language_models() -> None:
    """Load the language models now: lazily, the first message that needs them waits about 1.5 s, and so does
    every message queued behind it."""
    _lingua_detector()
    _slavic_detector()


def SLAVIC_LATIN(Language):
    return [Language.POLISH, Language.CZECH, Language.SLOVAK, Language.CROATIAN, Language.SLOVENE, Language.BOSNIAN]


def _reads_as_slavic(text: str) -> bool:
    from lingua import Language

    slavic = set(SLAVIC_LATIN(Language))
    values = _slavic_detector().compute_language_confidence_values(text)
    return sum(v.value for v in values if v.language in slavic) >= 0.55


TRANSLIT_PATTERN = re.compile(r"(?:[bcdfghjklmnprstvz]'|zh|kh|shch|yj|ij$|yy$|ja$|ju$|aja$|ogo$|ego$)")


def _words(text: str):
    return [w.strip("'") for w in re.findall(r"[a-zõäöüšž']+", text.lower()) if w.strip("'")]


def _translit_hits(raw: str, words) -> float:
    hits = sum(word in TRANSLIT_WORDS or word.replace("'", "") in TRANSLIT_WORDS for word in words)
    markers = sum(bool(TRANSLIT_PATTERN.search(w)) for w in re.findall(r"[a-z']+", raw.lower()))
    return hits + 0.5 * markers


def detect_language(text: str, default: str = "en") -> DetectedLanguage:
    """Detect et, ru or en; Russian typed in Latin letters counts as Russian."""
    cyrillic = len(CYRILLIC.findall(text))
    latin = len(LATIN.findall(text))
    if cyrillic == 0 and latin == 0:
        return DetectedLanguage(default)
    if cyrillic >= latin:
        return DetectedLanguage("ru")
    words = _words(text)
    if not words:
        return DetectedLanguage(default)
    translit_hits = _translit_hits(text, words)
    estonian_hits = sum(word in ESTONIAN_WORDS for word in words) + 2 * len(ESTONIAN_LETTERS.findall(text))
    english_hits = sum(word in ENGLISH_ONLY_WORDS for word in words)
    if translit_hits >= 2 or (translit_hits >= 1 and len(words) <= 2 and estonian_hits == english_hits == 0):
        if translit_hits > estonian_hits and translit_hits > english_hits:
            return DetectedLanguage("ru", latin_russian=True)
    unmarked = estonian_hits == english_hits == 0  # no word of Estonian or English that the lists know
    if unmarked and len(words) >= 3 and _reads_as_slavic(text):
        return DetectedLanguage("ru", latin_russian=True)
    if estonian_hits > english_hits:
        return DetectedLanguage("et")
    if english_hits > estonian_hits:
        return DetectedLanguage("en")
    from lingua import Language

    guess = _lingua_detector().detect_language_of(text)
    if guess == Language.ESTONIAN:
        return DetectedLanguage("et")
    if guess == Language.ENGLISH:
        return DetectedLanguage("en")
    return DetectedLanguage(default)


LONG_ENOUGH_TO_TELL = 4  # words: from here on the detected language is trusted


def is_clearly_in(text: str, code: str) -> bool:
    """Whether the message shows its language plainly enough to switch a conversation to it: a short or
    ambiguous message ("ok", "privet, ja Sasha") keeps the conversation's language."""
    words = _words(text)
    if len(words) >= LONG_ENOUGH_TO_TELL:
        return True
    if code == "ru":
        return bool(CYRILLIC.search(text)) or _translit_hits(text, words) >= 2
    if code == "et":
        return bool(ESTONIAN_LETTERS.search(text)) or sum(word in ESTONIAN_WORDS for word in words) >= 2
    return sum(word in ENGLISH_ONLY_WORDS for word in words) >= 2


def latin_to_cyrillic(text: str) -> str:
    """Transliterate informal Latin-script Russian ('u menya ne rabotaet') to Cyrillic."""
    out = []
    lower = text.lower()
    i = 0
    while i < len(lower):
        if lower[i] == "y" and not any(lower.startswith(d, i) for d in ("ya", "yu", "yo", "yy")):
            out.append("й" if i > 0 and lower[i - 1] in VOWELS else "ы")
            i += 1
            continue
        for latin, cyrillic in LATIN_TO_CYRILLIC:
            if lower.startswith(latin, i):
                out.append(cyrillic)
                i += len(latin)
                break
        else:
            out.append(lower[i])
            i += 1
    return "".join(out)


def without_emoji(text: str) -> str:
    """The text without emoji, pictographs and emoticons: they carry mood, not the question."""
    kept = "".join(" " if unicodedata.category(c) in ("So", "Sk", "Cs", "Co") or c in "\u200d\ufe0f\u20e3" else c
                   for c in text)
    return " ".join(EMOTICON.sub(" ", kept).split())


def extract_name(text: str) -> Optional[str]:
    """The customer's name from a self-introduction such as 'Hi, I'm Mari.' or 'Меня зовут Олег.'"""
    clean = without_emoji(text)
    rest = GREETING.sub("", clean, count=1)
    match = SELF_INTRODUCTION.match(rest) or (rest != clean and _bare_introduction(rest))
    if not match:
        return None
    name = match.group("name").strip()
    if name.islower():
        name = name.capitalize()
    return name if len(name) > 1 else None


def strip_pleasantries(text: str) -> str:
    """Remove emoji, a leading greeting, self-introduction and polite filler; keep the text if nothing would
    remain."""
    clean = without_emoji(text)
    stripped = GREETING.sub("", clean, count=1)
    stripped = SELF_INTRODUCTION.sub("", stripped, count=1)
    stripped = GREETING.sub("", stripped, count=1)
    stripped = FILLER.sub("", stripped, count=1)
    return stripped.strip() if len(stripped.strip()) >= 3 else (clean.strip() or text.strip())


def normalize_query(text: str) -> tuple:
    """(text to embed, detected language). Latin-script Russian is transliterated to Cyrillic."""
    language = detect_language(text)
    core = strip_pleasantries(text)
    if language.latin_russian:
        core = latin_to_cyrillic(core)
    return core, language


FOLD = str.maketrans({"õ": "o", "ä": "a", "ö": "o", "ü": "u", "š": "s", "ž": "z", "ё": "е"})


def fold_for_matching(text: str) -> str:
    """Lower-case and fold diacritics, so 'toota' matches 'tööta'."""
    return " ".join(text.lower().translate(FOLD).split())


def is_pleasantry_only(text: str) -> bool:
    """True for 'Hi!', 'hey, I'm Marko 🙂' or 'Tere, mina olen Mari.': a greeting or introduction, no question."""
    clean = without_emoji(text)
    rest = GREETING.sub("", clean, count=1)
    if rest != clean and _bare_introduction(rest):
        return True
    rest = SELF_INTRODUCTION.sub("", rest, count=1)
    rest = GREETING.sub("", rest, count=1)
    changed = rest != clean
    return changed and len(re.sub(r"[\W_]+", "", rest)) < 2
