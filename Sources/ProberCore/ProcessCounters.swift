import Synchronization

/// Counters of the whole process that the executable keeps and `/metrics` shows.
public enum ProcessCounters {
    /// Log lines dropped because standard error was not being read: logging never blocks probing, so the
    /// executable's log writer drops (and counts) what its bounded buffer cannot hold.
    public static let droppedLogLines = Atomic<Int>(0)
}
