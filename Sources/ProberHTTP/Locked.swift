import Foundation

/// A value behind a lock, for the few fields other threads touch (this module depends on nothing of ours).
/// `@unchecked Sendable`: `value` is only read or written while `lock` is held.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    var current: Value { lock.withLock { value } }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try lock.withLock { try body(&value) }
    }
}
