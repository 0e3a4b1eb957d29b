"""The OMNIPOWER gateway: meters → MQTT + Home Assistant discovery."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("omnipower-gateway")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
