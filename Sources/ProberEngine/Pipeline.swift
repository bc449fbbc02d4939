import ProberCore
import ProberStorage

/// Where every check's result goes: the history (through its recorder, off the timer path) and the incident
/// evaluator (on its own queue). Both calls return at once, as the scheduler's queue requires.
public struct Pipeline: SampleSink {
    public let writer: any SampleRecording
    public let tracker: IncidentTracker
    /// The latest check of each probe, for `/metrics`.
    public let latest: LatestSamples

    public init(writer: any SampleRecording, tracker: IncidentTracker, latest: LatestSamples = LatestSamples()) {
        self.writer = writer
        self.tracker = tracker
        self.latest = latest
    }

    public func record(_ sample: Sample) {
        writer.append(sample)
        tracker.record(sample)
        latest.record(sample)
    }
}
