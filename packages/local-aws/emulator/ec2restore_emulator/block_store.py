"""Where the emulator keeps EBS direct block data: on disk, content-addressed, released when unused.

moto keeps every block's bytes in memory for the life of the process (13 GB in one CI run). Here:
- a block is addressed by its SHA-256, which PutSnapshotBlock has already checked against the caller's
  checksum, so the address costs no extra hashing;
- the all-zero block (most of every test volume) is never stored;
- identical blocks are stored once and counted (`refs`); a block is freed when its last snapshot
  drops it (overwritten, or the snapshot deleted);
- bytes live in one slot file in a folder this process owns. Freed slots are reused, so the file
  grows with the largest set of distinct live blocks, not with the bytes written. Memory holds only
  the index (about 200 bytes per distinct block).

The folder is `<temp dir>/ec2restore-emulator-<pid>-<process start time>`; the emulator removes it
when it exits, and each new emulator removes the folders of emulators that are no longer running
(e.g. killed with SIGKILL), so nothing piles up.
"""

from __future__ import annotations

import heapq
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass

FOLDER_PREFIX = "ec2restore-emulator-"


@dataclass(slots=True)
class _Entry:
    slot: int
    length: int
    refs: int


class BlockStore:
    def __init__(self, folder: str, slot_size: int, zero_digest: bytes):
        self.folder = folder
        self.slot_size = slot_size
        self.zero_digest = zero_digest
        self._zero = bytes(slot_size)
        self._lock = threading.Lock()
        self._entries: dict[bytes, _Entry] = {}
        self._free_slots: list[int] = []  # a heap: the lowest free slot is reused first
        self._next_slot = 0
        os.makedirs(folder, exist_ok=True)
        self._fd = os.open(os.path.join(folder, "blocks.data"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)

    def put(self, digest: bytes, data: bytes) -> None:
        """Keeps `data` (whose SHA-256 is `digest`) until release(digest) is called as often as put."""
        if digest == self.zero_digest:
            return
        if len(data) > self.slot_size:
            raise ValueError(f"a block holds at most {self.slot_size} bytes, got {len(data)}")
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None:
                entry.refs += 1
                return
            slot = heapq.heappop(self._free_slots) if self._free_slots else self._take_new_slot()
            # Published with refs=0 only after the bytes are on disk: readers never see a half slot.
            entry = _Entry(slot, len(data), 0)
        # Outside the lock: the write releases the GIL and other writers proceed.
        os.pwrite(self._fd, data, slot * self.slot_size)
        with self._lock:
            existing = self._entries.get(digest)
            if existing is not None:
                # Another writer stored the same bytes meanwhile: keep theirs, give our slot back.
                existing.refs += 1
                heapq.heappush(self._free_slots, slot)
                return
            entry.refs = 1
            self._entries[digest] = entry

    def retain(self, digest: bytes) -> bool:
        """One more reference to bytes already stored (a volume or a snapshot made from a snapshot shares
        its blocks): they are kept until release(digest) has been called once more. False when the
        bytes are no longer stored."""
        if digest == self.zero_digest:
            return True
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return False
            entry.refs += 1
            return True

    def read(self, digest: bytes, length: int) -> bytes:
        if digest == self.zero_digest:
            return self._zero if length == self.slot_size else bytes(length)
        with self._lock:
            entry = self._entries[digest]
            slot, stored = entry.slot, entry.length
        return os.pread(self._fd, stored, slot * self.slot_size)

    def release(self, digest: bytes) -> None:
        if digest == self.zero_digest:
            return
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return
            entry.refs -= 1
            if entry.refs > 0:
                return
            del self._entries[digest]
            if entry.slot == self._next_slot - 1:
                # The last slot: shrink the file rather than keep a hole at its end.
                self._next_slot -= 1
                os.ftruncate(self._fd, self._next_slot * self.slot_size)
            else:
                heapq.heappush(self._free_slots, entry.slot)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "distinctBlocks": len(self._entries),
                "references": sum(e.refs for e in self._entries.values()),
                "fileBytes": self._next_slot * self.slot_size,
            }

    def _take_new_slot(self) -> int:
        slot = self._next_slot
        self._next_slot += 1
        return slot

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


def _process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat): with the pid it
    names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The command name (field 2) may hold spaces and parentheses: split after its closing ')'.
            fields = stat.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return None


def _is_running(pid: int, start_time: str) -> bool:
    if os.path.isdir("/proc/self"):
        return _process_start_time(pid) == start_time
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owned_folder_name(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{FOLDER_PREFIX}{pid}-{_process_start_time(pid) or '0'}"


def remove_stale_folders(parent: str) -> list[str]:
    """Removes the block folders of emulators that are gone (killed before they could clean up)."""
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(FOLDER_PREFIX):
            continue
        pid_text, _, start_time = name[len(FOLDER_PREFIX) :].partition("-")
        if not pid_text.isdigit() or not start_time:
            continue
        pid = int(pid_text)
        if pid == os.getpid() or _is_running(pid, start_time):
            continue
        shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        removed.append(name)
    return removed


def open_block_store(slot_size: int, zero_digest: bytes, parent: str | None = None) -> BlockStore:
    """The store of this emulator process, in `parent` (default: EC2RESTORE_EMULATOR_BLOCK_DIR, else the
    temporary directory), after removing what dead emulators left there."""
    parent = parent or os.environ.get("EC2RESTORE_EMULATOR_BLOCK_DIR") or tempfile.gettempdir()
    os.makedirs(parent, exist_ok=True)
    remove_stale_folders(parent)
    return BlockStore(os.path.join(parent, owned_folder_name()), slot_size, zero_digest)
