"""The tenants' own bots behind the engine's bot port: over HTTP (Rasa's format), Lex, Bedrock."""
