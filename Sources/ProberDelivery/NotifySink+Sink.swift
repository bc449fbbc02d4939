import ProberCore

extension NotifySink {
    /// The sink delivering this `notify:` entry in its format. `location` (this prober's `--location`) is the
    /// second half of a PagerDuty event's `source`.
    public func sink(location: String) -> any Sink {
        switch format {
        case .webhook: WebhookSink(self)
        case .slack: SlackSink(self)
        case .pagerduty: PagerDutySink(self, location: location)
        }
    }
}
