import Foundation

/// Which clients a test server fails, by their address: how tests on one machine make a target fail from some
/// locations only. Linux routes all of 127.0.0.0/8 to loopback, so probers bound to 127.0.0.2, 127.0.0.3, …
/// (`--source-address`) reach a server on 127.0.0.1 as different clients, with no setup.
///
///     let faults = ClientFaults(failing: ["127.0.0.2"])            // 503 for 127.0.0.2, the handler for the rest
///     let server = try TestHTTPServer(faults: faults) { _ in .respond(status: 200) }
///     faults.fail(["127.0.0.2", "127.0.0.3"], with: .reset)        // later: two locations see it fail
///
/// Changes apply to connections accepted after them.
public final class ClientFaults: @unchecked Sendable { // Safe: `faults` is guarded by `lock`.
    /// What a failed client gets.
    public enum Fault: Sendable, Equatable {
        /// HTTP: the request is read and answered with this status (a TCP server closes the connection instead).
        case status(Int)
        /// The connection is closed at once, nothing read or written (HTTP: an empty reply).
        case close
        /// The connection is reset at once (RST), nothing read or written: the client sees it as a failed
        /// connect, send or receive, depending on how far it got when the RST arrived.
        case reset
    }

    private let lock = NSLock()
    private var faults: [String: Fault]

    /// `faults`: client address -> what it gets; every other client is served normally.
    public init(_ faults: [String: Fault] = [:]) {
        self.faults = faults
    }

    /// Every client in `peers` gets `fault`.
    public convenience init(failing peers: Set<String>, with fault: Fault = .status(503)) {
        self.init(Dictionary(uniqueKeysWithValues: peers.map { ($0, fault) }))
    }

    /// From now on exactly the clients in `peers` get `fault` (an empty set: nobody fails).
    public func fail(_ peers: Set<String>, with fault: Fault = .status(503)) {
        set(Dictionary(uniqueKeysWithValues: peers.map { ($0, fault) }))
    }

    /// From now on exactly these clients fail, each its own way.
    public func set(_ faults: [String: Fault]) {
        lock.lock()
        self.faults = faults
        lock.unlock()
    }

    /// What `client` gets; nil: served normally.
    public func fault(for client: String) -> Fault? {
        lock.lock()
        defer { lock.unlock() }
        return faults[client]
    }

    /// Applies a connection-level fault (close, reset) to `fd`; true when it did, and the connection is over.
    func cutOff(_ fd: Int32, client: String, acceptor: Acceptor) -> Bool {
        switch fault(for: client) {
        case .close?: return true // the acceptor closes it when the handler returns
        case .reset?:
            acceptor.finished(fd, reset: true)
            return true
        case .status?, nil: return false
        }
    }
}
