"""Which network a client address counts as, for rate limits and for spotting bursts of bookings.

Pure module: the standard library only, so the unbound extensions and the pure
scheduling rules can both use it.
"""

import ipaddress


def network_of(address):
    """The network a client counts as: its IPv4 address, or the /64 of its IPv6 address; None if not an address.

    One home or phone is given a whole /64 and picks new addresses inside it at will, so
    counting IPv6 per address would hand every client billions of budgets. An IPv4-mapped
    IPv6 address (::ffff:192.0.2.1) is its IPv4 address.
    """
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))  # int(): a zone id (%eth0) drops out
    return str(ip)
