"""harlab: human activity recognition and person identification from wearables and radar."""

__version__ = "0.1.0"
