"""Custom Rasa 3.6 graph components, referenced from bot/config.yml.

- sentence_featurizer.SentenceEmbeddingFeaturizer: MiniLM sentence vectors (ONNX).
- intent_classifier.EmbeddingIntentClassifier: logistic regression over the sentence
  vector and character n-grams.
- oos_gate.OutOfScopeGate: messages unlike every in-domain example -> out_of_scope.
- entity_dedup.EntityDeduplicator: one entity per span when two extractors agree.

Nothing here imports crm_models; the encoder is read from models/encoder.
"""
