"""Availability Zones as each account sees them.

AWS maps zone names to physical zones per account in its older Regions ("the us-east-1a for your AWS
account might not be the same physical location as the us-east-1a for another AWS account",
https://docs.aws.amazon.com/global-infrastructure/latest/regions/az-ids.html), not every account has
every zone, and a zone has a state: available, information, impaired, unavailable or constrained
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AvailabilityZone.html). Local and
Wavelength Zones are listed only once the account opted in, unless AllAvailabilityZones is given
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeAvailabilityZones.html).
Code must therefore ask DescribeAvailabilityZones instead of assuming `<region>a`.

`EC2RESTORE_EMULATOR_ACCOUNT_ZONES` (JSON) gives accounts their own zones per Region:
`{"<account id>": {"<region>": [{"ZoneName": "eu-west-1b", "ZoneId": "euw1-az3", "State": "impaired"},
...]}}` (`State` defaults to available, `ZoneType` to availability-zone, `OptInStatus` to
opt-in-not-required for an Availability Zone and not-opted-in for others). Every other account and
Region keeps moto's zones. For an account with its own zones:
- DescribeAvailabilityZones lists them (filters as moto's: zone-name, zone-id, zone-type, state);
- the default VPC has a default subnet in each of its Availability Zones (names moto knows for the
  Region: a subnet, default or not, can only be made in those);
- CreateVolume, CreateSubnet and RunInstances `Placement.AvailabilityZone` naming a zone the account
  does not have are refused, HTTP 400 InvalidParameterValue "Invalid availability zone: [<zone>]"
  (CreateSubnet keeps moto's message, which lists the account's zones).
For every account, RunInstances without a subnet, placement or network interface uses the default
subnet of an `available` zone ("If you don't specify a subnet ID, we choose a default subnet from your
default VPC for you", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html);
moto puts such an instance in `<region>a` (moto's default zones: the same answer).
"""

from __future__ import annotations

import json
import os
from typing import Any

from moto.ec2.exceptions import DefaultVpcAlreadyExists, EC2ClientError, InvalidAvailabilityZoneError

# (account, region) -> that account's zones there (moto Zone objects), read once.
_account_zones: dict[tuple[str, str], list[Any]] | None = None


def _configured() -> dict[tuple[str, str], list[Any]]:
    global _account_zones
    if _account_zones is None:
        from moto.ec2.models.availability_zones_and_regions import Zone

        raw = json.loads(os.environ.get("EC2RESTORE_EMULATOR_ACCOUNT_ZONES") or "{}")
        _account_zones = {}
        for account, regions in raw.items():
            for region, zones in regions.items():
                made = []
                for entry in zones:
                    zone = Zone(
                        name=entry["ZoneName"],
                        region_name=region,
                        zone_id=entry.get("ZoneId", entry["ZoneName"]),
                        zone_type=entry.get("ZoneType", "availability-zone"),
                    )
                    zone.state = entry.get("State", "available")
                    default_opt_in = "opt-in-not-required" if zone.zone_type == "availability-zone" else "not-opted-in"
                    zone.opt_in_status = entry.get("OptInStatus", default_opt_in)
                    made.append(zone)
                _account_zones[(str(account), region)] = made
    return _account_zones


def zones_of(backend: Any) -> list[Any] | None:
    """The zones `backend`'s account has in its Region when configured, else None (moto's)."""
    return _configured().get((backend.account_id, backend.region_name))


def invalid_zone(zone: str) -> EC2ClientError:
    return EC2ClientError("InvalidParameterValue", f"Invalid availability zone: [{zone}]")


def install() -> None:
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.models.subnets import SubnetBackend
    from moto.ec2.models.vpcs import VPCBackend
    from moto.ec2.responses.availability_zones_and_regions import AvailabilityZonesAndRegions
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore
    from moto.utilities.utils import filter_resources

    original_describe = RegionsAndZonesBackend.describe_availability_zones

    def describe_availability_zones(
        self: Any,
        filters: Any = None,
        zone_names: list[str] | None = None,
        zone_ids: list[str] | None = None,
        all_zones: bool = True,
    ) -> list[Any]:
        own = zones_of(self)
        if own is None:
            return original_describe(self, filters, zone_names=zone_names, zone_ids=zone_ids)
        result = [z for z in own if all_zones or z.opt_in_status != "not-opted-in"]
        if filters:
            pairs = (("zone-id", "zone_id"), ("zone-type", "zone_type"), ("zone-name", "name"), ("state", "state"))
            result = filter_resources(result, filters, pairs)
        result = [z for z in result if not zone_ids or z.zone_id in zone_ids]
        return [z for z in result if not zone_names or z.name in zone_names]

    RegionsAndZonesBackend.describe_availability_zones = describe_availability_zones

    def describe_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        self.error_on_dryrun()
        zones = self.ec2_backend.describe_availability_zones(
            self._filters_from_querystring(),
            zone_names=self._get_param("ZoneNames", []),
            zone_ids=self._get_param("ZoneIds", []),
            all_zones=bool(self._get_bool_param("AllAvailabilityZones", False)),
        )
        return ActionResult({"AvailabilityZones": zones})

    AvailabilityZonesAndRegions.describe_availability_zones = describe_response

    def has_zone(backend: Any, name: str) -> bool:
        own = zones_of(backend)
        return own is None or any(z.name == name for z in own)

    original_create_volume = ElasticBlockStore.create_volume

    def create_volume(self: Any) -> Any:
        # The API call only: moto makes volumes of its catalogue images in zones of its own.
        zone = self._get_param("AvailabilityZone")
        if zone and not has_zone(self.ec2_backend, zone):
            raise invalid_zone(zone)
        return original_create_volume(self)

    ElasticBlockStore.create_volume = create_volume

    original_create_subnet = SubnetBackend.create_subnet

    def create_subnet(self: Any, vpc_id: str, cidr_block: str, *args: Any, **kwargs: Any) -> Any:
        own = zones_of(self)
        # (ipv6_cidr_block, availability_zone, ...) by position from the API, by name from the default VPC.
        zone = kwargs["availability_zone"] if "availability_zone" in kwargs else (args[1] if len(args) > 1 else None)
        if own is None or not zone:
            return original_create_subnet(self, vpc_id, cidr_block, *args, **kwargs)
        found = next((z for z in own if z.name == zone), None)
        if found is None:
            raise InvalidAvailabilityZoneError(zone, ", ".join(z.name for z in own))
        subnet = original_create_subnet(self, vpc_id, cidr_block, *args, **kwargs)
        subnet._availability_zone = found  # the account's zone id, not moto's
        return subnet

    SubnetBackend.create_subnet = create_subnet

    original_default_vpc = VPCBackend.create_default_vpc

    def create_default_vpc(self: Any) -> Any:
        own = zones_of(self)
        if own is None:
            return original_default_vpc(self)
        # A default VPC has "a default subnet in each Availability Zone"
        # (https://docs.aws.amazon.com/vpc/latest/userguide/default-vpc.html).
        if self.describe_vpcs(filters={"is-default": ["true"]}):
            raise DefaultVpcAlreadyExists
        vpc = self.create_vpc(cidr_block="172.31.0.0/16", is_default=True)
        for zone in own:
            if zone.zone_type == "availability-zone":
                self.create_default_subnet(zone.name)
        return vpc

    VPCBackend.create_default_vpc = create_default_vpc

    original_run = InstanceBackend.run_instances

    def run_instances(self: Any, image_id: str, count: int, user_data: Any, groups: list[str], **kwargs: Any) -> Any:
        placement = kwargs.get("placement")
        if placement and not has_zone(self, placement):
            raise invalid_zone(placement)
        if not kwargs.get("subnet_id") and not placement and not kwargs.get("nics"):
            defaults = self.get_default_subnets()
            available = sorted(z.name for z in self.describe_availability_zones() if z.state == "available")
            chosen = next((defaults[name] for name in available if name in defaults), None)
            if chosen is not None:
                kwargs["subnet_id"] = chosen.id
        return original_run(self, image_id, count, user_data, groups, **kwargs)

    InstanceBackend.run_instances = run_instances
