@testable import ProberPostgres
import ProberTestSupport
import Testing

/// The array literals the recorder's summary upsert and the fleet's publications send as one parameter each.
@Suite struct PGArrayTests {
    static let values: [String?] = ["a", nil, "quote \" and backslash \\ inside", "", "NULL", "{,}", "fra-1 ü"]

    @Test func quotesEveryElementAndEscapesOnlyBackslashAndQuote() {
        #expect(pgArray(Self.values) == #"{"a",NULL,"quote \" and backslash \\ inside","","NULL","{,}","fra-1 ü"}"#)
        #expect(pgArray([]) == "{}")
    }

    @Test func theServerReadsBackWhatWasSent() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let store = try PostgresStore(url: cluster.socketURL(database), site: "a")
        let back: [String?] = try store.read { db in
            let r = try db.query("SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS t(v, i) ORDER BY i", [.text(pgArray(Self.values))])
            return (0..<r.count).map { r.isNull($0, 0) ? nil : r.string($0, 0) }
        }
        #expect(back == Self.values)
    }
}
