import ProberCore

/// A backend that reads the probe lines and the per-location lines of `status` in one pass (PostgreSQL reads both
/// from its per-location summary): `StatusDocument.rows` asks it once instead of `status` and `locationStatus`.
public protocol CombinedStatusReading: AnyObject, Sendable {
    /// `HistoryReading.status(now:)` and `LocationReading.locationStatus(now:)`, from one read.
    func statusAndLocations(now: Int64) throws -> (probes: [ProbeStatus], locations: [String: [LocationStatus]])
}
