"""How the customer addresses us: Russian ты or вы, Estonian sina or teie. The bot answers in the same register."""
from __future__ import annotations

import re
from typing import Optional

from replies.composer import FORMAL, INFORMAL

INFORMAL_MARKERS = re.compile(
    r"\b(ты|тебя|тебе|тобой|твой|твоя|твоё|твое|твои|твоих|подскажи|скажи|помоги|объясни|посмотри|проверь|сделай|"
    r"напиши|пришли|можешь|знаешь|сможешь|поможешь|привет|"
    r"ty|tebya|tebe|podskazhi|skazhi|pomogi|mozhesh|znaesh|privet|"
    r"sa|sina|sul|sinul|sinu|sind|sulle|sinuga|aita|ütle|utle|seleta|vaata|kontrolli|oskad|tead|saad|"
    r"suudad|tsau|tšau|hei)\b",
    re.IGNORECASE,
)
FORMAL_MARKERS = re.compile(
    r"\b(вы|вас|вам|вами|ваш|ваша|ваше|ваши|вашего|вашей|подскажите|скажите|помогите|объясните|посмотрите|"
    r"проверьте|сделайте|напишите|пришлите|можете|знаете|сможете|поможете|здравствуйте|"
    r"vy|vas|vam|podskazhite|skazhite|pomogite|mozhete|znaete|zdravstvujte|zdravstvuyte|"
    r"te|teie|teil|teid|teile|teiega|aidake|öelge|oelge|selgitage|vaadake|kontrollige|oskate|teate|saate|"
    r"suudate|tervist)\b",
    re.IGNORECASE,
)


def detect_register(text: str) -> Optional[str]:
    """INFORMAL or FORMAL when the message shows it, None when it does not (English, or no address at all)."""
    informal = len(INFORMAL_MARKERS.findall(text))
    formal = len(FORMAL_MARKERS.findall(text))
    if informal == formal:
        return None
    return INFORMAL if informal > formal else FORMAL
