import ProberCore
import ProberTestSupport
import Testing
@testable import ProberStore

/// Two `Store`s on one file, as a command beside a running daemon: the second writes after the first has written
/// since it opened. It failed at once with SQLite error 517 (`SQLITE_BUSY_SNAPSHOT`): a read left open by `scalar`
/// at opening pinned its snapshot, and no busy timeout could clear it.
@Suite struct SecondWriterTests {
    @Test func aStoreWritesAfterAnotherWroteSinceItOpened() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/prober.db"
        let first = try Store(path: path)
        try first.register([ProbeSpec(name: "x", target: .http(HTTPTarget(url: "http://127.0.0.1:9/x")))])
        let second = try Store(path: path)
        try first.register([ProbeSpec(name: "y", target: .http(HTTPTarget(url: "http://127.0.0.1:9/y")))])
        try second.register([ProbeSpec(name: "x", target: .http(HTTPTarget(url: "http://127.0.0.1:9/edited")))])
        #expect(try first.probeInfo("x")?.target.hasSuffix("/edited") == true)
        #expect(try second.probeInfo("y") != nil)
    }
}
