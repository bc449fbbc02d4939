import ProberCore

/// The documents prober prints for people and programs: every `--json` of the command line and the
/// `/api/v1` endpoints are built here, from the storage interface's values, so they cannot disagree.
///
/// Each document is a function from values to `JSONValue`; the command line prints `.pretty` and a newline,
/// and `/api/v1` answers the same bytes. Values a page shows too (a probe's state, its incident cell, an
/// incident's delivery line) are computed here once.
public enum ProberDocuments {
    /// The bytes of a document as `--json` prints it and `/api/v1` answers it: indented JSON and a newline.
    public static func bytes(_ document: JSONValue) -> [UInt8] { Array((document.pretty + "\n").utf8) }
}
