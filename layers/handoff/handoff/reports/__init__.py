"""Reports read from what the conversations stored: the chat report."""
