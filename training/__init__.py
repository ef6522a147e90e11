"""Corpus rendering and model training for the default drumscribe model."""
