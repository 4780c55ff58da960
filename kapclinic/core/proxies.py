"""Believe X-Forwarded-* headers only from the reverse proxies the operator listed.

Anyone can send X-Forwarded-For. Werkzeug's ProxyFix believes it from every peer,
so without a check a client names its own address: it escapes the sign-in, link and
booking limits and writes a forged address into the audit trail. Here the headers
count only when the connection itself (REMOTE_ADDR as the server saw it) comes from
an address in FORWARDED_ALLOW_IPS, the list gunicorn reads for the same purpose
(comma-separated addresses or CIDR networks, `*` for any peer); from any other peer
they are removed before the app sees them.
"""

import ipaddress

from werkzeug.middleware.proxy_fix import ProxyFix

FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_FORWARDED",
)


def valid_ip_or_empty(value):
    """The address in canonical form, or "" for anything that is not an IPv4 or IPv6 address."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return ""


def parse_allowed_proxies(raw):
    """FORWARDED_ALLOW_IPS as networks; None means every peer (`*`). A malformed entry is refused at start-up."""
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if "*" in entries:
        return None
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"FORWARDED_ALLOW_IPS holds {entry!r}, which is not an IP address or network") from None
    return tuple(networks)


def is_listed(networks, peer):
    """Whether the connecting address is one of the proxies (networks None: any peer is)."""
    if networks is None:
        return True
    address = valid_ip_or_empty(peer)
    return bool(address) and any(ipaddress.ip_address(address) in network for network in networks)


class TrustedProxies:
    """WSGI middleware: ProxyFix for connections from a listed proxy; the peer's own address for all others."""

    def __init__(self, app, allowed, x_for):
        self.app = app
        self.networks = parse_allowed_proxies(allowed)
        # No x_host: the proxy passes the browser's Host itself (README), and a proxy that does not
        # strip X-Forwarded-Host (nginx passes unknown headers on) would let a client choose the host
        # the CSRF Referer check compares with.
        self.proxied = ProxyFix(self._with_valid_address, x_for=x_for, x_proto=1)

    def _with_valid_address(self, environ, start_response):
        # A forwarded value that is not an address (a hostname, "unknown", a port) counts as no address.
        environ["REMOTE_ADDR"] = valid_ip_or_empty(environ.get("REMOTE_ADDR"))
        return self.app(environ, start_response)

    def __call__(self, environ, start_response):
        if is_listed(self.networks, environ.get("REMOTE_ADDR")):
            return self.proxied(environ, start_response)
        for header in FORWARDED_HEADERS:
            environ.pop(header, None)
        return self.app(environ, start_response)
