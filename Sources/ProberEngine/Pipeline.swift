import ProberCore
import ProberStorage

/// Where every check's result goes: the history (through its recorder, off the timer path) and the incident
/// evaluator (on its own queue). Both calls return at once, as the scheduler's queue requires. A batch of
/// checks goes on in one step to each: one lock of the recorder, one hop to the evaluator's queue.
public struct Pipeline: SampleSink {
    public let writer: any SampleRecording
    public let tracker: IncidentTracker
    /// The latest check of each probe, for `/metrics`.
    public let latest: LatestSamples
    /// The connectivity canaries' state: their checks end there; a probe's check taken while connectivity was
    /// lost is stored as usual and evaluated with `Quiet.connectivityLost`.
    public let connectivity: ConnectivityMonitor?

    public init(writer: any SampleRecording, tracker: IncidentTracker, latest: LatestSamples = LatestSamples(),
                connectivity: ConnectivityMonitor? = nil) {
        self.writer = writer
        self.tracker = tracker
        self.latest = latest
        self.connectivity = connectivity
    }

    public func record(_ sample: Sample) {
        record(contentsOf: [sample])
    }

    public func record(contentsOf samples: [Sample]) {
        var checks: [Sample] = []
        var evaluated: [IncidentTracker.Check] = []
        checks.reserveCapacity(samples.count)
        evaluated.reserveCapacity(samples.count)
        for sample in samples {
            if Connectivity.isCanary(sample.probe) {
                _ = connectivity?.record(sample)
                continue
            }
            checks.append(sample)
            let quiet = connectivity?.record(sample) ?? (sample.delayedByProber ? .overloaded : nil)
            evaluated.append(IncidentTracker.Check(sample: sample, quiet: quiet))
        }
        guard !checks.isEmpty else { return }
        writer.append(contentsOf: checks)
        tracker.record(contentsOf: evaluated)
        latest.record(contentsOf: checks)
    }
}
