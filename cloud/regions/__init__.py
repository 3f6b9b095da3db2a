"""Regions (省/市/县/乡): the division codes and the cascading picker's data."""

from cloud.regions.views import bp

__all__ = ["bp"]
