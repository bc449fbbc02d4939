/// The documents prober prints for people and programs: every `--json` of the command line and the
/// `/api/v1` endpoints are built here, from the storage interface's values, so they cannot disagree.
public enum ProberDocuments {}
