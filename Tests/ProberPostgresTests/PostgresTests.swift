import Foundation
import ProberTestSupport
import Testing

@Suite struct TestPostgresTests {
    @Test func clusterStarts() throws {
        let cluster = try TestPostgres.shared()
        FileHandle.standardError.write(Data("cluster started in \(cluster.startup)\n".utf8))
        let name = try cluster.makeDatabase()
        FileHandle.standardError.write(Data("db \(name)\n".utf8))
        #expect(try cluster.psql("SELECT 1", database: name).trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }
}
