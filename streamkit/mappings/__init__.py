"""Event-source mappings: Lambda's contract for DynamoDB streams, run in-process."""
