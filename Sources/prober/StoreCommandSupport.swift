import ArgumentParser
import Foundation
import ProberBackends
import ProberCore
import ProberDocuments
import ProberStorage
import ProberStore

/// Shared by the commands that read the history: opening it read-only, times, tables, JSON.
enum StoreCommandSupport {
    /// Opens the history at `--db` for reading only (never creates it, never blocks the daemon), or exits with
    /// a message naming it (without its password): 2 when the server refused the credentials (configuration),
    /// else 1.
    static func openStorage(_ database: String) -> any Storage {
        do {
            return try StorageBackend.open(database: database, readOnly: true)
        } catch {
            fail("\(error)", exitCode: (error as? any StorageError)?.kind == .configuration ? 2 : 1)
        }
    }

    /// Prints `prober: message` to standard error and exits 1 (or `exitCode`).
    static func fail(_ message: String, exitCode: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("prober: \(message)\n".utf8))
        Foundation.exit(exitCode)
    }

    /// Where the commands read "now".
    static let clock: any WallClock = SystemWallClock()

    static var nowMicroseconds: Int64 { clock.now() }

    static func latency(_ us: Int64?) -> String { us.map { Human.latency(microseconds: $0) } ?? "-" }

    static func percent(_ value: Double?) -> String {
        guard let value else { return "-" }
        return value == 100 ? "100 %" : String(format: "%.2f %%", value)
    }

    /// Left-aligned first column, the others right-aligned, two spaces apart.
    static func table(_ header: [String], _ rows: [[String]], leftColumns: Int = 1) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { Terminal.width($0[i]) }.max() ?? 0 }
        return all.map { row in
            var line = row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - Terminal.width(cell))
                return i < leftColumns ? cell + pad : pad + cell
            }.joined(separator: "  ")
            // Trailing blanks trimmed by hand: a regular expression per line was half of a fleet's `status` (11,000 lines).
            while line.last?.isWhitespace == true { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }
}
