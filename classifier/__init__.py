"""Classifier: narratives taxonomy, training data, the scikit-learn model, evaluation and registry."""
