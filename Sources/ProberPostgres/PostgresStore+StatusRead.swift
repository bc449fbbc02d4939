import ProberCore
import ProberStorage
import ProberStore

extension PostgresStore {
    /// Statements sent on the store's connection so far (`PGConnection.statements`).
    var statementsSent: Int { queue.sync { connection.statements } }

    /// `status`'s probe lines and per-location lines (`CombinedStatusReading`): the probes, then every location's
    /// `location_summary` row with its published episode, in binary format and read in place, each probe's hour
    /// summed in the same pass. Two statements whatever the number of probes and locations.
    ///
    /// At 10 locations × 3,000 probes this is 30,000 rows: decoding each as text (hex `bytea`, a dense histogram per
    /// location, a dictionary to find each episode) was most of the read's CPU.
    func fleetStatus(now: Int64, _ db: PGConnection) throws -> (probes: [ProbeStatus], locations: [String: [LocationStatus]]) {
        let probes = try db.query("SELECT id, name, kind, target FROM probes ORDER BY name COLLATE \"C\"")
        var lines: [ProbeStatus] = []
        lines.reserveCapacity(probes.count)
        var index: [Int64: Int] = [:]
        index.reserveCapacity(probes.count)
        for p in 0..<probes.count {
            index[probes.int64(p, 0)] = lines.count
            lines.append(ProbeStatus(name: probes.string(p, 1), kind: probes.string(p, 2), target: probes.string(p, 3)))
        }
        let current = Self.floor(now, Self.bucket5m)
        let oldest = current - (Self.summarySlots - 1) * Self.bucket5m
        // A running location's merged hour (its newest slot is now's), else the slots still in the hour, merged here.
        let r = try db.query("""
            SELECT s.probe_id, s.location, s.last_at, s.last_reason, s.last_status, s.last_phases,
                CASE WHEN s.bucket = $1 THEN s.hour END, CASE WHEN s.bucket <> $1 AND s.bucket >= $2 THEN s.slots END,
                e.status, e.stage, e.summary, e.probe_id
            FROM location_summary s LEFT JOIN fleet_episodes e ON e.probe_id = s.probe_id AND e.location = s.location
            """, [.int(current), .int(oldest)], binary: true)

        // Rows by probe (a counting sort on the probe's line), so each probe's locations are read together.
        var line = [Int](repeating: -1, count: r.count)
        var starts = [Int](repeating: 0, count: lines.count + 1)
        for i in 0..<r.count {
            guard let id = r.binaryInt(i, 0), let l = index[id] else { continue }
            line[i] = l
            starts[l + 1] += 1
        }
        for l in lines.indices { starts[l + 1] += starts[l] }
        var order = [Int](repeating: 0, count: starts[lines.count])
        var next = starts
        for i in 0..<r.count where line[i] >= 0 {
            order[next[line[i]]] = i
            next[line[i]] += 1
        }

        var out: [String: [LocationStatus]] = [:]
        var hour = SummaryHour()
        var stopped = SummaryHour() // a stopped location's slots, merged (its storage kept from one to the next)
        for l in lines.indices where starts[l] < starts[l + 1] {
            hour.reset()
            var located: [LocationStatus] = []
            // By location: the lines' order, and of two last checks at the same time the first location's is the probe's.
            let rows = order[starts[l]..<starts[l + 1]].map { (location: r.binaryString($0, 1) ?? "", row: $0) }
                .sorted { $0.location < $1.location }
            for (location, i) in rows {
                let last = lastCheck(r, i)
                if let last, last.at > lines[l].last?.at ?? .min { lines[l].last = last }
                var status = LocationStatus(location: location, last: last)
                if r.withBinary(i, 6, { bytes -> Void in
                    let encoded = EncodedHour(bytes)
                    hour.add(encoded)
                    status.setHour(encoded.counts, p95: encoded.percentile(0.95))
                }) == nil {
                    r.withBinary(i, 7) { slots in
                        stopped.reset()
                        SummaryCodec.forEachSlot(slots) { bucket, range in
                            guard bucket >= oldest && bucket <= current else { return }
                            stopped.add(EncodedHour(UnsafeRawBufferPointer(rebasing: slots[range])))
                        }
                        hour.merge(stopped)
                        status.setHour(stopped)
                    }
                }
                // Each location that checked the probe in the day before now has a line (its hour is in the probe's).
                guard (last?.at ?? .min) >= now - Self.day else { continue }
                if !r.isNull(i, 11) { // a published episode (its columns may all be NULL)
                    let severity = r.binaryString(i, 8).flatMap(Severity.init(rawValue:))
                    status.episode = LocationEpisode(
                        location: status.location, status: severity,
                        stage: severity == nil ? nil : r.binaryString(i, 9).flatMap(ResolutionStage.init(rawValue:)),
                        summary: r.binaryString(i, 10))
                }
                located.append(status)
            }
            lines[l].setHour(hour)
            guard !located.isEmpty else { continue }
            out[lines[l].name] = located
        }
        return (lines, out)
    }

    /// A location's last check from a binary summary row (columns 2-5).
    private func lastCheck(_ r: PGResult, _ i: Int) -> ProbeStatus.LastCheck? {
        guard let at = r.binaryInt(i, 2) else { return nil }
        let reason = Int(r.binaryInt(i, 3) ?? 0)
        return .init(at: at, reason: reason == 0 ? nil : FailureReason(code: reason) ?? .other,
                     status: r.binaryInt(i, 4).map(Int.init), latency: r.withBinary(i, 5, Self.totalLatency) ?? nil)
    }

    /// The total of a `PhaseCodec` encoding, as `PhaseCodec.decode(bytes).total` (nil when absent).
    static func totalLatency(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var reader = Varint.BufferReader(bytes)
        var sum: Int64 = 0
        for _ in PhaseCodec.parts {
            guard let v = reader.next() else { return nil }
            if v > 0 { sum += Int64(v - 1) }
        }
        switch reader.next() {
        case nil, 0: return nil
        case 1: return sum
        case let v?: return Int64(v - 2)
        }
    }
}
