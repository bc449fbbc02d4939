import ProberDocuments
import ProberHTTP

extension ProberWeb {
    /// Adds the pages (`/`, `/probes/NAME`, `/incidents`, `/incidents/ID`) to `router`. Every query goes
    /// through `reader` (its own serial queue and read-only storage, never the listener's thread); answer
    /// through the route's responder from `reader.read`'s callback.
    ///
    /// A stub that registers nothing: the pages are built on the `web` branch, which replaces this file.
    public static func register(into router: inout Router, reader: StorageReader) {}
}
