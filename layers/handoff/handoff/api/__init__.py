"""HTTP: the webhook resolver, the one mapping from refusals to HTTP, the caller from JWT claims."""
