import CCurl
import ProberCore
#if canImport(Glibc)
import Glibc
#endif

/// The local address every probe's connection is bound to (`--source-address`): a literal IPv4 or IPv6
/// address, never an interface or host name.
///
/// Hosts with several interfaces use it to probe out of a chosen one; on one machine, binding to 127.0.0.2,
/// 127.0.0.3, … (Linux routes all of 127.0.0.0/8 to loopback) lets tests play several locations.
public struct SourceAddress: Sendable, Equatable, CustomStringConvertible {
    /// The address as given, e.g. `127.0.0.3` or `::1`.
    public let address: String
    public let family: IPFamily

    /// Nil unless `text` is a literal IPv4 or IPv6 address (`inet_pton`); no brackets, no zone, no name.
    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            family = .ipv4
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            family = .ipv6
        } else {
            return nil
        }
        address = text
    }

    /// Why `text` is not a source address, for the command line; nil when it is one.
    public static func problem(_ text: String) -> String? {
        if SourceAddress(text) != nil { return nil }
        if text.hasPrefix("["), text.hasSuffix("]"), SourceAddress(String(text.dropFirst().dropLast())) != nil {
            return "'\(text)' is not a literal IP address: write an IPv6 address without brackets"
        }
        return "'\(text)' is not a literal IPv4 or IPv6 address (for example 192.0.2.10 or 2001:db8::10; names and interfaces are not accepted)"
    }

    public var description: String { address }
}

extension SourceAddress {
    /// Why a connection from this address cannot reach `host`: it is an address of the other family, or the
    /// probe's `ip:` asks for the other family. Nil when it may (a host name is resolved in this family only).
    func unreachable(host: String, ip: IPFamilyPreference) -> String? {
        var host = host
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let wanted: IPFamily? = switch ip {
        case .any: SourceAddress(host)?.family
        case .ipv4: .ipv4
        case .ipv6: .ipv6
        }
        guard let wanted, wanted != family else { return nil }
        let reason = ip == .any ? "\(host) is an \(wanted.name) address" : "the probe asks for \(wanted.name) (ip: \(ip.rawValue))"
        return "source address \(address) (--source-address) is \(family.name) and \(reason): no connection is possible"
    }
}

extension IPFamily {
    var name: String { self == .ipv4 ? "IPv4" : "IPv6" }
}

extension Transfer {
    /// Binds the transfer's connection to `source` before it connects, and resolves the target only in the
    /// source's family unless the probe asked for one (an IPv4 source cannot reach an IPv6 address).
    ///
    /// `host!` makes libcurl treat the value as a local address and never look it up as an interface name
    /// (https://curl.se/libcurl/c/CURLOPT_INTERFACE.html). CONNECT_ONLY transfers (TCP probes) honour it too.
    func bind(to source: SourceAddress, ip: IPFamilyPreference) {
        sourceAddress = source
        easy.set(CURLOPT_INTERFACE, "host!\(source.address)")
        guard ip == .any else { return }
        easy.set(CURLOPT_IPRESOLVE, source.family == .ipv4 ? prober_ipresolve_v4() : prober_ipresolve_v6())
    }
}
