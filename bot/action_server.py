"""The action server of the live bot: `python -m bot.action_server --port N` is `python -m rasa_sdk --actions
bot.actions --port N`, with everything expensive done before it listens, so that the first customer waits no
longer than the hundredth: the knowledge index, the sentiment model, the encoder and the language models are
loaded, and one message goes through the knowledge and the sentiment."""
from __future__ import annotations

import gc
import os
import sys


def prepare() -> None:
    from bot.actions.knowledge_client import knowledge_client
    from signals.sentiment import sentiment_detector
    from knowledge.text import load_language_models

    load_language_models()
    client = knowledge_client()
    vector = client.query_vector("Tere! Kuidas ma saan arvet maksta?")
    client.consult("Tere! Kuidas ma saan arvet maksta?", vector=vector)
    sentiment_detector().assess("Tere! Kuidas ma saan arvet maksta?", "et", vector=vector)
    gc.collect()
    gc.freeze()  # what start-up made stays: the collector no longer walks it on every full collection


def main() -> None:
    from rasa_sdk.__main__ import main as rasa_sdk_main

    from signals.personal_data import install_log_masking

    install_log_masking()
    os.environ.setdefault("SANIC_HOST", "127.0.0.1")  # only the Rasa server, on this machine, calls it
    prepare()
    sys.argv = ["rasa_sdk", "--actions", "bot.actions", *sys.argv[1:]]
    rasa_sdk_main()


if __name__ == "__main__":
    main()
