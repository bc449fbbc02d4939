import Foundation
import Logging
import XCTest
import ProberCore
@testable import ProberEngine

/// A datagram socket standing in for systemd's notify socket.
final class NotifySocket {
    let fd: Int32
    let name: String
    private let path: String?

    /// A socket at a temporary path, or (with `abstract`) an abstract name given as `@name`.
    init(abstract: Bool = false) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let id = UUID().uuidString.prefix(8)
        if abstract {
            name = "@prober-test-\(id)"
            path = nil
        } else {
            let p = FileManager.default.temporaryDirectory.appendingPathComponent("prober-notify-\(id).sock").path
            name = p
            path = p
        }
        let address = try XCTUnwrap(SystemdNotifier.socketAddress(name))
        let rc = address.withUnsafeBytes { Glibc.bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
        guard rc == 0 else { throw NSError(domain: "bind", code: Int(errno)) }
    }

    deinit {
        close(fd)
        if let path { unlink(path) }
    }

    /// The next datagram, or nil after `timeout` seconds.
    func receive(timeout: Double = 10) -> String? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1_000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n < 0 ? nil : String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// Messages until one satisfies `match` (or nil after `timeout` with nothing matching).
    func receive(until match: (String) -> Bool, timeout: Double = 10) -> String? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            guard let message = receive(timeout: end.timeIntervalSinceNow) else { return nil }
            if match(message) { return message }
        }
        return nil
    }
}

final class SystemdNotifierTests: XCTestCase {
    func testDisabledWithoutNotifySocket() {
        let notifier = SystemdNotifier(environment: [:])
        XCTAssertFalse(notifier.isEnabled)
        XCTAssertFalse(notifier.ready())
        XCTAssertNil(notifier.watchdogInterval)
    }

    func testMessagesReachAPathSocketAndAnAbstractOne() throws {
        for abstract in [false, true] {
            let socket = try NotifySocket(abstract: abstract)
            let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.name])
            XCTAssertTrue(notifier.isEnabled)
            XCTAssertTrue(notifier.ready(status: "watching 3 probes"))
            XCTAssertEqual(socket.receive(), "READY=1\nSTATUS=watching 3 probes")
            notifier.stopping()
            XCTAssertEqual(socket.receive(), "STOPPING=1")
            notifier.reloading()
            let reloading = try XCTUnwrap(socket.receive())
            XCTAssertTrue(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="), reloading)
        }
    }

    func testWatchdogIntervalIsHalfOfWatchdogUsecAndHonoursWatchdogPid() {
        XCTAssertEqual(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "4000000"]).watchdogInterval, .seconds(2))
        XCTAssertEqual(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "4000000",
                                                     "WATCHDOG_PID": "\(getpid())"]).watchdogInterval, .seconds(2))
        XCTAssertNil(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "4000000",
                                                   "WATCHDOG_PID": "1"]).watchdogInterval)
    }

    func testWatchdogSendsReadyThenPetsFromTheSchedulersQueueAndStopsWhenItHangs() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.name, "WATCHDOG_USEC": "100000"])
        let (logger, _) = CapturingLogHandler.logger()
        let watchdog = ProbeRunLoop(probes: [httpProbe("p")], runner: ScriptedRunner(), sink: CollectingSink(), logger: logger,
                                configuration: .init(notifier: notifier))
        watchdog.start()
        XCTAssertEqual(socket.receive(), "READY=1\nSTATUS=watching 1 probe")
        XCTAssertEqual(socket.receive(), "WATCHDOG=1")
        XCTAssertEqual(socket.receive(), "WATCHDOG=1")

        // Hang the scheduler's queue: petting stops (systemd would restart us), and resumes once it runs again.
        let release = DispatchSemaphore(value: 0)
        let hung = DispatchSemaphore(value: 0)
        watchdog.scheduler.queue.async {
            hung.signal()
            release.wait()
        }
        hung.wait()
        while let message = socket.receive(timeout: 0.06), message == "WATCHDOG=1" {} // one may already be queued
        XCTAssertNil(socket.receive(until: { $0 == "WATCHDOG=1" }, timeout: 0.5), "no petting while the scheduler hangs")
        release.signal()
        XCTAssertNotNil(socket.receive(until: { $0 == "WATCHDOG=1" }))

        watchdog.shutdown()
        XCTAssertNotNil(socket.receive(until: { $0 == "STOPPING=1" }))
    }
}
