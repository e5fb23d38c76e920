"""The tenant's configuration: its models, texts and business hours (pure)."""
