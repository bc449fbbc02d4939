import Foundation
import Logging
import ProberTestSupport
import Testing
@testable import ProberEngine

/// `Daemon.Configuration.location` and `.sourceAddress`: validated once, before anything is opened.
@Suite struct DaemonLocationTests {
    @Test(arguments: ["a", "fra-1", "nyc_2.example", String(repeating: "z", count: 64), "0"])
    func acceptedLocations(_ name: String) {
        #expect(Daemon.Configuration.locationProblem(name) == nil)
    }

    @Test(arguments: ["", " a", "a b", "a/b", "a:b", "fra-1\n", "é", String(repeating: "z", count: 65), "a\"b"])
    func refusedLocations(_ name: String) {
        #expect(Daemon.Configuration.locationProblem(name) != nil)
    }

    @Test func theDefaultIsTheHostName() {
        var name = [CChar](repeating: 0, count: 256)
        #expect(gethostname(&name, 255) == 0)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(Daemon.Configuration(probes: "p", database: "d").location == host)
    }

    @Test func aDaemonRefusesABadLocationOrSourceAddressAsAConfigurationError() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try dir.write("probes/p.yaml", "probes:\n  - { name: a, http: { url: \"http://127.0.0.1:1/\" } }\n")
        var configuration = Daemon.Configuration(probes: dir.path + "/probes", database: dir.path + "/prober.db", environment: [:])
        let logger = Logger(label: "test")

        configuration.location = "a b"
        #expect { try Daemon(configuration: configuration, logger: logger) } throws: { error in
            guard let error = error as? DaemonError else { return false }
            return error.exitCode == 2 && error.message.hasPrefix("--location 'a b'")
        }
        configuration.location = "a"
        configuration.sourceAddress = "eth0"
        #expect { try Daemon(configuration: configuration, logger: logger) } throws: { error in
            guard let error = error as? DaemonError else { return false }
            return error.exitCode == 2 && error.message.hasPrefix("--source-address 'eth0' is not a literal")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/prober.db"), "refused before the database was opened")
    }
}
