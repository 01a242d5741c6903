"""Unit tests of the block store (python3 -m unittest discover -s tests, from emulator/)."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from ec2restore_emulator.block_store import (
    BlockStore,
    open_block_store,
    owned_folder_name,
    remove_stale_folders,
)

SLOT = 4096
ZERO = bytes(SLOT)
ZERO_DIGEST = hashlib.sha256(ZERO).digest()


def block(seed: int) -> tuple[bytes, bytes]:
    data = hashlib.sha256(str(seed).encode()).digest() * (SLOT // 32)
    return hashlib.sha256(data).digest(), data


class BlockStoreTest(unittest.TestCase):
    def setUp(self) -> None:
        self.parent = tempfile.mkdtemp(prefix="block-store-test-")
        self.store = BlockStore(os.path.join(self.parent, "store"), SLOT, ZERO_DIGEST)

    def tearDown(self) -> None:
        self.store.close()
        shutil.rmtree(self.parent, ignore_errors=True)

    def file_size(self) -> int:
        return os.path.getsize(os.path.join(self.store.folder, "blocks.data"))

    def test_zero_blocks_cost_nothing(self) -> None:
        for _ in range(100):
            self.store.put(ZERO_DIGEST, ZERO)
        self.assertEqual(self.file_size(), 0)
        self.assertEqual(self.store.read(ZERO_DIGEST, SLOT), ZERO)

    def test_identical_blocks_are_stored_once_and_freed_with_their_last_reference(self) -> None:
        digest, data = block(1)
        self.store.put(digest, data)
        self.store.put(digest, data)
        self.assertEqual(self.file_size(), SLOT)
        self.assertEqual(self.store.read(digest, SLOT), data)
        self.store.release(digest)
        self.assertEqual(self.store.read(digest, SLOT), data)
        self.store.release(digest)
        self.assertEqual(self.store.stats()["distinctBlocks"], 0)
        self.assertEqual(self.file_size(), 0)
        with self.assertRaises(KeyError):
            self.store.read(digest, SLOT)

    def test_freed_slots_are_reused_so_the_file_does_not_grow_with_bytes_written(self) -> None:
        for round_ in range(20):
            digests = []
            for i in range(10):
                digest, data = block(round_ * 100 + i)
                self.store.put(digest, data)
                digests.append((digest, data))
            for digest, data in digests:
                self.assertEqual(self.store.read(digest, SLOT), data)
            for digest, _ in digests:
                self.store.release(digest)
        self.assertLessEqual(self.file_size(), 10 * SLOT)
        self.assertEqual(self.store.stats()["distinctBlocks"], 0)

    def test_a_block_larger_than_a_slot_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            self.store.put(b"x" * 32, bytes(SLOT + 1))


class FolderLifecycleTest(unittest.TestCase):
    def setUp(self) -> None:
        self.parent = tempfile.mkdtemp(prefix="block-folders-test-")

    def tearDown(self) -> None:
        shutil.rmtree(self.parent, ignore_errors=True)

    def test_folders_of_dead_emulators_are_removed_and_live_ones_kept(self) -> None:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead_name = owned_folder_name(dead.pid)  # not reaped yet: /proc still knows its start time
        dead.wait()
        os.makedirs(os.path.join(self.parent, dead_name))
        reused_pid = os.path.join(self.parent, f"ec2restore-emulator-{os.getppid()}-1")  # live pid, other start
        os.makedirs(reused_pid)
        live = os.path.join(self.parent, owned_folder_name(os.getppid()))
        os.makedirs(live)
        unrelated = os.path.join(self.parent, "something-else")
        os.makedirs(unrelated)

        removed = remove_stale_folders(self.parent)

        self.assertIn(os.path.basename(reused_pid), removed)
        self.assertFalse(os.path.exists(reused_pid))
        self.assertTrue(os.path.exists(live))
        self.assertTrue(os.path.exists(unrelated))
        self.assertFalse(os.path.exists(os.path.join(self.parent, dead_name)))

    def test_the_store_removes_its_folder_on_close(self) -> None:
        store = open_block_store(SLOT, ZERO_DIGEST, self.parent)
        digest, data = block(7)
        store.put(digest, data)
        self.assertTrue(os.path.isdir(store.folder))
        store.close()
        self.assertFalse(os.path.exists(store.folder))


if __name__ == "__main__":
    unittest.main()
