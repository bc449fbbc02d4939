import Foundation
import XCTest
@testable import ProberEngine

final class SignalHandlingTests: XCTestCase {
    func testSighupReachesItsClosureAndDoesNotKillTheProcess() {
        let signals = SignalHandling()
        let received = expectation(description: "SIGHUP delivered")
        signals.onReload { received.fulfill() }
        kill(getpid(), SIGHUP)
        wait(for: [received], timeout: 10)
        signals.cancel()
    }
}
