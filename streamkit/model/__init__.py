"""Pure data: DynamoDB attribute values, items, numbers, sizes, native conversion. No I/O."""
