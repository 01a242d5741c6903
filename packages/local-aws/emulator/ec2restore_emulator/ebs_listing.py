"""EBS direct listings in pages: ListSnapshotBlocks and ListChangedBlocks.

Both take `maxResults`, `pageToken` and `startingBlockIndex` in the query string and answer the blocks
in ascending block index order with a `NextToken` while more remain
(https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListSnapshotBlocks.html,
https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListChangedBlocks.html):
- MaxResults "Valid Range: Minimum value of 100. Maximum value of 10000."; below 100 "the API will return
  at least 100 results" (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html), above 10000 is
  a ValidationException. AWS does not document the page size without MaxResults: the emulator uses
  the largest, 10000.
- "If you specify NextToken, then StartingBlockIndex is ignored"; "The list in the response will start
  from this block index or the next valid block index in the snapshot".
- "The value of NextToken is null when there are no more blocks to return."
- ListChangedBlocks: the blocks whose data differs between FirstSnapshotId and the second snapshot,
  each with the block token of the snapshot(s) that hold it; "The SecondSnapshotId parameter must be
  specified with a FirstSnapshotID parameter; otherwise, an error occurs" (a ValidationException).

Plain moto 5.2.1 answers every block in one page, in the order written, ignores the three
parameters, and lists only the blocks of the first snapshot as changed.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Callable

from .errors import RestJsonError

MIN_PAGE = 100
MAX_PAGE = 10000


def _invalid(message: str, reason: str) -> RestJsonError:
    return RestJsonError(400, "ValidationException", message, reason)


def _whole_number(name: str, text: str) -> int:
    if not text.isdigit():
        raise _invalid(f"{name} must be a whole number, got '{text}'.", "INVALID_PARAMETER_VALUE")
    return int(text)


def page_token(listing: str, next_index: int) -> str:
    # Opaque to the caller; the pattern AWS gives for NextToken is ^[A-Za-z0-9+/=]+$.
    return base64.b64encode(f"{listing}:{next_index}".encode()).decode()


def _read_token(listing: str, token: str) -> int:
    try:
        owner, index = base64.b64decode(token, validate=True).decode().rsplit(":", 1)
        if owner == listing and index.isdigit():
            return int(index)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise _invalid("The pagination token is not valid.", "INVALID_PAGE_TOKEN")


def page_of(
    listing: str, indexes: list[int], query: dict[str, str], entry: Callable[[int], dict[str, Any]]
) -> dict[str, Any]:
    """One page of `indexes` (sorted) for the request's query: the entries and, when more remain, NextToken.
    `listing` names what is listed, so a token of another listing is refused."""
    size = MAX_PAGE
    if query.get("maxResults") is not None:
        size = _whole_number("MaxResults", query["maxResults"])
        if size > MAX_PAGE:
            raise _invalid(
                f"MaxResults must be between {MIN_PAGE} and {MAX_PAGE}, got {size}.", "INVALID_PARAMETER_VALUE"
            )
        size = max(size, MIN_PAGE)
    if query.get("pageToken"):
        start = _read_token(listing, query["pageToken"])
    else:
        start = _whole_number("StartingBlockIndex", query.get("startingBlockIndex") or "0")
    remaining = [i for i in indexes if i >= start]
    answer: dict[str, Any] = {"entries": [entry(i) for i in remaining[:size]]}
    if len(remaining) > size:
        answer["NextToken"] = page_token(listing, remaining[size])
    return answer


def changed_block_indexes(first: Any, second: Any) -> list[int]:
    """Block indexes whose data differs between two snapshots (by the SHA-256 the data is stored under)."""
    first_blocks, second_blocks = dict(first.blocks), dict(second.blocks)
    changed = []
    for index in set(first_blocks) | set(second_blocks):
        a, b = first_blocks.get(index), second_blocks.get(index)
        if a is None or b is None or a.digest != b.digest:
            changed.append(int(index))
    return sorted(changed)


def require_first_snapshot(first_snapshot_id: str | None) -> str:
    if not first_snapshot_id:
        raise _invalid(
            "The SecondSnapshotId parameter must be specified with a FirstSnapshotId parameter.",
            "INVALID_PARAMETER_VALUE",
        )
    return first_snapshot_id


def query_of(querystring: dict[str, list[str]]) -> dict[str, str]:
    """moto's parsed query string (name -> values) as name -> first value."""
    return {k: v[0] for k, v in querystring.items() if v}
