/// A check as the evaluator keeps it: what levels and descriptions need, in 32 bytes instead of a full
/// `Sample` with its strings. At 10,000 probes with 10-check windows that is 3.2 MB of the daemon's memory.
/// (Its time is not kept: an event is dated by the check that caused it.)
public struct Observation: Sendable, Equatable {
    public var phases: PackedPhases
    /// https leaf expiry (seconds since the epoch, unsigned: until 2106), 0 when unknown.
    private var expiry: UInt32
    /// HTTP status, 0 when none.
    private var statusCode: Int16
    /// `FailureReason.code`, 0 when the check passed.
    private var reasonCode: UInt8

    public init(_ sample: Sample) {
        phases = PackedPhases(sample.phases)
        expiry = UInt32(clamping: sample.certificateExpiry ?? 0)
        statusCode = Int16(clamping: sample.status ?? 0)
        reasonCode = UInt8(clamping: sample.failure?.reason.code ?? 0)
    }

    public var ok: Bool { reasonCode == 0 }
    public var reason: FailureReason? { reasonCode == 0 ? nil : FailureReason(code: Int(reasonCode)) ?? .other }
    public var status: Int? { statusCode == 0 ? nil : Int(statusCode) }
    public var certificateExpiry: Int64? { expiry == 0 ? nil : Int64(expiry) }
}

/// `Phases` in 24 bytes: microseconds as Int32 (up to 35 minutes, far beyond any timeout), -1 for a phase
/// that did not happen.
public struct PackedPhases: Sendable, Equatable {
    private var dns, connect, tls, processing, transfer, total: Int32

    public init(_ p: Phases) {
        func pack(_ v: Int64?) -> Int32 { v.map { Int32(clamping: max($0, 0)) } ?? -1 }
        dns = pack(p.dns)
        connect = pack(p.connect)
        tls = pack(p.tls)
        processing = pack(p.processing)
        transfer = pack(p.transfer)
        total = pack(p.total)
    }

    public subscript(_ name: Phases.Name) -> Int64? {
        let v: Int32
        switch name {
        case .dns: v = dns
        case .connect: v = connect
        case .tls: v = tls
        case .processing: v = processing
        case .transfer: v = transfer
        case .total: v = total
        }
        return v < 0 ? nil : Int64(v)
    }

    public var unpacked: Phases {
        Phases(dns: self[.dns], connect: self[.connect], tls: self[.tls], processing: self[.processing],
               transfer: self[.transfer], total: self[.total])
    }
}
