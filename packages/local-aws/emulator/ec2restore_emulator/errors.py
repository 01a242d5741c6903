"""Error responses in each protocol's own wire format, with AWS's HTTP status.

moto serializes its ServiceException errors with HTTP 400 unless the service model names another
status; AWS answers some errors with 403 (EC2 UnauthorizedOperation, STS AccessDenied)."""

from __future__ import annotations

import json
import uuid
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.exceptions import HTTPException


class _WireError(HTTPException):
    content_type = "text/xml"

    def __init__(self, status: int, error_code: str, body: str, content_type: str):
        super().__init__()
        self.code = status
        self.error_code = error_code
        self.description = body
        self.content_type = content_type

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("X-Amzn-ErrorType", self.error_code), ("Content-Type", self.content_type)]

    def get_body(self, *args: Any, **kwargs: Any) -> str:
        return self.description or ""


class Ec2Error(_WireError):
    """EC2's query-protocol error document (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html)."""

    def __init__(self, status: int, error_code: str, message: str):
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{escape(error_code)}</Code>"
            f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
        )
        super().__init__(status, error_code, body, "text/xml")


class QueryError(_WireError):
    """The awsQuery error document STS and IAM use."""

    def __init__(self, status: int, error_code: str, message: str, namespace: str):
        body = (
            f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{escape(error_code)}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )
        super().__init__(status, error_code, body, "text/xml")


class RestJsonError(_WireError):
    """restJson1 errors (EBS direct APIs): the type in X-Amzn-ErrorType, Message and Reason in the body."""

    def __init__(self, status: int, error_code: str, message: str, reason: str | None = None):
        payload: dict[str, str] = {"message": message, "Message": message}
        if reason:
            payload["Reason"] = reason
        super().__init__(status, error_code, json.dumps(payload), "application/json")
