"""AWS's public base images as a launch finds them: boot mode and billing of the catalogue images,
the SSM public parameters that name the latest Windows images, and DescribeImages by snapshot.

- moto's catalogue images all say BootMode `uefi` and carry no billing fields. AWS reports what each
  image is: Windows images bill as `Windows` / `RunInstances:0002`, with SQL Server as `Windows with
  SQL Server Standard` / `RunInstances:0006`, Enterprise `RunInstances:0102`, Web `RunInstances:0202`
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/billing-info-fields.html); SQL Server Express
  is free and bills as Windows. Amazon's Windows images boot legacy BIOS except the `TPM-` ones
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/launch-instance-boot-mode.html), Amazon Linux
  2023 is `uefi-preferred` on x86_64, and every arm64 (Graviton) image boots UEFI
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-boot.html); older Amazon Linux boots
  legacy BIOS. RHEL bills `RunInstances:0010`, SUSE `RunInstances:000g`.
- SSM public parameters `/aws/service/ami-windows-latest/<image name without its date>` name the
  latest Amazon Windows images (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-public-parameters-ami.html);
  moto serves only `/aws/service/ami-amazon-linux-latest`.
- RegisterImage applies its TagSpecifications to the image (moto drops them), and RunInstances merges
  its BlockDeviceMappings over the image's: a mapping naming an image device overrides only the
  fields it gives (e.g. Encrypted and KmsKeyId of the root volume, whose snapshot stays the image's),
  the image's other mappings are kept ("the block device mapping of the AMI ... you can override",
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-device-mapping-concepts.html#Using_OverridingAMIBDM);
  a request without mappings launches the image's (the AMI's block device mapping is what a launch
  gets unless it overrides it, same page; "By default, the block devices specified in the block
  device mapping for the AMI are used", BlockDeviceMappings of the launch APIs).
  moto launches only the request's mappings (none: a blank 8 GiB /dev/sda1 root) and refuses one
  without VolumeSize or SnapshotId.
- DescribeImages filter `block-device-mapping.snapshot-id` ("The ID of the snapshot used for the
  Amazon EBS volume", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html);
  moto refuses it as not implemented.
- Emulator overhead, not AWS behaviour: moto builds the catalogue (~1,165 images, a volume and a
  snapshot each) for every account and region; here it is built once per region and each account gets
  copies (`_catalogues`), so a catalogue snapshot has the same id in every account, as an Amazon public
  image's snapshot has on AWS.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from moto.core.utils import utcnow

from . import snapshot_completion

WINDOWS_PARAMETER_PATH = "/aws/service/ami-windows-latest"
_SQL_BILLING = {
    "Standard": ("Windows with SQL Server Standard", "RunInstances:0006"),
    "Enterprise": ("Windows with SQL Server Enterprise", "RunInstances:0102"),
    "Web": ("Windows with SQL Server Web", "RunInstances:0202"),
}
_DATE_SUFFIX = re.compile(r"-\d{4}\.\d{2}\.\d{2}$")


def _billing_and_boot(ami: Any) -> tuple[str, str, str]:
    """(PlatformDetails, UsageOperation, BootMode) of a catalogue image, from its name."""
    name = ami.name or ""
    arm = ami.architecture == "arm64"
    if (ami.platform or "").lower() == "windows":
        edition = re.search(r"SQL_\d{4}(?:_SP\d)?_(Standard|Enterprise|Web|Express)", name)
        details, operation = _SQL_BILLING.get(edition.group(1) if edition else "", ("Windows", "RunInstances:0002"))
        return details, operation, "uefi" if name.startswith("TPM-") else "legacy-bios"
    if name.startswith("RHEL"):
        details, operation = "Red Hat Enterprise Linux", "RunInstances:0010"
    elif name.startswith("suse"):
        details, operation = "SUSE Linux", "RunInstances:000g"
    else:
        details, operation = "Linux/UNIX", "RunInstances"
    if arm:
        return details, operation, "uefi"
    return details, operation, "uefi-preferred" if name.startswith("al2023") else "legacy-bios"


def _describe_catalogue(backend: Any) -> None:
    for ami in list(backend.amis.values()):
        if getattr(ami, "ec2restore_bdm", None) is not None or getattr(ami, "ec2restore_catalogued", False):
            continue  # registered through the API: RegisterImage set its attributes (images.py)
        details, operation, boot_mode = _billing_and_boot(ami)
        ami.platform_details = details
        ami.usage_operation = operation
        ami.boot_mode = boot_mode
        # Amazon's HVM images support ENA; paravirtual ones cannot.
        ami.ena_support = ami.virtualization_type == "hvm"
        ami.ec2restore_catalogued = True


# The public catalogue of each region as moto builds it for an account (plus _describe_catalogue), held
# apart from every account: each new account gets copies of these instead of moto building ~1,165 images,
# volumes and snapshots again (~50 ms of CPU per account and region). The same images with the same
# attributes; their snapshots have one id in every account, as an Amazon public image's snapshot has on AWS.
_catalogues: dict[str, list[Any]] = {}


def _clone(model: Any) -> Any:
    """A shallow copy of a moto model object (what copy.copy makes, at a fraction of its cost)."""
    clone = object.__new__(type(model))
    clone.__dict__.update(model.__dict__)
    return clone


def _template_of(ami: Any) -> Any:
    """A copy of a catalogue image and its snapshot that belongs to no account."""
    template = _clone(ami)
    template.ec2_backend = None
    snapshot = template.ebs_snapshot = _clone(ami.ebs_snapshot)
    snapshot.ec2_backend = None
    volume = snapshot.volume = _clone(snapshot.volume)  # moto's deleted stand-in: its id and size
    volume.ec2_backend = None
    return template


def _add_copy(backend: Any, template: Any) -> None:
    """The account's own copy of a catalogue image: what an account may change (launch permissions,
    snapshot permissions; tags live in the account's backend) is its own."""
    ami = _clone(template)
    ami.ec2_backend = backend
    ami.launch_permissions = [dict(permission) for permission in template.launch_permissions]
    ami.product_codes = set(template.product_codes)
    snapshot = ami.ebs_snapshot = _clone(template.ebs_snapshot)
    snapshot.ec2_backend = backend
    snapshot.create_volume_permission_groups = set(template.ebs_snapshot.create_volume_permission_groups)
    snapshot.create_volume_permission_userids = set(template.ebs_snapshot.create_volume_permission_userids)
    backend.amis[ami.id] = ami
    backend.snapshots[snapshot.id] = snapshot


def _windows_parameters(account_id: str, region: str) -> list[tuple[str, str]]:
    """(parameter name, image id) of the region's Amazon Windows images, newest name winning."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account_id][region]
    latest: dict[str, Any] = {}
    for ami in backend.amis.values():
        if (ami.platform or "").lower() != "windows" or ami.owner_alias != "amazon":
            continue
        key = _DATE_SUFFIX.sub("", ami.name or "")
        if key and (key not in latest or (ami.name or "") > (latest[key].name or "")):
            latest[key] = ami
    return sorted((f"{WINDOWS_PARAMETER_PATH}/{key}", ami.id) for key, ami in latest.items())


def _merge_mappings(image_mappings: list[dict[str, Any]], requested: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The image's mappings with the request's laid over them, by device name."""
    by_device = {m.get("DeviceName"): m for m in requested}
    merged: list[dict[str, Any]] = []
    for mapping in image_mappings:
        override = by_device.pop(mapping.get("DeviceName"), None)
        if override is None:
            merged.append({"DeviceName": mapping.get("DeviceName"), "Ebs": dict(mapping.get("Ebs") or {})})
        elif "NoDevice" in override or not override.get("Ebs"):
            merged.append(override)
        else:
            ebs = {k: v for k, v in (mapping.get("Ebs") or {}).items() if k in ("SnapshotId", "VolumeSize", "VolumeType", "DeleteOnTermination", "Encrypted", "KmsKeyId")}
            ebs.update({k: v for k, v in override["Ebs"].items() if v is not None})
            merged.append({**override, "Ebs": ebs})
    return merged + list(by_device.values())


def _install_launch_rules() -> None:
    from moto.ec2.responses.amis import AmisResponse
    from moto.ec2.responses.instances import InstanceResponse

    original_register = AmisResponse.register_image

    def register_image(self: Any) -> Any:
        result = original_register(self)
        tags = self._parse_tag_specification().get("image", {})
        if tags:
            self.ec2_backend.amis[result.result["ImageId"]].add_tags(tags)
        return result

    AmisResponse.register_image = register_image

    original_parse = InstanceResponse._parse_block_device_mapping

    def parse_block_device_mapping(self: Any) -> list[dict[str, Any]]:
        requested = self._get_param("BlockDeviceMappings", []) or []
        image = self.ec2_backend.amis.get(self._get_param("ImageId") or "")
        # Without mappings in the request, an image registered here launches its own (moto would give
        # the instance a blank 8 GiB /dev/sda1); moto's catalogue images keep moto's default root.
        if image is None or (not requested and getattr(image, "ec2restore_bdm", None) is None):
            return original_parse(self)
        merged = _merge_mappings(list(image.block_device_mappings), requested)
        original_get = self._get_param
        self._get_param = lambda name, *rest: merged if name == "BlockDeviceMappings" else original_get(name, *rest)
        try:
            return original_parse(self)
        finally:
            del self._get_param

    InstanceResponse._parse_block_device_mapping = parse_block_device_mapping


def install() -> None:
    _install_launch_rules()
    from moto.ec2.models.amis import Ami, AmiBackend
    from moto.ssm.models import Parameter, ParameterDict

    original_load = AmiBackend._load_amis

    def load_amis(self: Any) -> None:
        template = _catalogues.get(self.region_name)
        if template is not None:
            for image in template:
                _add_copy(self, image)
            return
        with snapshot_completion.catalogue_loading():  # the catalogue's snapshots are long completed
            original_load(self)
        _describe_catalogue(self)
        _catalogues.setdefault(self.region_name, [_template_of(ami) for ami in self.amis.values()])

    AmiBackend._load_amis = load_amis

    original_filter = Ami.get_filter_value

    def get_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
        if filter_name == "block-device-mapping.snapshot-id":
            return [(m.get("Ebs") or {}).get("SnapshotId") for m in self.block_device_mappings]
        return original_filter(self, filter_name, method_name)

    Ami.get_filter_value = get_filter_value

    original_check = ParameterDict._check_loading_status

    def check_loading_status(self: Any, key: str) -> None:
        original_check(self, key)
        wanted = str(key or "").rstrip("/")
        # The parameter itself, its path, or a path above it (GetParametersByPath /aws/service).
        if not wanted.startswith("/aws") or not (
            wanted.startswith(WINDOWS_PARAMETER_PATH) or WINDOWS_PARAMETER_PATH.startswith(wanted)
        ):
            return
        if getattr(self, "ec2restore_windows_loaded", False):
            return
        self.ec2restore_windows_loaded = True
        for name, image_id in _windows_parameters(self.account_id, self.region_name):
            defaultdict.__getitem__(self, name).append(
                Parameter(
                    account_id=self.account_id,
                    name=name,
                    value=image_id,
                    parameter_type="String",
                    description=None,
                    allowed_pattern=None,
                    keyid=None,
                    last_modified_date=utcnow(),
                    version=1,
                    data_type="aws:ec2:image",
                )
            )

    ParameterDict._check_loading_status = check_loading_status
