import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A raw TCP client on 127.0.0.1, so tests can misbehave the way real clients do.
public final class RawClient: Sendable {
    public let fd: Int32

    /// Connects to 127.0.0.1:`port`, from `source` (a local IPv4 address such as 127.0.0.3) when given.
    public init(port: UInt16, from source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                let code = errno
                close(fd)
                throw NSError(domain: "bind", code: Int(code))
            }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw NSError(domain: "connect", code: Int(code))
        }
    }

    deinit { close(fd) }

    public func send(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Everything until the server closes (or `timeout` seconds pass: then nil).
    public func readToEnd(timeout: Double = 15) -> String? {
        var data = [UInt8]()
        let end = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let left = end.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(left * 1_000)) == 1 else { return nil }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return String(decoding: data, as: UTF8.self) }
            data += buffer[0..<n]
        }
    }

    /// Connects (from `source` when given), sends `request` and reads until the server closes.
    public static func exchange(port: UInt16, from source: String? = nil, _ request: String) throws -> String? {
        let client = try RawClient(port: port, from: source)
        client.send(request)
        return client.readToEnd()
    }
}
