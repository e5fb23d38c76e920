"""The I/O other than DynamoDB: AWS clients, the Graph API, the inbound queue, the event bus, SSM."""
