"""The version of the Lanthanide libraries (the lanthanide-contracts distribution's): stamped on
every event's producer, on the metrics (lanthanide_build_info) and on the traces. `lanthanide` is
a namespace package over the shared/ members, so it has no __version__ of its own."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lanthanide-contracts")
except PackageNotFoundError:  # a source tree put on sys.path without being installed
    __version__ = "0.0.0+source"
