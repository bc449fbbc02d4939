/// One opened history: everything the daemon and the command line use of a backend, and where its
/// samples come in. Opened by `StorageBackend.open(database:readOnly:site:)` (ProberBackends), the one place that knows the
/// backends.
public protocol Storage: ProbeRegistry, HistoryReading, LocationReading, StorageMaintaining, IncidentStorage, OutboxStorage,
    ProberDirectory, SilenceStorage {
    /// Where the history lives, as given to `open`, redacted (`RedactedDatabaseURL`: never with a password).
    var database: String { get }

    /// A recorder for the run loop's samples into this storage (see `SampleRecording` for its guarantees).
    /// `warning` receives messages for people about storage trouble (no secrets), on the backend's own
    /// thread. A read-only storage returns a recorder whose writes fail and are counted, never one that
    /// writes.
    func makeSampleRecorder(warning: @escaping @Sendable (String) -> Void) -> any SampleRecording
}
