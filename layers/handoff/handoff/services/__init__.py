"""The application: the imperative shell around the engine."""
