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

/// `waitUntil` for async tests: the same polling, but each wait suspends instead of blocking one of the few
/// threads of Swift's cooperative pool, which the async tests beside it need to resume.
public func eventually(timeout: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
