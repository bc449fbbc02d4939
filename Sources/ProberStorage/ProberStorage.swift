/// The storage interface: what the engine and the command line need from a history store, as protocols
/// sized to each need, and the plain values that cross it. No C and no I/O here; SQLite (`ProberStore`)
/// is the first implementation, and a second backend implements the same protocols and passes the same
/// conformance suite (`Tests/ProberStorageConformance`).
enum ProberStorage {}
