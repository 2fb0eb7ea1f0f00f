"""The action server of the live bot: `python -m supportbot.action_server --port N` is `python -m rasa_sdk
--actions bot.actions --port N`, with the actions' parts assembled from the configuration, read once here: the
knowledge client, the sentiment detector and the reply composer. Everything expensive is done before it listens,
so that the first customer waits no longer than the hundredth: the knowledge index, the sentiment model, the
encoder and the language models are loaded, and one message goes through the knowledge and the sentiment."""
from __future__ import annotations

import gc
import sys
from typing import Tuple

from bot.actions.conversation import use_reply_composer
from bot.actions.knowledge_client import KnowledgeClient, use_knowledge_client
from knowledge.encoders import load_encoder
from knowledge.live import LiveRetriever
from knowledge.text import load_language_models
from replies.composer import ReplyComposer
from signals.personal_data import install_log_masking
from signals.sentiment.detector import SentimentDetector, use_sentiment_detector
from supportbot.settings import Settings, use_library_defaults

WARM_UP_MESSAGE = "Tere! Kuidas ma saan arvet maksta?"


def install(settings: Settings) -> Tuple[KnowledgeClient, SentimentDetector]:
    """The actions' knowledge client, sentiment detector and reply composer, as `settings` configure them."""
    client = KnowledgeClient(LiveRetriever(settings.knowledge_dir, settings.index_dir, settings.encoder))
    detector = SentimentDetector(encoder=load_encoder(settings.encoder), model_dir=settings.model_dir)
    use_knowledge_client(client)
    use_sentiment_detector(detector)
    use_reply_composer(ReplyComposer(bot_name=settings.bot_name))
    return client, detector


def prepare(settings: Settings) -> None:
    """Install the actions' parts for `settings`, and send one message through them."""
    load_language_models()
    client, detector = install(settings)
    vector = client.query_vector(WARM_UP_MESSAGE)
    client.consult(WARM_UP_MESSAGE, vector=vector)
    detector.assess(WARM_UP_MESSAGE, "et", vector=vector)
    gc.collect()
    gc.freeze()  # what start-up made stays: the collector no longer walks it on every full collection


def main() -> None:
    from rasa_sdk.__main__ import main as rasa_sdk_main

    install_log_masking()
    # rasa_sdk has no option for its host: only the Rasa server, on this machine, calls it
    use_library_defaults(SANIC_HOST="127.0.0.1")
    prepare(Settings.from_environ())
    sys.argv = ["rasa_sdk", "--actions", "bot.actions", *sys.argv[1:]]
    rasa_sdk_main()


if __name__ == "__main__":
    main()
