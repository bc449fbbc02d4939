import Foundation
import ProberTestSupport
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
            XCTAssertTrue(waitUntil { received.current.count > before }, "timed out waiting for signal \(signal) to be delivered")
        }
        XCTAssertEqual(received.current, [SIGHUP, SIGTERM, SIGINT, SIGHUP])
    }
}
