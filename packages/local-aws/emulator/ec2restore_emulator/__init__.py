"""ec2-restore's local AWS emulator: moto 5.2.1 plus the AWS behaviour ec2-restore relies on.

See packages/local-aws/README.md for the list of behaviours and the AWS documents they follow.
"""

REQUIRED_MOTO_VERSION = "5.2.1"
