"""Values read from DynamoDB, as plain JSON values (the handler's result, the CLI's output)."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary


def plain(value: Any) -> Any:
    """DynamoDB's types as plain JSON-able values: Decimal as int (or float), sets as sorted lists,
    binary as base64."""
    result: Any = value
    if isinstance(value, Decimal):
        result = int(value) if value == value.to_integral_value() else float(value)
    elif isinstance(value, Binary):
        result = base64.b64encode(value.value).decode()  # type: ignore[attr-defined]  # missing from the stubs
    elif isinstance(value, bytes | bytearray):
        result = base64.b64encode(value).decode()
    elif isinstance(value, dict):
        result = {str(k): plain(v) for k, v in value.items()}
    elif isinstance(value, set | frozenset):
        result = sorted((plain(v) for v in value), key=str)
    elif isinstance(value, list | tuple):
        result = [plain(v) for v in value]
    return result
