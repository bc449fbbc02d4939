import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small blocking-socket helpers for the loopback test servers (threads are fine in tests).
enum Sockets {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
    }

    /// A listening socket on `host` (an IPv4 or IPv6 literal), `port` (0: any free one), with a large backlog. Returns (fd, port).
    static func listen(host: String, port requested: Int = 0) throws -> (Int32, Int) {
        let v6 = host.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var rc: Int32
        if v6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = UInt16(requested).bigEndian
            guard inet_pton(AF_INET6, host, &addr.sin6_addr) == 1 else { close(fd); throw Failure("bad address \(host)") }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = UInt16(requested).bigEndian
            guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { close(fd); throw Failure("bad address \(host)") }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard rc == 0 else { let e = Failure("bind \(host)"); close(fd); throw e }
        guard Glibc.listen(fd, 4096) == 0 else { let e = Failure("listen"); close(fd); throw e }
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port: UInt16 = withUnsafePointer(to: &storage) { p in
            v6 ? p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }
               : p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }
        }
        return (fd, Int(UInt16(bigEndian: port)))
    }

    /// Whether this machine can bind ::1 (IPv6 loopback may be disabled in containers).
    static var ipv6LoopbackAvailable: Bool {
        guard let (fd, _) = try? listen(host: "::1") else { return false }
        close(fd)
        return true
    }

    /// Writes everything; false when the peer is gone. MSG_NOSIGNAL: a closed peer must not SIGPIPE the tests.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { writeAll(fd, $0) }
    }

    /// The IP address in `storage` as text (`127.0.0.3`, `::1`); "" for another family.
    static func address(_ storage: sockaddr_storage) -> String {
        var storage = storage
        let family = Int32(storage.ss_family)
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok: Bool = withUnsafePointer(to: &storage) { p in
            switch family {
            case AF_INET:
                p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a in
                    var addr = a.pointee.sin_addr
                    return inet_ntop(AF_INET, &addr, &text, socklen_t(text.count)) != nil
                }
            case AF_INET6:
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a in
                    var addr = a.pointee.sin6_addr
                    return inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count)) != nil
                }
            default: false
            }
        }
        return ok ? String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    }

    /// Closes with an RST instead of a FIN (SO_LINGER with a zero timeout).
    static func reset(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }
}

/// Accepts connections on a thread and runs `handle` for each on its own thread, with the client's address;
/// `stop()` closes the listener and every open connection (which unblocks handlers stuck in reads or waits).
final class Acceptor: @unchecked Sendable { // Safe: mutable state is guarded by `lock`.
    let listenFD: Int32
    let port: Int
    private let lock = NSCondition()
    private var connections: Set<Int32> = []
    private var stopped = false
    /// The address of every client accepted so far, in order.
    private var accepted: [String] = []

    init(host: String, port: Int = 0, handle: @escaping @Sendable (Int32, String, Acceptor) -> Void) throws {
        (listenFD, self.port) = try Sockets.listen(host: host, port: port)
        // The accept thread alone closes the listening socket, once it is done with it: closed from `stop()`,
        // its number could be reused by another test's socket before this thread's next `accept`.
        let thread = Thread { [self] in
            while true {
                var peer = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let fd = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listenFD, $0, &length) } }
                if fd < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    close(listenFD)
                    return
                }
                let client = Sockets.address(peer)
                lock.lock()
                if stopped { lock.unlock(); close(fd); close(listenFD); return }
                connections.insert(fd)
                accepted.append(client)
                lock.broadcast()
                lock.unlock()
                Thread.detachNewThread { [self] in
                    handle(fd, client, self)
                    finished(fd)
                }
            }
        }
        thread.start()
    }

    /// Closes `fd` unless `stop()` already did.
    func finished(_ fd: Int32, reset: Bool = false) {
        lock.lock()
        let mine = connections.remove(fd) != nil
        lock.unlock()
        if mine { reset ? Sockets.reset(fd) : { _ = close(fd) }() }
    }

    /// Waits up to `seconds`; true when the server is stopping (handlers should give up).
    func sleep(_ seconds: Double) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let until = Date(timeIntervalSinceNow: seconds)
        while !stopped { if !lock.wait(until: until) { break } }
        return stopped
    }

    /// The address of every client accepted so far, in order.
    var clients: [String] {
        lock.lock()
        defer { lock.unlock() }
        return accepted
    }

    /// Waits until `count` clients were accepted; false after `seconds`.
    func waitForClients(_ count: Int, seconds: Double) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let until = Date(timeIntervalSinceNow: seconds)
        while accepted.count < count { if !lock.wait(until: until) { return accepted.count >= count } }
        return true
    }

    var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    /// Stops listening (connects are refused from now on) and shuts every open connection down.
    ///
    /// The shutdowns happen under `lock`: `finished` closes a connection only after taking it, so none of
    /// these numbers can have been closed and reused by another test's socket (shutting down someone
    /// else's listener would make its connects fail with "connection refused").
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return }
        stopped = true
        shutdown(listenFD, Int32(SHUT_RDWR)) // wakes the accept thread, which closes it
        for fd in connections { shutdown(fd, Int32(SHUT_RDWR)) }
        lock.broadcast()
    }
}
