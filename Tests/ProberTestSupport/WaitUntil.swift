import Foundation

/// Polls `condition` every 10 ms until it holds; false when it still does not after `timeout`.
///
/// For state another thread or process changes (a daemon's database, a server's request log). The timeout
/// is a generous bound, not a speed: callers assert the result (`#expect(waitUntil { … })`).
@discardableResult
public func waitUntil(timeout: Duration = .seconds(30), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}
