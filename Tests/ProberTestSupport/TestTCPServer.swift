import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP server on loopback, port 0, for TCP probe tests.
///
/// `faults` cuts chosen clients off at once (a close or a reset; a status means close here). The kernel completes
/// the handshake before the server sees the client, so a probe that only connects passes anyway: a fault shows
/// in probes with `expect:` (or `send:` to a reset).
public final class TestTCPServer: Sendable {
    public enum Behavior: Sendable {
        /// Echo every byte back.
        case echo
        /// Send `banner` on accept, then echo.
        case banner(String)
        /// Accept and read, never write.
        case silent
        /// Write 'x' as fast as the client takes it, until it closes (a stream that never ends).
        case endless
    }

    public let host: String
    public var port: Int { acceptor.port }
    private let acceptor: Acceptor

    public init(host: String = "127.0.0.1", _ behavior: Behavior = .echo, faults: ClientFaults? = nil) throws {
        self.host = host
        acceptor = try Acceptor(host: host) { fd, client, acceptor in
            if let faults, faults.fault(for: client) != nil {
                _ = faults.cutOff(fd, client: client, acceptor: acceptor) // resets; a close or a status closes on return
                return
            }
            if case .banner(let text) = behavior, !Sockets.writeAll(fd, Array(text.utf8)) { return }
            if case .endless = behavior {
                var size: Int32 = 4 << 20
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
                let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
                while Sockets.writeAll(fd, chunk) {}
                return
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                if case .silent = behavior { continue }
                if !Sockets.writeAll(fd, Array(buffer[0..<n])) { return }
            }
        }
    }

    deinit { acceptor.stop() }

    /// The address of every client accepted so far, in order.
    public var clients: [String] { acceptor.clients }

    /// Waits until at least `count` clients were accepted; false after `timeout`.
    public func waitForClients(_ count: Int, timeout: Duration = .seconds(10)) -> Bool {
        acceptor.waitForClients(count, seconds: TestHTTPServer.seconds(timeout))
    }

    public func stop() { acceptor.stop() }
}

/// A port on 127.0.0.1 with nothing listening (bound then closed), for "connection refused".
public func closedLoopbackPort() throws -> Int {
    let (fd, port) = try Sockets.listen(host: "127.0.0.1")
    close(fd)
    return port
}

/// Whether ::1 can be bound here (tests on IPv6 skip when it cannot).
public var ipv6LoopbackAvailable: Bool { Sockets.ipv6LoopbackAvailable }
