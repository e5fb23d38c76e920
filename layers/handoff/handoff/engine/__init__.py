"""The pure flow: facts in, effects out."""
