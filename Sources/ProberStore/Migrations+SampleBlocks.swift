extension Store {
    /// Version 10: raw samples in time order (see `Store+Samples.swift`). Commits append to `sample_recent`; folded
    /// 5-minute blocks live in `sample_blocks`, each probe's first and last block window in `sample_span`. The
    /// samples of a version 9 file are converted into blocks here, then the old table is dropped.
    static let schemaSampleBlocks = """
        CREATE TABLE sample_recent(
            seq INTEGER NOT NULL,                 -- the commit that wrote it, increasing
            probe_id INTEGER NOT NULL,
            ts INTEGER NOT NULL,                  -- check start
            reason INTEGER NOT NULL,              -- FailureReason.code, 0 = ok
            status INTEGER,                       -- HTTP status
            phases BLOB,                          -- PhaseCodec; NULL when none
            bytes INTEGER,
            family INTEGER,                       -- 0 = IPv4, 1 = IPv6
            PRIMARY KEY (seq, probe_id, ts)
        ) WITHOUT ROWID;
        CREATE TABLE sample_blocks(
            start INTEGER NOT NULL,               -- the 5-minute window's start
            probe_id INTEGER NOT NULL,
            data BLOB NOT NULL,                   -- SampleBlock: the probe's samples of the window
            PRIMARY KEY (start, probe_id)
        ) WITHOUT ROWID;
        CREATE TABLE sample_span(
            probe_id INTEGER PRIMARY KEY,
            first INTEGER NOT NULL,               -- window of the probe's first block
            last INTEGER NOT NULL                 -- window of its last block
        );
        """

    static func convertToSampleBlocks(_ db: Connection) throws {
        try db.execute(schemaSampleBlocks)
        let select = try db.prepare("""
            SELECT probe_id, ts, reason, status, phases, bytes, family FROM samples ORDER BY probe_id, ts
            """)
        var probe: Int64 = -1, window: Int64 = 0
        var block: [RawSample] = []
        func flush() throws {
            if !block.isEmpty { try insertBlock(probe: probe, start: window, block, db) }
            block.removeAll(keepingCapacity: true)
        }
        while try select.step() {
            let id = select.int64(0)
            let sample = rawSample(select, from: 1)
            let w = floor(sample.ts, blockWidth)
            if id != probe || w != window { try flush() }
            probe = id
            window = w
            block.append(sample)
        }
        try flush()
        // DROP TABLE fails while any statement of the connection is mid-result (the migration's `user_version`).
        db.resetBusyStatements()
        try db.execute("DROP TABLE samples")
    }

    /// Version 14: `sample_blocks` becomes a rowid table with a unique `(start, probe_id)` index, its rows copied.
    /// In the `WITHOUT ROWID` table a row holds at most 231 bytes on a 1 KiB page before the rest goes to an overflow
    /// page of its own: a block of a probe checked every 10 s (30 samples, about 480 bytes) took two pages, 43 bytes a
    /// sample written by the fold, and again by the checkpoint. A rowid table keeps up to 989 bytes in the leaf and
    /// fills overflow pages whole: about 17 bytes a sample, index included. Every statement on the table is the same.
    static func convertSampleBlocksToRowid(_ db: Connection) throws {
        try db.execute("""
            CREATE TABLE sample_blocks_rowid(
                start INTEGER NOT NULL,               -- the 5-minute window's start
                probe_id INTEGER NOT NULL,
                data BLOB NOT NULL                    -- SampleBlock: the probe's samples of the window
            );
            INSERT INTO sample_blocks_rowid(start, probe_id, data) SELECT start, probe_id, data FROM sample_blocks;
            """)
        // DROP TABLE fails while any statement of the connection is mid-result (the migration's `user_version`).
        db.resetBusyStatements()
        try db.execute("""
            DROP TABLE sample_blocks;
            ALTER TABLE sample_blocks_rowid RENAME TO sample_blocks;
            CREATE UNIQUE INDEX sample_blocks_key ON sample_blocks(start, probe_id);
            """)
    }
}
