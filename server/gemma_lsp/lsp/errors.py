"""Errors raised by feature handlers; their messages are shown to the user as they are."""

from __future__ import annotations


class FeatureError(Exception):
    """A request could not be served; the message says why and what to do."""


class DocumentNotOpen(FeatureError):
    def __init__(self, uri: str) -> None:
        super().__init__(f"{uri} is not open in the editor (open it and try again)")
        self.uri = uri
