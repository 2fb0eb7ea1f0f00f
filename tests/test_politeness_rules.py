"""The rules of good support work (tests/politeness_rules.py), checked on whole conversations with the running bot
in et, ru and en, formal and informal."""
from __future__ import annotations

import uuid

import pytest

import politeness_rules as rules
from supportbot.settings import PROJECT_ROOT
from supportbot.stack import send

DEMO_KNOWLEDGE = PROJECT_ROOT / "knowledge" / "demo"

pytestmark = pytest.mark.slow

# (language, register) -> the customer's turns; the last one makes the bot hand off (upset)
CONVERSATIONS = {
    ("en", "formal"): ("Anna", [
        "Hi, I'm Anna", "how can I pay my bill?", "thanks!", "my internet is not working", "that didn't help",
        "are you a bot?", "how do I change my wifi password?", "what does roaming cost?", "ok",
        "how do I reset my password?", "how do I get my bills by e-mail?",
        "This is the THIRD time this week my internet is down, I've been waiting for DAYS!!!",
    ]),
    ("ru", "informal"): ("Иван", [
        "привет, я Иван", "подскажи, как оплатить счёт?", "спасибо!", "у меня не работает интернет", "не помогло",
        "ты бот?", "как поменять пароль от wifi?", "сколько стоит роуминг?", "ок", "как сбросить пароль от Минуты Лайнет?",
        "как получать счета по e-mail?", "третий день без интернета, сколько можно ждать?!",
    ]),
    ("ru", "formal"): ("Анна", [
        "Здравствуйте, меня зовут Анна", "подскажите, пожалуйста, как оплатить счёт?", "спасибо!",
        "у меня не работает интернет", "не помогло", "вы бот?", "как поменять пароль от wifi?",
        "сколько стоит роуминг?", "хорошо", "как сбросить пароль от Моего Лайнета?", "как получать счета по e-mail?",
        "третий день без интернета, сколько можно ждать?!",
    ]),
    ("et", "informal"): ("Mari", [
        "tere, mina olen Mari", "ütle palun, kuidas arvet maksta?", "aitäh!", "mul ei tööta internet", "ei aidanud",
        "kas sa oled robot?", "kuidas wifi parooli muuta?", "kui palju roaming maksab?", "ok",
        "kuidas Minu Laineti parooli taastada?", "kuidas arveid e-postiga saada?",
        "juba kolmas päev ilma internetita, kaua ma veel ootama pean?!",
    ]),
    ("et", "formal"): ("Kati", [
        "Tere, minu nimi on Kati", "öelge palun, kuidas arvet maksta?", "aitäh!", "mul ei tööta internet",
        "ei aidanud", "kas te olete robot?", "kuidas wifi parooli muuta?", "kui palju roaming maksab?", "selge",
        "kuidas Minu Laineti parooli taastada?", "kuidas arveid e-postiga saada?",
        "juba kolmas päev ilma internetita, kaua ma veel ootama pean?!",
    ]),
}


def converse(bot, turns):
    """`bot`: the live bot's Settings."""
    sender = f"rules-{uuid.uuid4().hex[:10]}"
    return [rules.Turn(text, send(bot.rest_url, sender, text, token=bot.rest_api_token)) for text in turns]


@pytest.fixture(scope="module")
def transcripts(live_bot):
    return {key: converse(live_bot, turns) for key, (_, turns) in CONVERSATIONS.items()}


@pytest.mark.parametrize("key", list(CONVERSATIONS))
def test_rule_1_the_name_is_used_after_it_was_given(transcripts, key):
    assert rules.name_used_naturally(transcripts[key], CONVERSATIONS[key][0]) == []


@pytest.mark.parametrize("key", list(CONVERSATIONS))
def test_rule_2_thanks_where_it_fits(transcripts, key):
    assert rules.thanks_where_it_fits(transcripts[key]) == []
    assert any(r["custom"]["kind"] == "queue_status" for t in transcripts[key] for r in t.replies), "no handoff happened"


@pytest.mark.parametrize("key", list(CONVERSATIONS))
def test_rule_3_the_register_follows_the_customer(transcripts, key):
    assert rules.register_mirrored(transcripts[key], key[0]) == []


@pytest.mark.parametrize("key", list(CONVERSATIONS))
def test_rule_4_no_two_bot_messages_are_the_same_in_12_turns(transcripts, key):
    assert len(transcripts[key]) == 12
    assert rules.no_repeated_wording(transcripts[key]) == []


def closings():
    from replies.composer import load_phrases

    return [v for registers in load_phrases()["answer_follow_up"].values() for variants in registers.values() for v in variants]


@pytest.mark.parametrize("key", list(CONVERSATIONS))
def test_rule_5_answers_end_with_an_offer_of_more_help(transcripts, key):
    answers = [r for t in transcripts[key] for r in t.replies if (r.get("custom") or {}).get("kind") == "answer"]
    assert len(answers) >= 3
    assert rules.ends_on_a_positive_note(transcripts[key], closings()) == []


HESITATION = {
    "en": ["how much does roaming cost?", "hmm, I'll think about it"],
    "ru": ["сколько стоит роуминг?", "хорошо, я подумаю"],
    "et": ["kui palju roaming maksab?", "ma pean veel järele mõtlema"],
}


@pytest.mark.parametrize("language", list(HESITATION))
def test_rule_9_hesitation_gets_agreement_and_a_question(live_bot, language):
    turns = converse(live_bot, HESITATION[language])
    assert [(r.get("custom") or {}).get("intent") for r in turns[1].replies] == ["hesitate"], turns[1].replies
    assert rules.hesitation_answered(turns) == []


@pytest.mark.parametrize("key", list(CONVERSATIONS))
def test_rule_6_an_upset_customer_gets_an_apology_and_a_next_step(transcripts, key):
    last = transcripts[key][-1]
    assert any((r.get("custom") or {}).get("reason") == "upset" for r in last.replies), last.replies
    assert rules.unhappy_customer_answered(transcripts[key]) == []


OUT_OF_SCOPE = {"en": "what is the weather in Paris?", "ru": "какая погода в Париже?", "et": "milline ilm on Pariisis?"}


@pytest.mark.parametrize("language", list(OUT_OF_SCOPE))
def test_rules_8_and_10_out_of_scope_says_so_and_offers_an_alternative(live_bot, language):
    turns = converse(live_bot, [OUT_OF_SCOPE[language]])
    assert (turns[0].replies[0].get("custom") or {}).get("reason") == "out_of_scope", turns[0].replies
    assert rules.out_of_scope_offers_an_alternative(turns) == []


@pytest.mark.parametrize("key", list(CONVERSATIONS))
def test_rule_12_the_bot_says_it_is_a_bot(transcripts, key):
    challenged = [r for t in transcripts[key] for r in t.replies if (r.get("custom") or {}).get("intent") == "bot_challenge"]
    assert challenged, "the bot challenge was not recognised"
    assert rules.admits_being_a_bot(transcripts[key]) == []


RUDE = {
    "en": ("you are a useless stupid bot", ["useless", "stupid"]),
    "ru": ("ты тупой бесполезный бот", ["тупой", "бесполезный"]),
    "et": ("sa oled täiesti kasutu loll robot", ["kasutu", "loll"]),
}


@pytest.mark.parametrize("language", list(RUDE))
def test_rule_7_rudeness_is_not_mirrored(live_bot, language):
    text, insults = RUDE[language]
    turns = converse(live_bot, [text])
    assert (turns[0].replies[0].get("custom") or {}).get("reason") == "rude", turns[0].replies
    assert rules.rudeness_not_mirrored(turns, insults) == []


@pytest.mark.parametrize("key", list(CONVERSATIONS))
def test_rule_11_a_new_feature_is_mentioned_once_after_a_related_answer(transcripts, key):
    from knowledge.loader import load_knowledge

    kb = load_knowledge(DEMO_KNOWLEDGE)
    mentions = [r for t in transcripts[key] for r in t.replies if (r.get("custom") or {}).get("news_id")]
    assert len(mentions) == 1, "the conversation asks about billing, Wi-Fi and roaming, which all have news"
    assert rules.news_mentioned_once(transcripts[key], kb) == []
