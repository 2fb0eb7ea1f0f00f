"""The rules of good support work as checkable functions over a conversation's transcript.
Each returns the list of violations it finds (empty: the rule holds). The tests run them on generated
conversations in et, ru and en; they are equally usable on real transcripts from the handoff database."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from replies.composer import DEFAULT_BOT_NAME, FORMAL, INFORMAL
from replies.register import detect_register

if TYPE_CHECKING:
    from knowledge.model import KnowledgeBase


@dataclass
class Turn:
    customer: str
    replies: List[Dict[str, Any]] = field(default_factory=list)  # {"text", "custom", "buttons"}


def _words(text: str) -> List[str]:
    return re.findall(r"\w+", text.lower())


def _bot_texts(turns: Sequence[Turn]) -> List[str]:
    return [r.get("text") or "" for t in turns for r in t.replies]


def _kind(reply: Dict[str, Any]) -> Optional[str]:
    return (reply.get("custom") or {}).get("kind")


ADDRESS_WORDS = {
    ("ru", FORMAL): {"вы", "вас", "вам", "вами", "ваш", "ваша", "ваше", "ваши", "вашего", "вашей", "вашу", "вашим"},
    ("ru", INFORMAL): {"ты", "тебя", "тебе", "тобой", "твой", "твоя", "твоё", "твое", "твои", "твоего", "твоей", "твою"},
    ("et", FORMAL): {"te", "teie", "teil", "teid", "teile", "teiega", "teilt"},
    ("et", INFORMAL): {"sa", "sina", "sul", "sinul", "sinu", "sind", "sulle", "sinuga", "sult"},
}
APOLOGY = re.compile(r"sorry|apolog|извин|прост|сожале|vabandu|kahju", re.IGNORECASE)
NEXT_STEP = re.compile(r"colleague|agent|коллег|специалист|kolleeg|teenindaja", re.IGNORECASE)
THANKS = re.compile(r"thank|спасибо|благодар|aitäh|tänan|täname", re.IGNORECASE)
BOT_WORD = re.compile(r"\b(bot|virtual|assistant)|бот|виртуальн|ассистент|помощни|robot|virtuaal|assistent", re.IGNORECASE)


def name_used_naturally(turns: Sequence[Turn], name: str) -> List[str]:
    """Rule 1: once the customer gave their name, it is used, but not in every message."""
    given = next((i for i, t in enumerate(turns) if name.lower() in _words(t.customer)), None)
    if given is None:
        return [f"the customer never gave the name {name!r}"]
    later = _bot_texts(turns[given:])
    with_name = [t for t in later if name.lower() in _words(t)]
    problems = []
    if not with_name:
        problems.append(f"the name {name!r} is never used after the customer gave it")
    if len(later) >= 3 and len(with_name) == len(later):
        problems.append(f"the name {name!r} is in every message")
    return problems


def thanks_where_it_fits(turns: Sequence[Turn]) -> List[str]:
    """Rule 2: thanked for waiting (queue), for patience (after an agent), and for feedback (a rating, "was this
    helpful?")."""
    fitting = ("queue_status", "rating_request", "rating_thanks", "feedback_thanks")
    return [f"no thanks in the {_kind(r)} message: {r.get('text')!r}" for t in turns for r in t.replies
            if _kind(r) in fitting and not THANKS.search(r.get("text") or "")]


def register_mirrored(turns: Sequence[Turn], language: str) -> List[str]:
    """Rule 3: the bot addresses the customer as they address it (ты/вы, sina/teie). Answers from the knowledge
    base are the editors' text, written in one register, and are not checked."""
    if language not in ("ru", "et"):
        return []
    problems, register = [], FORMAL
    for turn in turns:
        register = detect_register(turn.customer) or register
        opposite = ADDRESS_WORDS[(language, INFORMAL if register == FORMAL else FORMAL)]
        for text in (r.get("text") or "" for r in turn.replies if _kind(r) != "answer"):
            wrong = opposite & set(_words(text))
            if wrong:
                problems.append(f"{register} customer, but the reply says {sorted(wrong)}: {text!r}")
    return problems


def no_repeated_wording(turns: Sequence[Turn]) -> List[str]:
    """Rule 4: no two bot messages of a conversation are the same."""
    seen, problems = set(), []
    for text in _bot_texts(turns):
        if text in seen:
            problems.append(f"said twice: {text!r}")
        seen.add(text)
    return problems


def ends_on_a_positive_note(turns: Sequence[Turn], closings: Sequence[str]) -> List[str]:
    """Rule 5: an answer ends on a positive note or an offer of more help: its last paragraph is one of
    `closings` (the `answer_follow_up` phrases)."""
    closing_set = {c.strip() for c in closings}
    return [f"the answer does not end with an offer of more help: {r.get('text')[-80:]!r}"
            for t in turns for r in t.replies
            if _kind(r) == "answer" and (r.get("text") or "").rsplit("\n\n", 1)[-1].strip() not in closing_set]


def hesitation_answered(turns: Sequence[Turn]) -> List[str]:
    """Rule 9: a hesitating customer gets agreement and a question about what is missing."""
    return [f"no question back to a hesitating customer: {r.get('text')!r}" for t in turns for r in t.replies
            if (r.get("custom") or {}).get("intent") == "hesitate" and "?" not in (r.get("text") or "")]


def unhappy_customer_answered(turns: Sequence[Turn]) -> List[str]:
    """Rule 6: an upset customer gets, at once, an apology and what happens next."""
    problems = []
    for turn in turns:
        upset = [r for r in turn.replies if (r.get("custom") or {}).get("reason") == "upset"]
        for reply in upset:
            text = reply.get("text") or ""
            if not APOLOGY.search(text):
                problems.append(f"no apology to an upset customer: {text!r}")
            if not NEXT_STEP.search(text):
                problems.append(f"no next step for an upset customer: {text!r}")
    return problems


def rudeness_not_mirrored(turns: Sequence[Turn], insults: Sequence[str]) -> List[str]:
    """Rule 7: the bot never repeats the customer's insult words, stays calm and says what happens next."""
    problems = []
    for turn in turns:
        for reply in turn.replies:
            text = reply.get("text") or ""
            quoted = [w for w in insults if w.lower() in _words(text)]
            if quoted:
                problems.append(f"the reply repeats the insult {quoted}: {text!r}")
            if (reply.get("custom") or {}).get("reason") == "rude" and not NEXT_STEP.search(text):
                problems.append(f"no next step for a rude customer: {text!r}")
    return problems


def out_of_scope_offers_an_alternative(turns: Sequence[Turn]) -> List[str]:
    """Rules 8 and 10: when the bot cannot answer it says so and offers another way (a related entry or a colleague)."""
    problems = []
    for turn in turns:
        for reply in turn.replies:
            custom = reply.get("custom") or {}
            if custom.get("reason") in ("out_of_scope", "low_confidence"):
                if not (NEXT_STEP.search(reply.get("text") or "") or reply.get("buttons")):
                    problems.append(f"no alternative offered: {reply.get('text')!r}")
    return problems


def admits_being_a_bot(turns: Sequence[Turn]) -> List[str]:
    """Rule 12: asked, the assistant says it is a bot, by its name."""
    problems = []
    for turn in turns:
        for reply in turn.replies:
            custom = reply.get("custom") or {}
            if custom.get("kind") == "smalltalk" and custom.get("intent") == "bot_challenge":
                text = reply.get("text") or ""
                if not BOT_WORD.search(text) or DEFAULT_BOT_NAME not in text:
                    problems.append(f"does not say it is the bot {DEFAULT_BOT_NAME}: {text!r}")
    return problems


def news_mentioned_once(turns: Sequence[Turn], kb: "KnowledgeBase") -> List[str]:
    """Rule 11: a new feature is mentioned at most once per conversation, in its own words, after an answer it is about."""
    mentions = [r for t in turns for r in t.replies if (r.get("custom") or {}).get("news_id")]
    problems = [f"news mentioned {len(mentions)} times in one conversation"] if len(mentions) > 1 else []
    news_by_id = {n.id: n for n in kb.news}
    for reply in mentions:
        custom = reply["custom"]
        news, entry = news_by_id.get(custom["news_id"]), kb.get(custom.get("faq_id") or "")
        if news is None or entry is None or not news.is_about(entry):
            problems.append(f"news {custom['news_id']!r} is not about the answered entry {custom.get('faq_id')!r}")
        elif news.text_in(custom.get("language") or "en")[0] not in (reply.get("text") or ""):
            problems.append(f"news {news.id!r} is not in the reply: {reply.get('text')!r}")
    return problems


def outcome_reported(turns: Sequence[Turn]) -> List[str]:
    """Rule 6, later: an unhappy customer's conversation is not closed without the outcome: a colleague's reply or
    the outcome report comes between the handoff and the rating request."""
    problems, unhappy_since = [], None
    replies = [r for t in turns for r in t.replies]
    for position, reply in enumerate(replies):
        custom = reply.get("custom") or {}
        if custom.get("kind") == "handoff" and custom.get("reason") in ("upset", "rude"):
            unhappy_since = position
        elif custom.get("kind") == "rating_request" and unhappy_since is not None:
            told = [r for r in replies[unhappy_since:position] if _kind(r) in ("agent_reply", "outcome")]
            if not told:
                problems.append("an unhappy customer's conversation was closed without telling them the outcome")
            unhappy_since = None
    return problems


def turns_from_transcript(messages: Sequence[Any]) -> List[Turn]:
    """The stored messages of a conversation (handoff.store.MessageView) as turns, so that every rule also checks real
    transcripts: each customer message opens a turn, the bot's and the agents' messages are its replies."""
    turns: List[Turn] = []
    for message in messages:
        if message.role == "customer":
            turns.append(Turn(message.text))
        elif message.role in ("bot", "agent"):
            custom = dict(message.payload.get("custom") or {})
            if message.role == "agent":
                custom.update(kind="agent_reply", agent=message.author)
            if not turns:
                turns.append(Turn(""))
            turns[-1].replies.append({"text": message.text, "custom": custom, "buttons": message.payload.get("buttons") or []})
    return turns
