import ProberCore

extension Store {
    /// What the raw samples' bytes are made of, for bench/store: one line per layout and part, "LAYOUT PART BYTES",
    /// the bytes of a 5-minute block by field (as `SampleBlock.encode` writes them) and of an archived day by
    /// column (each deflated alone, so their sum is somewhat above the day's whole deflated body). Pages, keys and
    /// row headers are not in it: bench/store takes them from SQLite's `dbstat`.
    public func sampleBreakdown() throws -> [String] {
        try read { db in
            var block: [String: Int] = [:], blockSamples = 0, blocks = 0
            let blocksSelect = try db.prepare("SELECT start, data FROM sample_blocks")
            while try blocksSelect.step() {
                let start = blocksSelect.int64(0)
                let samples = blocksSelect.withBlob(1) { SampleBlock.decode($0, start: start) }
                blocks += 1
                blockSamples += samples.count
                for (part, bytes) in Self.blockFieldSizes(samples, start: start) { block[part, default: 0] += bytes }
            }
            blocksSelect.reset()
            var archive: [String: Int] = [:], archiveSamples = 0, days = 0
            let archiveSelect = try db.prepare("SELECT start, data FROM sample_archive")
            while try archiveSelect.step() {
                let start = archiveSelect.int64(0)
                let (samples, stored) = archiveSelect.withBlob(1) { (SampleArchive.decode($0, start: start), $0.count) }
                days += 1
                archiveSamples += samples.count
                archive["stored (whole body deflated, with its header)", default: 0] += stored
                for column in SampleArchive.columns(samples, start: start) {
                    archive[column.name, default: 0] += SampleArchive.deflate(column.bytes)?.count ?? column.bytes.count
                    archive["raw columns before deflate", default: 0] += column.bytes.count
                }
            }
            archiveSelect.reset()
            var lines = ["blocks samples \(blockSamples) rows \(blocks)", "archive samples \(archiveSamples) rows \(days)"]
            lines += block.sorted { $0.value > $1.value }.map { "blocks \($0.key) \($0.value)" }
            lines += archive.sorted { $0.value > $1.value }.map { "archive \($0.key) \($0.value)" }
            return lines
        }
    }

    /// The bytes of each field of a 5-minute block, following `SampleBlock.encode`.
    private static func blockFieldSizes(_ samples: [RawSample], start: Int64) -> [String: Int] {
        func length(_ v: UInt64) -> Int { max(1, (64 - v.leadingZeroBitCount + 6) / 7) }
        func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
        var sizes = ["count": length(UInt64(samples.count)), "flags": samples.count]
        var previous = start, delta: Int64 = 0
        var status: Int64?, bytes: Int64?
        for (i, s) in samples.enumerated() {
            let d = s.ts - previous
            sizes["time", default: 0] += length(i < 2 ? UInt64(bitPattern: d) : zigzag(d - delta))
            if i > 0 { delta = d }
            previous = s.ts
            if s.reason != 0 { sizes["reason", default: 0] += length(UInt64(s.reason)) }
            if let v = s.status, v != status { sizes["status", default: 0] += length(zigzag(v)); status = v }
            if let v = s.bytes, v != bytes { sizes["body size", default: 0] += length(zigzag(v)); bytes = v }
            if s.hasPhases, let encoded = PhaseCodec.encode(s.phases) {
                var reader = Varint.Reader(encoded)
                for name in PhaseCodec.parts + [.total] {
                    let before = reader.offset
                    _ = reader.next()
                    sizes[name.rawValue, default: 0] += reader.offset - before
                }
            }
        }
        return sizes
    }
}
