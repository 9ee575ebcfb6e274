"""Errors of the language room: the shipped data files could not be read. They know
nothing of gRPC; the server maps them. None carries any part of a text.

LanguageError
 ├── IntentModelError       the intent model's weights are missing or malformed
 └── LanguageProfilesError  the language profiles are missing or malformed
"""

from __future__ import annotations


class LanguageError(Exception):
    """Root of every error raised by `language`."""


class IntentModelError(LanguageError):
    """The weights file is missing, unreadable or not a model this code can read."""


class LanguageProfilesError(LanguageError):
    """The profiles file is missing, unreadable or not one this code can read."""
