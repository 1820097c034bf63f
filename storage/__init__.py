"""Persistence: models, repositories, conversation storage and migrations."""
