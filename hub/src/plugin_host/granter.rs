//! Which hosts a source may call, and which addresses anyone may connect to.
//!
//! Two checks, both deny by default:
//! 1. before each request (and each redirect hop) the URL's scheme, host and
//!    port must match an entry of the source's `allowed_hosts`;
//! 2. after DNS, in the client's resolver, a name may only resolve to public
//!    addresses (`localhost` only to loopback). An IP literal is never
//!    resolved, and it passes check 1 only if an entry names it literally,
//!    which is exactly the "named explicitly" exception. Checking after DNS
//!    is what stops a granted name that points at 127.0.0.1 or at the cloud
//!    metadata service (Spin's CVE-2024-32980).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// One entry of `allowed_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    pattern: Pattern,
    /// `None`: the scheme's default port only.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A DNS name, lowercase, no trailing dot.
    Name(String),
    /// `*.suffix`: any name strictly below `suffix`.
    Subdomains(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Default)]
pub struct Granter {
    entries: Vec<AllowedHost>,
}

impl Granter {
    /// Parses `allowed_hosts`; a malformed entry is a configuration error.
    pub fn new(entries: &[String]) -> Result<Self, String> {
        let entries = entries
            .iter()
            .map(|e| parse_entry(e).map_err(|reason| format!("allowed host `{e}`: {reason}")))
            .collect::<Result<_, _>>()?;
        Ok(Granter { entries })
    }

    /// Whether the source may send a request to `url`; the error says why
    /// not, for the plugin author.
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "scheme `{scheme}` is not allowed (http, https only)"
            ));
        }
        let Some(host) = url.host() else {
            return Err("the URL has no host".into());
        };
        let Some(port) = url.port_or_known_default() else {
            return Err("the URL has no port".into());
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        let shown = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let mut host_matched = false;
        for entry in &self.entries {
            if !entry.pattern.matches(&host) {
                continue;
            }
            host_matched = true;
            if entry.port.unwrap_or(default_port) == port {
                return Ok(());
            }
        }
        if host_matched {
            Err(format!(
                "port {port} of `{host}` is not granted to this source (add `{shown}` to its allowed hosts)"
            ))
        } else {
            Err(format!("host `{shown}` is not granted to this source"))
        }
    }
}

impl Pattern {
    fn matches(&self, host: &Host<&str>) -> bool {
        match (self, host) {
            (Pattern::Name(name), Host::Domain(d)) => normalise_name(d) == *name,
            (Pattern::Subdomains(suffix), Host::Domain(d)) => normalise_name(d)
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (Pattern::Ip(ip), Host::Ipv4(v4)) => canonical(*ip) == canonical(IpAddr::V4(*v4)),
            (Pattern::Ip(ip), Host::Ipv6(v6)) => canonical(*ip) == canonical(IpAddr::V6(*v6)),
            _ => false,
        }
    }
}

fn normalise_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn parse_entry(entry: &str) -> Result<AllowedHost, String> {
    let entry = entry.trim();
    if entry.contains("://") || entry.contains('/') {
        return Err("give a host with an optional port, without scheme or path".into());
    }
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address in brackets lacks its `]`")?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or("expected `:port` after `]`")?
                    .to_string(),
            ),
        };
        (ip.to_string(), port)
    } else if entry.matches(':').count() > 1 {
        // A bare IPv6 address, without brackets, hence without a port.
        (entry.to_string(), None)
    } else {
        match entry.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (entry.to_string(), None),
        }
    };
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| format!("`{p}` is not a port")))
        .transpose()?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(AllowedHost {
            pattern: Pattern::Ip(ip),
            port,
        });
    }
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(suffix) => (true, suffix),
        None => (false, host.as_str()),
    };
    let name = normalise_name(name);
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !valid {
        return Err("not a host name, `*.domain` or IP address".into());
    }
    if wildcard && !name.contains('.') {
        return Err("a wildcard must stand below a domain (`*.example.org`)".into());
    }
    Ok(AllowedHost {
        pattern: if wildcard {
            Pattern::Subdomains(name)
        } else {
            Pattern::Name(name)
        },
        port,
    })
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Whether a name that resolved to `ip` may be connected to. `localhost`
/// may reach loopback (the allowlist decides whether it may be called at
/// all); every other name only public addresses.
pub fn resolved_address_allowed(name: &str, ip: IpAddr) -> bool {
    let ip = canonical(ip);
    if normalise_name(name) == "localhost" {
        return ip.is_loopback();
    }
    is_public(ip)
}

/// Not loopback, private, link-local (the metadata service), CGNAT,
/// unspecified, multicast, broadcast or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || a == 0 // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, incl. 169.254.169.254
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || ip.is_multicast()
        || ip.is_broadcast()
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // Addresses that embed an IPv4 one are judged by it: NAT64, 6to4,
    // IPv4-compatible.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(&ip));
    }
    if segments[0] == 0x2002 {
        let [_, _, a, b, c, d, ..] = ip.octets();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    if segments[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return is_public_v4(embedded_v4(&ip));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0) // deprecated site-local
}

fn embedded_v4(ip: &Ipv6Addr) -> Ipv4Addr {
    let o = ip.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granter(entries: &[&str]) -> Granter {
        Granter::new(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn allowed(g: &Granter, url: &str) -> bool {
        g.check_url(&Url::parse(url).unwrap()).is_ok()
    }

    #[test]
    fn exact_hosts_and_default_ports() {
        let g = granter(&["partner.example.org"]);
        assert!(allowed(&g, "https://partner.example.org/api?x=1"));
        assert!(allowed(&g, "http://PARTNER.example.org./"));
        assert!(allowed(&g, "https://partner.example.org:443/"));
        assert!(!allowed(&g, "https://partner.example.org:8443/"));
        assert!(!allowed(&g, "https://evil.example.org/"));
        assert!(!allowed(&g, "https://partner.example.org.evil.net/"));
        assert!(!allowed(&g, "https://xpartner.example.org/"));
        assert!(!allowed(&g, "ftp://partner.example.org/"));
        assert!(!allowed(&g, "file:///etc/passwd"));
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let g = granter(&["*.example.org"]);
        assert!(allowed(&g, "https://a.example.org/"));
        assert!(allowed(&g, "https://a.b.example.org/"));
        assert!(!allowed(&g, "https://example.org/"));
        assert!(!allowed(&g, "https://badexample.org/"));
        assert!(!allowed(&g, "https://example.org.evil.net/"));
        assert!(Granter::new(&["*.org".into()]).is_err());
        assert!(Granter::new(&["a.*.org".into()]).is_err());
    }

    #[test]
    fn ports_are_exact() {
        let g = granter(&["localhost:3000", "127.0.0.1:8080", "[::1]:80"]);
        assert!(allowed(&g, "http://localhost:3000/"));
        assert!(!allowed(&g, "http://localhost:3001/"));
        assert!(!allowed(&g, "http://localhost/"));
        assert!(allowed(&g, "http://127.0.0.1:8080/x"));
        assert!(!allowed(&g, "http://127.0.0.1:8081/x"));
        assert!(allowed(&g, "http://[::1]/"));
        assert!(allowed(&g, "http://[::1]:80/"));
        assert!(!allowed(&g, "https://[::1]/"));
        let err = g
            .check_url(&Url::parse("http://localhost:3001/").unwrap())
            .unwrap_err();
        assert!(err.contains("localhost:3001"), "{err}");
    }

    #[test]
    fn ip_literals_match_exactly() {
        let g = granter(&["127.0.0.1:8080"]);
        // Other spellings of the same address are the same address...
        assert!(allowed(&g, "http://2130706433:8080/"));
        assert!(allowed(&g, "http://[::ffff:127.0.0.1]:8080/"));
        // ...but a name for it or a neighbour is not.
        assert!(!allowed(&g, "http://localhost:8080/"));
        assert!(!allowed(&g, "http://127.0.0.2:8080/"));
        let g = granter(&["localhost:8080"]);
        assert!(!allowed(&g, "http://127.0.0.1:8080/"));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "https://x.org",
            "x.org/path",
            "x.org:http",
            "[::1",
            "",
            "a..b",
            "*",
        ] {
            assert!(Granter::new(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(Granter::new(&["::1".into(), "fe80::1".into(), "x.org:65535".into()]).is_ok());
    }

    #[test]
    fn nothing_granted_denies_all() {
        let g = Granter::default();
        assert!(!allowed(&g, "https://partner.example.org/"));
        assert!(!allowed(&g, "http://127.0.0.1/"));
    }

    #[test]
    fn classifies_addresses() {
        let public = [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ];
        for ip in public {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        let blocked = [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
        ];
        for ip in blocked {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        assert!(is_public("172.32.0.1".parse().unwrap()));
        assert!(is_public("100.128.0.1".parse().unwrap()));
    }

    #[test]
    fn explicit_loopback_rule_after_dns() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let private: IpAddr = "10.1.2.3".parse().unwrap();
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        // `localhost` named explicitly: loopback only.
        assert!(resolved_address_allowed("localhost", lo));
        assert!(resolved_address_allowed("LOCALHOST.", lo6));
        assert!(!resolved_address_allowed("localhost", private));
        // Any other name pointing at loopback, private or metadata: refused.
        assert!(!resolved_address_allowed("partner.example.org", lo));
        assert!(!resolved_address_allowed("partner.example.org", private));
        assert!(!resolved_address_allowed(
            "partner.example.org",
            "::ffff:169.254.169.254".parse().unwrap()
        ));
        assert!(resolved_address_allowed("partner.example.org", public));
    }

    #[test]
    fn redirects_are_rechecked_with_the_same_policy() {
        let g = granter(&["partner.example.org", "127.0.0.1:8080"]);
        let start = Url::parse("https://partner.example.org/export?token=x").unwrap();
        assert!(g.check_url(&start).is_ok());
        for (location, ok) in [
            ("/page2", true),
            ("https://partner.example.org/other", true),
            ("http://169.254.169.254/latest/meta-data", false),
            ("http://127.0.0.1:8080/", true),
            ("http://127.0.0.1:9090/", false),
            ("https://cdn.example.org/file", false),
            ("file:///etc/passwd", false),
        ] {
            let next = start.join(location).unwrap();
            assert_eq!(g.check_url(&next).is_ok(), ok, "{location}");
        }
    }
}
