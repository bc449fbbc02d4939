import Foundation
import ProberTestSupport
import Testing

@Suite("prober check")
struct CheckCommandTests {
    @Test func goodDirectoryPrintsSummary() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("probes/web.yaml", "probes:\n  - name: web\n    http: { url: \"http://127.0.0.1:1/health\" }\n")
        try dir.write("probes/db/db.yml", "probes:\n  - name: db\n    tcp: { host: 127.0.0.1, port: 5432 }\n")
        let result = try ProberBinary.run(["check", "probes"], currentDirectory: dir.url)
        #expect(result.status == 0)
        #expect(result.stdout == "2 probes in 2 files\n")
        #expect(result.stderr == "")

        let json = try ProberBinary.run(["check", "--json", "--probes", dir.path + "/probes"])
        #expect(json.status == 0)
        #expect(json.stdout == "{\"files\":2,\"names\":[\"db\",\"web\"],\"probes\":2}\n")
    }

    @Test func badDirectoryPrintsEveryProblemAndExits1() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("probes/a.yaml", """
            probes:
              - name: api
                http:
                  url: ftp://api.internal/health
                  expect: { status: [200, "600"] }
                timout: 2s
              - name: db
                tcp: { host: db, port: 70000 }
            """)
        try dir.write("probes/b.yaml", "probes:\n  - name: api\n    tcp: { host: a, port: 1 }\n    interval: 10x\n")
        let result = try ProberBinary.run(["check", "probes"], currentDirectory: dir.url)
        #expect(result.status == 1)
        #expect(result.stdout == "")
        #expect(result.stderr == """
            probes/a.yaml:4:7: 'url' 'ftp://api.internal/health' uses the scheme 'ftp'; only http and https are supported
            probes/a.yaml:5:31: 'status' entry '600' is not a status code from 100 to 599, a range like "200-299" or a class like "2xx"
            probes/a.yaml:6:5: unknown key 'timout' in a probe; did you mean 'timeout'?
            probes/a.yaml:8:22: 'port' is 70000; it must be between 1 and 65535
            probes/b.yaml:2:5: probe name 'api' is already used at probes/a.yaml:2:5; names must be unique across all probe files
            probes/b.yaml:4:5: 'interval' is '10x', which is not a duration; write e.g. 250ms, 10s, 5m, 1h or 14d
            6 problems in probes

            """)
    }

    @Test func duplicateAcrossFilesNamesBothPlaces() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/a.yaml", "probes:\n  - name: api\n    tcp: { host: a, port: 1 }\n")
        try dir.write("p/b.yaml", "probes:\n  - name: api\n    tcp: { host: b, port: 1 }\n")
        let result = try ProberBinary.run(["check", "./p/"], currentDirectory: dir.url)
        #expect(result.status == 1)
        #expect(result.stderr == """
            ./p/b.yaml:2:5: probe name 'api' is already used at ./p/a.yaml:2:5; names must be unique across all probe files
            1 problem in ./p/

            """)
    }

    @Test func jsonProblemsForScripts() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/a.yaml", "probes:\n  - name: api\n")
        let result = try ProberBinary.run(["check", "p", "--json"], currentDirectory: dir.url)
        #expect(result.status == 1)
        #expect(result.stdout == """
            {"problems":[{"column":5,"file":"p/a.yaml","line":2,"message":"probe 'api' needs an 'http:' or a 'tcp:' block saying what to check"}]}

            """)
    }

    @Test func missingDirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try ProberBinary.run(["check"], currentDirectory: dir.url)
        #expect(result.status == 1)
        #expect(result.stderr == "./probes: no such probes directory\n1 problem in ./probes\n")
    }

    @Test func positionalDirectoryWinsOverOption() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("good/a.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n")
        let result = try ProberBinary.run(["check", "good", "--probes", "missing"], currentDirectory: dir.url)
        #expect(result.status == 0)
        #expect(result.stdout == "1 probe in 1 file\n")
    }

    @Test func missingVariableIsNamedAndValuesNeverShown() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/a.yaml", """
            probes:
              - name: a
                http:
                  url: "${BASE_URL}/health"
                  headers: { Authorization: "Bearer ${API_TOKEN}" }
            """)
        let secret = "tok-Zq9-secret"
        let result = try ProberBinary.run(["check", "p"], environment: ["BASE_URL": "not a url \(secret)", "API_TOKEN": nil],
                                          currentDirectory: dir.url)
        #expect(result.status == 1)
        #expect(result.stderr == """
            p/a.yaml:4:7: 'url' '${BASE_URL}/health' is not a valid URL
            p/a.yaml:5:18: 'Authorization' uses environment variable 'API_TOKEN', which is not set (write ${API_TOKEN:-default} for a fallback)
            2 problems in p

            """)
        #expect(!result.stderr.contains(secret) && !result.stdout.contains(secret))
    }

    /// Every example in the repository's probes/ folder passes.
    @Test func repositoryExamplesPass() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let probes = repo.appendingPathComponent("probes").path
        let result = try ProberBinary.run(["check", probes], environment: ["PROBER_DEMO_TOKEN": nil])
        #expect(result.stderr == "")
        #expect(result.status == 0)
        let files = try FileManager.default.subpathsOfDirectory(atPath: probes).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
        #expect(result.stdout.hasSuffix(" in \(files.count) files\n"))
    }

    /// The full example in docs/probe-files.md is a valid probe file.
    @Test func documentedExamplePasses() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: repo.appendingPathComponent("docs/probe-files.md"), encoding: .utf8)
        let example = try #require(doc.components(separatedBy: "```yaml\n").last?.components(separatedBy: "```").first)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/checkout.yaml", example)
        let result = try ProberBinary.run(["check", "p"], environment: ["HOOK_TOKEN": "h", "CHECKOUT_TOKEN": "c"],
                                          currentDirectory: dir.url)
        #expect(result.stderr == "")
        #expect(result.stdout == "3 probes in 1 file\n")
    }

    /// 500 problems: the first 100 are printed, then how many more, then the total (issue 13, item 17:
    /// a 1 MB file of bad entries printed 500,001 lines).
    @Test func manyProblemsPrintTheFirstHundredAndHowManyMore() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/ones.yaml", "probes: [" + Array(repeating: "1", count: 500).joined(separator: ", ") + "]\n")
        let result = try ProberBinary.run(["check", "p"], currentDirectory: dir.url)
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 102)
        #expect(lines.first == "p/ones.yaml:1:10: a probe must be a mapping (key: value lines), not '1'")
        #expect(lines.suffix(2) == ["... and 400 more problems", "500 problems in p (the first 100 shown)"])

        let json = try ProberBinary.run(["check", "--json", "p"], currentDirectory: dir.url)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["problems"] as? [Any])?.count == 100)
        #expect(object["omitted"] as? Int == 400)
    }

    /// URLs libcurl would refuse at every check, or that would split the request, are refused by
    /// `check` at the key (issue 13, item 21c); the user name and password are never echoed.
    @Test func urlsThatCanNeverWorkAreRefusedAtTheirKey() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/a.yaml", """
            probes:
              - name: injected
                http:
                  url: "http://api.internal/health\\r\\nX-Injected: 1"
              - name: userinfo
                http: { url: "http://ops:s3cret pass@api.internal/health" }
              - name: proxied
                http: { url: "http://api.internal/", proxy: "http://proxy.internal:3128/\\n" }
            """)
        let result = try ProberBinary.run(["check", "p"], currentDirectory: dir.url)
        #expect(result.status == 1)
        #expect(result.stderr == """
            p/a.yaml:4:7: 'url' contains a line break; a URL cannot carry control characters
            p/a.yaml:6:13: 'url' has a space in its user name or password; write it as %20
            p/a.yaml:8:42: 'proxy' contains a line break; a URL cannot carry control characters
            3 problems in p

            """)
        #expect(!result.stderr.contains("s3cret"))
    }

    /// An empty file is named, not its directory (issue 13, item 21d).
    @Test func emptyFileIsNamed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/empty.yaml", "")
        let result = try ProberBinary.run(["check", "p"], currentDirectory: dir.url)
        #expect(result.status == 1)
        #expect(result.stderr == "p/empty.yaml: no probes are defined in this file; add a 'probes:' list\n1 problem in p\n")
    }
}
