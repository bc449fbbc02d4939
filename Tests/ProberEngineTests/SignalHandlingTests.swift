import Foundation
import XCTest
@testable import ProberEngine

final class SignalHandlingTests: XCTestCase {
    func testSignalsReachTheirClosuresAndDoNotKillTheProcess() {
        let signals = SignalHandling()
        defer { signals.cancel() }
        let received = Locked<[Int32]>([])
        signals.onReload { received.withLock { $0.append(SIGHUP) } }
        signals.onTerminate { signal in received.withLock { $0.append(signal) } }
        for signal in [SIGHUP, SIGTERM, SIGINT, SIGHUP] {
            let before = received.current.count
            kill(getpid(), signal)
            waitUntil("signal \(signal) to be delivered") { received.current.count > before }
        }
        XCTAssertEqual(received.current, [SIGHUP, SIGTERM, SIGINT, SIGHUP])
    }
}
