"""The bot mirrors the customer's register: Russian ты/вы, Estonian sina/teie."""
import pytest
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.hand_off import HandOff
from bot.actions.smalltalk import Smalltalk
from replies.composer import FORMAL, INFORMAL, load_phrases
from replies.register import detect_register
from helpers import make_tracker, slot_events

pytestmark = pytest.mark.usefixtures("knowledge_client")  # the actions' knowledge, as the action server installs it

PHRASES = load_phrases()
RU_FORMAL_WORDS = {"вы", "вас", "вам", "вами", "ваш", "ваша", "ваше", "ваши", "вашего", "вашей"}
ET_FORMAL_WORDS = {"te", "teie", "teil", "teid", "teile", "teiega"}


def words(text):
    import re

    return set(re.findall(r"\w+", text.lower()))


@pytest.mark.parametrize("text, register", [
    ("привет, подскажи как оплатить счёт", INFORMAL), ("Здравствуйте, подскажите, как оплатить счёт?", FORMAL),
    ("tere, aita mul parool muuta", INFORMAL), ("Tere, kas te saaksite mind aidata?", FORMAL),
    ("podskazhi pozhalujsta kak platit", INFORMAL), ("how do I pay my bill?", None), ("Internet ei tööta", None),
])
def test_detect_register(text, register):
    assert detect_register(text) == register


def test_every_informal_variant_avoids_the_formal_address():
    for key, by_language in PHRASES.items():
        for variant in by_language["ru"][INFORMAL]:
            assert not words(variant) & RU_FORMAL_WORDS, (key, variant)
        for variant in by_language["et"][INFORMAL]:
            assert not words(variant) & ET_FORMAL_WORDS, (key, variant)


def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker, domain={})
    return dispatcher.messages, slot_events(events)


@pytest.mark.parametrize("text, language, register", [
    ("привет! ты бот?", "ru", INFORMAL), ("Здравствуйте, вы бот?", "ru", FORMAL),
    ("tere, kas sa oled robot?", "et", INFORMAL), ("Tere, kas te olete robot?", "et", FORMAL),
])
def test_replies_follow_the_customers_register(text, language, register):
    messages, slots = run(Smalltalk(), make_tracker(text, "bot_challenge"))
    assert messages[0]["text"] in [v.format(bot_name="Laine", name_greeting="") for v in PHRASES["bot_challenge"][language][register]]
    assert slots.get("register", FORMAL) == register


def test_the_register_is_remembered_when_a_message_does_not_show_it():
    messages, slots = run(HandOff(), make_tracker("оператора", "request_human", slots={"language": "ru", "register": INFORMAL}))
    assert messages[0]["text"] == PHRASES["handoff_human_request"]["ru"][INFORMAL][0]
    assert messages[0]["custom"]["register"] == INFORMAL
