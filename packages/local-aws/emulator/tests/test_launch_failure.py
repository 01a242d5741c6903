"""A launch that fails for its root volume's key (ec2restore_emulator/images.py): the instance is
`terminated` with StateReason Client.InvalidKMSKey.InvalidState, and no read ever sees it terminated for
another reason (python3 -m unittest discover -s tests, from emulator/)."""

import threading
import time
import unittest
from typing import Any

from moto.ec2.models import ec2_backends

from ec2restore_emulator import images

KMS_CODE = "Client.InvalidKMSKey.InvalidState"


class LaunchFailureTest(unittest.TestCase):
    def launch(self) -> Any:
        backend = ec2_backends["123456789012"]["eu-west-1"]
        image = next(iter(backend.amis.values()))
        reservation = backend.run_instances(
            image.id, 1, None, [], is_instance_type_default=True, instance_type="t3.micro"
        )
        return reservation.instances[0]

    def test_terminated_for_its_key_from_the_first_moment_it_is_terminated(self) -> None:
        instance = self.launch()
        # What a DescribeInstances served on another thread could read right after moto's terminate()
        # set `terminated` (moto then also sets its own UserInitiatedShutdown reason).
        seen: list[tuple[str, str]] = []
        terminated = threading.Event()
        moto_terminate = instance.terminate

        def terminate() -> Any:
            previous = moto_terminate()
            seen.append((instance._state.name, instance.state_reason.code))
            terminated.set()
            return previous

        instance.terminate = terminate
        delay = images.KMS_FAILURE_DELAY_S
        images.KMS_FAILURE_DELAY_S = 0
        try:
            images._terminate_later(instance)
        finally:
            images.KMS_FAILURE_DELAY_S = delay
        self.assertTrue(terminated.wait(10))
        time.sleep(0.05)
        self.assertEqual(seen, [("terminated", KMS_CODE)])
        self.assertEqual((instance._state.name, instance.state_reason.code), ("terminated", KMS_CODE))
        self.assertEqual(instance._reason, "Server.InternalError")


if __name__ == "__main__":
    unittest.main()
