"""Core: data, split, preprocessing, metrics, family interface, pipeline, search, evaluation."""
