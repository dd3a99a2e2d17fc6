"""Which network addresses a webhook may be delivered to.

A webhook URL an applicant typed into an application is untrusted input: without a check,
notification would POST to the operator's own loopback services, the private network or a
cloud metadata endpoint (server-side request forgery). The check runs on every address the
host name resolves to, at connect time, and the connection then goes to the address that was
checked, so a name that resolves differently a second later (DNS rebinding) gains nothing.

Targets an operator registered (the subscriptions file) are trusted as registered. An
operator allow-list (networks in CIDR form) admits internal receivers on purpose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud metadata services, named explicitly (they are link-local or private anyway).
METADATA_ADDRESSES = frozenset({
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
})


class AddressRefused(ValueError):
    """A webhook target resolved to an address deliveries may not go to."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Refuses loopback, private, link-local, multicast, reserved and metadata addresses
    unless an allow-listed network contains them."""

    allow: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_strings(cls, networks: Iterable[str]) -> AddressPolicy:
        """Parse an allow-list such as ``["127.0.0.1/32", "10.20.0.0/16"]``; a bad entry raises."""
        return cls(tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip()))

    def refusal(self, address: str | IPAddress) -> str | None:
        """Why `address` is refused, or None if a delivery may connect to it."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allow):
            return None
        if ip in METADATA_ADDRESSES:
            return "metadata"
        for reason, flagged in (
            ("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
            ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
            ("private", ip.is_private), ("reserved", ip.is_reserved),
            ("not-global", not ip.is_global),
        ):
            if flagged:
                return reason
        return None

    def check_all(self, addresses: Iterable[str]) -> list[str]:
        """The addresses, all of which must be allowed; raises AddressRefused naming the first that is not.

        Every resolved address must pass, not just one: a name that resolves to a public and a
        private address could otherwise be steered to the private one.
        """
        checked = list(dict.fromkeys(addresses))
        if not checked:
            raise AddressRefused("the host name did not resolve")
        for address in checked:
            reason = self.refusal(address)
            if reason is not None:
                raise AddressRefused(f"target address refused ({reason})")
        return checked
