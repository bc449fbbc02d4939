import ProberCore
import ProberStorage
import ProberStore

extension PostgresStore {
    /// Statements sent on the store's connection so far (`PGConnection.statements`).
    var statementsSent: Int { queue.sync { connection.statements } }

    /// `status`'s probe lines and per-location lines (`CombinedStatusReading`): the probes, then every location's
    /// `location_summary` row with its published episode, copied out in binary format and read in place
    /// (`CopiedRows`), each probe's hour summed in the same pass. Three statements whatever the number of probes and
    /// locations.
    ///
    /// At 10 locations × 3,000 probes this is 30,000 rows: decoding each as text (hex `bytea`, a dense histogram per
    /// location, a dictionary to find each episode) was most of the read's CPU, and holding them as `PGresult`s
    /// most of its memory.
    func fleetStatus(now: Int64, _ db: PGConnection) throws -> (probes: [ProbeStatus], locations: [String: [LocationStatus]]) {
        let probes = try db.query("SELECT id, name, kind, target FROM probes ORDER BY name COLLATE \"C\"")
        var lines: [ProbeStatus] = []
        lines.reserveCapacity(probes.count)
        var ids: [Int64] = []
        ids.reserveCapacity(probes.count)
        for p in 0..<probes.count {
            ids.append(probes.int64(p, 0))
            lines.append(ProbeStatus(name: probes.string(p, 1), kind: probes.string(p, 2), target: probes.string(p, 3)))
        }
        let current = Self.floor(now, Self.bucket5m)
        let oldest = current - (Self.summarySlots - 1) * Self.bucket5m
        // A running location's merged hour (its newest slot is now's), else the slots still in the hour, merged here.
        let r = try db.copyOut("""
            COPY (SELECT probe_id, location, last_at, last_reason, last_status, last_phases,
                CASE WHEN bucket = \(current) THEN hour END, CASE WHEN bucket <> \(current) AND bucket >= \(oldest) THEN slots END
            FROM location_summary) TO STDOUT (FORMAT binary)
            """)
        // The published episodes, matched to the summary's rows here: the server's hash join on (probe, location
        // text) cost more than both scans (53-78 ms of a 100 ms read at 10 × 3,000, against ~10 ms for this scan).
        let e = try db.copyOut("COPY fleet_episodes (probe_id, location, status, stage, summary) TO STDOUT (FORMAT binary)")
        let index = LineIndex(ids)
        let summaries = RowsByLine(r, index: index, lines: lines.count)
        let episodes = RowsByLine(e, index: index, lines: lines.count)

        var out: [String: [LocationStatus]] = [:]
        var hour = SummaryHour()
        var stopped = SummaryHour() // a stopped location's slots, merged (its storage kept from one to the next)
        for l in lines.indices where summaries.has(l) {
            hour.reset()
            // By location: the lines' order, and of two last checks at the same time the first location's is the probe's.
            let rows = summaries.rows(of: l).map { (location: r.string($0, 1) ?? "", row: $0) }
                .sorted { $0.location < $1.location }
            var located: [LocationStatus] = []
            located.reserveCapacity(rows.count) // 30,000 of them at a fleet's size: no doubling's spare room
            let published = episodes.rows(of: l)
            for (location, i) in rows {
                let last = lastCheck(r, i)
                if let last, last.at > lines[l].last?.at ?? .min { lines[l].last = last }
                // The location's hour: its merged hour, else its slots still in the hour merged here.
                var own: (counts: HourCounts, p95: Int64?) = (HourCounts(), nil)
                if r.withBinary(i, 6, { bytes -> Void in
                    let encoded = EncodedHour(bytes)
                    own = (encoded.counts, hour.add(encoded, percentile: 0.95))
                }) == nil {
                    r.withBinary(i, 7) { slots in
                        stopped.reset()
                        SummaryCodec.forEachSlot(slots) { bucket, range in
                            guard bucket >= oldest && bucket <= current else { return }
                            stopped.add(EncodedHour(UnsafeRawBufferPointer(rebasing: slots[range])))
                        }
                        hour.merge(stopped)
                        own = (stopped.counts, stopped.percentile(0.95))
                    }
                }
                // Each location that checked the probe in the day before now has a line (its hour is in the probe's).
                guard (last?.at ?? .min) >= now - Self.day else { continue }
                // Built in place in the array (a `LocationStatus` is five references: each copy was retains and
                // releases).
                located.append(LocationStatus(location: location, last: last))
                located[located.count - 1].setHour(own.counts, p95: own.p95)
                // Its published episode, if any (the columns may all be NULL), found by comparing the location's bytes
                // in place: a string made for each episode row, and their sort, cost more than the few comparisons.
                if let j = published.first(where: { e.equals($0, 1, location) }) {
                    let severity = e.string(j, 2).flatMap(Severity.init(rawValue:))
                    located[located.count - 1].episode = LocationEpisode(
                        location: location, status: severity,
                        stage: severity == nil ? nil : e.string(j, 3).flatMap(ResolutionStage.init(rawValue:)),
                        summary: e.string(j, 4))
                }
            }
            lines[l].setHour(hour)
            guard !located.isEmpty else { continue }
            out[lines[l].name] = located
        }
        return (lines, out)
    }

    /// Each probe's line by its id: a table indexed by id when the ids are about as many as the probes (a sequence
    /// hands them out), else a dictionary. 60,000 dictionary lookups were 2 % of a fleet's `status`.
    private struct LineIndex {
        private var table: [Int32] = []
        private var dictionary: [Int64: Int] = [:]

        init(_ ids: [Int64]) {
            if let top = ids.max(), ids.min() ?? 0 >= 0, top < 4 * Int64(ids.count) + 1_024 {
                table = [Int32](repeating: -1, count: Int(top) + 1)
                for (line, id) in ids.enumerated() { table[Int(id)] = Int32(line) }
            } else {
                dictionary.reserveCapacity(ids.count)
                for (line, id) in ids.enumerated() { dictionary[id] = line }
            }
        }

        subscript(id: Int64) -> Int? {
            guard dictionary.isEmpty else { return dictionary[id] }
            guard id >= 0, id < table.count, table[Int(id)] >= 0 else { return nil }
            return Int(table[Int(id)])
        }
    }

    /// A result's rows grouped by probe (a counting sort on the probe's line, column 0 being the probe's id), so each
    /// probe's rows are read together. Rows of a probe not in `index` are left out.
    private struct RowsByLine {
        private var starts: [Int]
        private var order: [Int]

        init(_ r: CopiedRows, index: LineIndex, lines: Int) {
            var line = [Int](repeating: -1, count: r.count)
            starts = [Int](repeating: 0, count: lines + 1)
            for i in 0..<r.count {
                guard let id = r.int(i, 0), let l = index[id] else { continue }
                line[i] = l
                starts[l + 1] += 1
            }
            for l in 0..<lines { starts[l + 1] += starts[l] }
            order = [Int](repeating: 0, count: starts[lines])
            var next = starts
            for i in 0..<r.count where line[i] >= 0 {
                order[next[line[i]]] = i
                next[line[i]] += 1
            }
        }

        func has(_ line: Int) -> Bool { starts[line] < starts[line + 1] }
        func rows(of line: Int) -> ArraySlice<Int> { order[starts[line]..<starts[line + 1]] }
    }

    /// A location's last check from a binary summary row (columns 2-5).
    private func lastCheck(_ r: CopiedRows, _ i: Int) -> ProbeStatus.LastCheck? {
        guard let at = r.int(i, 2) else { return nil }
        let reason = Int(r.int(i, 3) ?? 0)
        return .init(at: at, reason: reason == 0 ? nil : FailureReason(code: reason) ?? .other,
                     status: r.int(i, 4).map(Int.init), latency: r.withBinary(i, 5, Self.totalLatency) ?? nil)
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
