"""What moto keeps that the emulator never reads, so that the objects of a forgotten account (test_only.py)
are freed. Emulator overhead only, no AWS behaviour changes:

- every instance of every model, listed by class for moto's dashboard (`BaseModel.instances_tracked`,
  read only by `/moto-api/data.json`, which then answers with no objects);
- `AccountSpecificBackend._generate_regions`, an lru_cache keyed by the account backend itself
  (128 of them, each with every region backend): the regions depend only on the service name;
- `Subnet._base_avail_ip_iterator`, a process-wide cache keyed by subnet: each subnet keeps its own.
"""

from __future__ import annotations

from functools import cache
from typing import Any


def install() -> None:
    from moto.core.base_backend import AccountSpecificBackend
    from moto.core.common_models import BaseModel
    from moto.core.model_instances import reset_model_data
    from moto.ec2.models.subnets import Subnet

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:  # noqa: N807 - replaces BaseModel.__new__
        return object.__new__(cls)

    BaseModel.__new__ = __new__  # type: ignore[method-assign, assignment]
    reset_model_data()

    regions_of = cache(AccountSpecificBackend._generate_regions.__wrapped__)

    def _generate_regions(self: Any, service_name: str) -> list[str]:
        return list(regions_of(None, service_name))

    AccountSpecificBackend._generate_regions = _generate_regions  # type: ignore[method-assign]

    def _base_avail_ip_iterator(self: Any) -> Any:
        # One iterator per subnet for the life of the subnet, as moto's cache gives, kept on the subnet.
        hosts = self.__dict__.get("_ec2restore_hosts")
        if hosts is None:
            hosts = self.__dict__["_ec2restore_hosts"] = self.cidr.hosts()
        return hosts

    Subnet._base_avail_ip_iterator = _base_avail_ip_iterator  # type: ignore[method-assign]
