import Foundation
import ProberCore

/// The systemd notify protocol, spoken directly: one datagram per message to the `AF_UNIX` socket named by
/// `NOTIFY_SOCKET` (a path, or an abstract name starting with `@`). Does nothing when that variable is unset.
///
/// Owns one datagram socket, closed in `deinit`. Sending is a single `sendto` on an immutable descriptor,
/// safe from any thread, so the type is `Sendable`. See sd_notify(3).
public final class SystemdNotifier: Sendable {
    /// The socket messages go to, as given in `NOTIFY_SOCKET`; nil when not run by systemd.
    public let socketName: String?
    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, nil when the watchdog is off (or
    /// `WATCHDOG_PID` names another process).
    public let watchdogInterval: Duration?
    private let fd: Int32
    private let address: [UInt8]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        var interval: Duration?
        if let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0,
           environment["WATCHDOG_PID"].map({ Int32($0) == getpid() }) ?? true {
            interval = .microseconds(usec / 2)
        }
        guard let name = environment["NOTIFY_SOCKET"], name.count > 1,
              name.hasPrefix("/") || name.hasPrefix("@"),
              let address = Self.socketAddress(name) else {
            socketName = nil
            watchdogInterval = nil
            fd = -1
            address = []
            return
        }
        socketName = name
        watchdogInterval = interval
        self.address = address
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// True when messages go somewhere.
    public var isEnabled: Bool { fd >= 0 }

    /// Sends `state` (newline-separated `KEY=value` assignments). Returns false when disabled or on error.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard fd >= 0 else { return false }
        var bytes = Array(state.utf8)
        let sent = address.withUnsafeBytes { addr in
            bytes.withUnsafeMutableBytes { buf in
                sendto(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL),
                       addr.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(addr.count))
            }
        }
        return sent == bytes.count
    }

    /// `READY=1`, with an optional `STATUS=`.
    @discardableResult
    public func ready(status: String? = nil) -> Bool {
        notify(["READY=1", status.map { "STATUS=\(Self.oneLine($0))" }].compactMap { $0 }.joined(separator: "\n"))
    }

    /// `STATUS=`: one line shown by `systemctl status`.
    @discardableResult
    public func status(_ text: String) -> Bool { notify("STATUS=\(Self.oneLine(text))") }

    /// `STOPPING=1`.
    @discardableResult
    public func stopping() -> Bool { notify("STOPPING=1") }

    /// `RELOADING=1` with the `MONOTONIC_USEC=` that `Type=notify-reload` requires; send `ready()` when done.
    @discardableResult
    public func reloading() -> Bool {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return notify("RELOADING=1\nMONOTONIC_USEC=\(Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000)")
    }

    /// `WATCHDOG=1`: call it from the loop whose liveness it vouches for.
    @discardableResult
    public func petWatchdog() -> Bool { notify("WATCHDOG=1") }

    private static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\n", with: " ")
    }

    /// A `sockaddr_un` for `name` as bytes; `@` becomes the leading NUL of an abstract name.
    static func socketAddress(_ name: String) -> [UInt8]? {
        var path = Array(name.utf8)
        let abstract = path.first == UInt8(ascii: "@")
        if abstract { path[0] = 0 } else { path.append(0) }
        var addr = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard path.count <= capacity else { return nil }
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let length = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + path.count
        return withUnsafeBytes(of: &addr) { Array($0.prefix(length)) }
    }
}
