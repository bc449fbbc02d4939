import Foundation
import ProberTestSupport
import XCTest

/// The files under deploy/ are correct as shipped: the systemd unit verifies and has what the issue asks,
/// every command line in them is accepted by the built `prober run`, every probe file they carry passes
/// `prober check`, and the container's health check works against a running prober.
final class DeployTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let deploy = root.appendingPathComponent("deploy")

    var dir: TemporaryDirectory!
    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir.remove() }

    static func read(_ relativePath: String) throws -> String {
        try String(contentsOf: deploy.appendingPathComponent(relativePath), encoding: .utf8)
    }

    // MARK: systemd

    /// `[Section]` -> key -> every value given (in order), comments and blank lines ignored.
    static func unitDirectives(_ text: String) -> [String: [String: [String]]] {
        var sections: [String: [String: [String]]] = [:]
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            sections[section, default: [:]][key, default: []].append(line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces))
        }
        return sections
    }

    func testSystemdUnitHasTheRequiredDirectives() throws {
        let unit = Self.unitDirectives(try Self.read("systemd/prober.service"))
        let service = try XCTUnwrap(unit["Service"])
        func value(_ key: String) -> String? { service[key]?.last }

        XCTAssertEqual(value("Type"), "notify")
        let watchdog = try XCTUnwrap(value("WatchdogSec"), "WatchdogSec= is set")
        XCTAssertNotEqual(watchdog, "0")
        XCTAssertEqual(value("Restart"), "on-failure")
        XCTAssertEqual(value("DynamicUser"), "yes")
        XCTAssertEqual(value("StateDirectory"), "prober")
        XCTAssertEqual(value("ConfigurationDirectory"), "prober")
        XCTAssertEqual(value("ExecReload"), "/bin/kill -HUP $MAINPID")
        XCTAssertEqual(value("EnvironmentFile"), "-/etc/prober/prober.env")
        for (key, expected) in [("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes")] {
            XCTAssertEqual(value(key), expected, key)
        }
        XCTAssertEqual(Set((value("RestrictAddressFamilies") ?? "").split(separator: " ").map(String.init)), ["AF_UNIX", "AF_INET", "AF_INET6"],
                       "AF_UNIX for the notify socket, AF_INET/AF_INET6 for the probes, nothing else")

        let exec = try XCTUnwrap(value("ExecStart")).split(separator: " ").map(String.init)
        XCTAssertEqual(exec.first, "/usr/local/bin/prober")
        XCTAssertEqual(Array(exec.dropFirst().prefix(1)), ["run"])
        XCTAssertEqual(Self.option("--probes", in: exec), "/etc/prober", "the probe files come from ConfigurationDirectory")
        XCTAssertNil(Self.option("--db", in: exec), "no --db: prober uses $STATE_DIRECTORY/prober.db")
        if let listen = Self.option("--listen", in: exec) {
            XCTAssertTrue(listen.hasPrefix("127.0.0.1:") || listen.hasPrefix("[::1]:"), "metrics on loopback only, got \(listen)")
        }
        XCTAssertEqual(unit["Install"]?["WantedBy"], ["multi-user.target"])
    }

    /// `systemd-analyze verify` on `text` as prober.service, with ExecStart's binary pointed at the one just
    /// built (verify checks that it exists).
    func assertSystemdVerifies(_ text: String, tool: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let unit = try dir.write("prober.service", text.replacingOccurrences(of: "/usr/local/bin/prober", with: ProberBinary.url.path))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["verify", unit]
        process.environment = ProcessInfo.processInfo.environment.merging(["SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let said = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, said, file: file, line: line)
        // verify exits 0 on unknown or misspelled settings ("Unknown key name ..., ignoring"): any line about
        // our unit is a problem.
        XCTAssertEqual(said.split(separator: "\n").filter { $0.contains("prober.service") }, [], said, file: file, line: line)
    }

    func testSystemdAnalyzeVerifiesTheUnit() throws {
        let tool = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let tool else { throw XCTSkip("systemd-analyze is not installed") }
        try assertSystemdVerifies(Self.read("systemd/prober.service"), tool: tool)
    }

    // MARK: Command lines

    /// The value of `--name value` or `--name=value`.
    static func option(_ name: String, in args: [String]) -> String? {
        for (i, arg) in args.enumerated() {
            if arg == name, i + 1 < args.count { return args[i + 1] }
            if arg.hasPrefix(name + "=") { return String(arg.dropFirst(name.count + 1)) }
        }
        return nil
    }

    /// The container's `CMD ["run", ...]` and `HEALTHCHECK ... CMD [...]` as argument lists.
    static func containerArrays() throws -> (cmd: [String], healthcheck: [String], expose: [String]) {
        // Join continuation lines so each instruction is one line.
        let text = try read("container/Containerfile").replacingOccurrences(of: "\\\n", with: " ")
        func array(after marker: String, in line: Substring) throws -> [String] {
            let start = try XCTUnwrap(line.range(of: marker)).upperBound
            let json = line[start...].drop { $0 == " " }
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String], String(json))
        }
        let lines = text.split(separator: "\n")
        let cmd = try array(after: "CMD", in: XCTUnwrap(lines.last { $0.hasPrefix("CMD ") }))
        let health = try array(after: " CMD", in: XCTUnwrap(lines.first { $0.hasPrefix("HEALTHCHECK ") }))
        let expose = lines.filter { $0.hasPrefix("EXPOSE ") }.flatMap { $0.split(separator: " ").dropFirst().map(String.init) }
        return (cmd, health, expose)
    }

    /// The prober container's `args:` in a Deployment manifest (a list of plain scalars).
    static func kubernetesArgs(_ manifest: String = "kubernetes/deployment.yaml") throws -> [String] {
        let lines = try read(manifest).split(separator: "\n", omittingEmptySubsequences: false)
        let start = try XCTUnwrap(lines.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "args:" })
        var args: [String] = []
        for line in lines[(start + 1)...] {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("#") { continue }
            guard t.hasPrefix("- ") else { break }
            args.append(String(t.dropFirst(2)))
        }
        return args
    }

    /// `prober run` with these arguments gets past argument parsing: with the probe directory swapped for an
    /// empty one, it stops at "no probe files" (exit 2), not at a usage error (exit 64).
    func assertAcceptedByProberRun(_ args: [String], _ origin: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let empty = dir.url.appendingPathComponent("empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let swapped = args.enumerated().map { i, arg -> String in
            if arg.hasPrefix("--probes=") { return "--probes=" + empty.path }
            if i > 0, args[i - 1] == "--probes" { return empty.path }
            return arg
        }
        XCTAssertNotEqual(swapped, args, "\(origin) names a probe directory", file: file, line: line)
        XCTAssertEqual(swapped.first, "run", origin, file: file, line: line)
        let result = try ProberBinary.run(swapped, environment: ["STATE_DIRECTORY": dir.path])
        XCTAssertEqual(result.status, 2, "\(origin): \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains("no probe files"), "\(origin): \(result.stderr)", file: file, line: line)
    }

    func testEveryCommandLineInTheExamplesIsAcceptedByProberRun() throws {
        let unit = Self.unitDirectives(try Self.read("systemd/prober.service"))
        let exec = try XCTUnwrap(unit["Service"]?["ExecStart"]?.last).split(separator: " ").map(String.init)
        try assertAcceptedByProberRun(Array(exec.dropFirst()), "ExecStart")
        try assertAcceptedByProberRun(Self.containerArrays().cmd, "Containerfile CMD")
        try assertAcceptedByProberRun(Self.kubernetesArgs(), "deployment.yaml args")
    }

    // MARK: A fleet (PostgreSQL)

    /// The drop-in's `ExecStart=` lines, the reset (empty) one included.
    static func fleetDropInExecStart() throws -> [String] {
        try XCTUnwrap(unitDirectives(read("systemd/fleet.conf"))["Service"]?["ExecStart"])
    }

    func testTheFleetDropInResetsExecStartAndPassesThePasswordAsACredential() throws {
        let service = try XCTUnwrap(Self.unitDirectives(Self.read("systemd/fleet.conf"))["Service"])
        let exec = try Self.fleetDropInExecStart()
        XCTAssertEqual(exec.first, "", "an empty ExecStart= resets the base unit's command before the new one")
        XCTAssertEqual(exec.count, 2)
        let args = exec[1].split(separator: " ").map(String.init)
        let db = try XCTUnwrap(Self.option("--db", in: args))
        XCTAssertTrue(db.hasPrefix("postgres://"), db)
        let userinfo = db.dropFirst("postgres://".count).split(separator: "@").first ?? ""
        XCTAssertFalse(db.contains("password") || userinfo.contains(":"), "no password in the URL: \(db)")
        XCTAssertNotNil(Self.option("--location", in: args), "each host names its location")
        let credential = try XCTUnwrap(service["LoadCredential"]?.last)
        XCTAssertEqual(service["Environment"], ["PROBER_DB_PASSWORD_FILE=%d/" + credential.split(separator: ":")[0]],
                       "PROBER_DB_PASSWORD_FILE names the credential systemd hands over")
    }

    func testSystemdAnalyzeVerifiesTheUnitWithTheFleetDropIn() throws {
        let tool = try XCTUnwrap(["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                 "systemd-analyze (make test-deps installs systemd)")
        // A drop-in's sections may follow the unit's in one file: verify reads them as systemd merges them.
        try assertSystemdVerifies(Self.read("systemd/prober.service") + "\n" + Self.read("systemd/fleet.conf"), tool: tool)
    }

    /// `$(VAR)` in a container's args, expanded as the kubelet does from the Deployment's env: here from the
    /// kustomization's `prober-site` literals.
    static func kubeletExpanded(_ args: [String]) throws -> [String] {
        let kustomization = try read("kubernetes/fleet/kustomization.yaml")
        var site: [String: String] = [:]
        for line in kustomization.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("- "), let eq = t.firstIndex(of: "=") else { continue }
            site[String(t[t.index(t.startIndex, offsetBy: 2)..<eq])] = String(t[t.index(after: eq)...])
        }
        let env = ["PROBER_DB_URL": try XCTUnwrap(site["database"]), "PROBER_LOCATION": try XCTUnwrap(site["location"])]
        return args.map { arg in env.reduce(arg) { $0.replacingOccurrences(of: "$(\($1.key))", with: $1.value) } }
    }

    func testEveryFleetCommandLineIsAcceptedByProberRun() throws {
        try assertAcceptedByProberRun(Array(Self.fleetDropInExecStart()[1].split(separator: " ").map(String.init).dropFirst()), "fleet.conf ExecStart")
        let args = try Self.kubeletExpanded(Self.kubernetesArgs("kubernetes/fleet/deployment.yaml"))
        XCTAssertFalse(args.contains { $0.contains("$(") }, "every $(VAR) has a value: \(args)")
        XCTAssertTrue(try XCTUnwrap(Self.option("--db", in: args)).hasPrefix("postgres://"))
        try assertAcceptedByProberRun(args, "fleet deployment.yaml args")
        let manifest = try Self.read("kubernetes/fleet/deployment.yaml")
        XCTAssertTrue(manifest.contains("name: PROBER_DB_PASSWORD_FILE") && manifest.contains("secretName: prober-db"),
                      "the password comes from a Secret mounted as a file")
        XCTAssertTrue(manifest.contains("replicas: 1") && manifest.contains("type: Recreate"), "one prober per location")
    }

    func testTheFleetProbeFilesPassProberCheckAsMounted() throws {
        let files = try Self.configMapFiles(Self.read("kubernetes/fleet/probes-configmap.yaml"))
        XCTAssertFalse(files.isEmpty)
        try assertPassesCheck(try writeConfigMapVolume(files), files: files.count)
    }

    func testPortsAgreeAcrossTheContainerAndKubernetesExamples() throws {
        let container = try Self.containerArrays()
        let listen = try XCTUnwrap(Self.option("--listen", in: container.cmd))
        let port = String(listen.split(separator: ":").last!)
        XCTAssertEqual(container.expose, [port])
        XCTAssertTrue(container.healthcheck.contains("http://127.0.0.1:\(port)/healthz"), "\(container.healthcheck)")

        let k8s = try Self.read("kubernetes/deployment.yaml")
        let k8sListen = try XCTUnwrap(Self.option("--listen", in: Self.kubernetesArgs()))
        XCTAssertEqual(String(k8sListen.split(separator: ":").last!), port)
        XCTAssertTrue(k8s.contains("containerPort: \(port)"), "the metrics port is declared")
        XCTAssertTrue(k8s.contains("prometheus.io/port: \"\(port)\""))
        XCTAssertTrue(k8s.contains("path: /healthz"), "the liveness probe uses /healthz")
        XCTAssertTrue(k8s.contains("mountPath: /etc/prober") && k8s.contains("readOnly: true"))
        XCTAssertTrue(k8s.contains("secretKeyRef:") && k8s.contains("name: ISDOWN_API_KEY"), "the key comes from a Secret")
    }

    // MARK: Probe files

    /// The `key: |` block scalars under `data:` in a ConfigMap manifest.
    static func configMapFiles(_ text: String) throws -> [String: String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try XCTUnwrap(lines.firstIndex(of: "data:"), "a top-level data: block")
        var files: [String: String] = [:]
        var i = start + 1
        func indent(_ s: String) -> Int { s.prefix { $0 == " " }.count }
        while i < lines.count {
            let line = lines[i]
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.trimmingCharacters(in: .whitespaces).hasPrefix("#") { i += 1; continue }
            guard indent(line) > 0 else { break } // the end of data:
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let key = try XCTUnwrap(trimmed.hasSuffix(": |") ? String(trimmed.dropLast(3)) : nil, "data entries are block scalars: \(line)")
            let keyIndent = indent(line)
            i += 1
            var body: [String] = []
            var blockIndent: Int?
            while i < lines.count, lines[i].trimmingCharacters(in: .whitespaces).isEmpty || indent(lines[i]) > keyIndent {
                let l = lines[i]
                if !l.trimmingCharacters(in: .whitespaces).isEmpty, blockIndent == nil { blockIndent = indent(l) }
                body.append(l)
                i += 1
            }
            let n = try XCTUnwrap(blockIndent, "\(key) is empty")
            files[key] = body.map { $0.count >= n ? String($0.dropFirst(n)) : "" }.joined(separator: "\n")
                .trimmingCharacters(in: .newlines) + "\n"
        }
        return files
    }

    /// Writes `files` the way the kubelet mounts a ConfigMap: `..<timestamp>/` holding the files, `..data`
    /// linking to it, and one link per key. prober must read each file once.
    func writeConfigMapVolume(_ files: [String: String]) throws -> String {
        let volume = dir.url.appendingPathComponent("configmap-volume")
        let stamped = volume.appendingPathComponent("..2026_11_27_07_00_00.000000001")
        try FileManager.default.createDirectory(at: stamped, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: stamped.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        try FileManager.default.createSymbolicLink(atPath: volume.appendingPathComponent("..data").path, withDestinationPath: stamped.lastPathComponent)
        for name in files.keys {
            try FileManager.default.createSymbolicLink(atPath: volume.appendingPathComponent(name).path, withDestinationPath: "..data/" + name)
        }
        return volume.path
    }

    func assertPassesCheck(_ path: String, files: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try ProberBinary.run(["check", "--json", path])
        XCTAssertEqual(result.status, 0, "\(path): \(result.stderr)", file: file, line: line)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout, file: file, line: line)
        XCTAssertEqual(json["files"] as? Int, files, "\(path): \(result.stdout)", file: file, line: line)
        XCTAssertGreaterThan(json["probes"] as? Int ?? 0, 0, path, file: file, line: line)
    }

    func testTheProbeFilesInTheKubernetesConfigMapPassProberCheckAsMounted() throws {
        let files = try Self.configMapFiles(Self.read("kubernetes/probes-configmap.yaml"))
        XCTAssertFalse(files.isEmpty)
        XCTAssertTrue(files.values.contains { $0.contains("http://127.0.0.1:") }, "the sidecar probes the app over localhost")
        let volume = try writeConfigMapVolume(files)
        try assertPassesCheck(volume, files: files.count)
        // Every probe the files define is loaded exactly once (the ..data copies are skipped).
        let json = try ProberBinary.run(["check", "--json", volume]).stdout
        let names = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["names"] as? [String])
        let declared = files.values.flatMap { $0.split(separator: "\n") }.filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("- name:") }
        XCTAssertEqual(names.count, declared.count, json)
    }

    func testEveryProbeFileUnderDeployPassesProberCheck() throws {
        var checked = 0
        let walker = try XCTUnwrap(FileManager.default.enumerator(atPath: Self.deploy.path))
        while let path = walker.nextObject() as? String {
            guard path.hasSuffix(".yaml") || path.hasSuffix(".yml") else { continue }
            let text = try Self.read(path)
            // Kubernetes manifests are not probe files (their embedded ones are checked above).
            if text.contains("\napiVersion:") || text.hasPrefix("apiVersion:") { continue }
            try assertPassesCheck(Self.deploy.appendingPathComponent(path).path, files: 1)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 0, "deploy/probes holds the example for systemd and the container")
    }

    // MARK: Container health check

    /// The container builds and runs what prober links: its build stage installs every C library `make deps`
    /// installs, and its runtime stage the package of every library the built binary names (its NEEDED entries),
    /// but for those debian:bookworm-slim already has and the Swift runtime (linked in by --static-swift-stdlib).
    func testTheContainerInstallsWhatProberLinks() throws {
        let text = try Self.read("container/Containerfile").replacingOccurrences(of: "\\\n", with: " ")
        let stages = text.components(separatedBy: "\nFROM ")
        XCTAssertEqual(stages.count, 3, "a build stage and a runtime stage")
        /// The packages a stage's `apt-get install` lines name.
        func installed(_ stage: String) -> Set<String> {
            var packages = Set<String>()
            for line in stage.split(separator: "\n") {
                guard let install = line.range(of: "apt-get install") else { continue }
                for word in line[install.upperBound...].split(separator: " ") {
                    if word == "&&" { break }
                    if !word.hasPrefix("-") { packages.insert(String(word)) }
                }
            }
            return packages
        }
        let build = installed(stages[1]), runtime = installed(stages.last ?? "")

        let makefile = try String(contentsOf: Self.root.appendingPathComponent("Makefile"), encoding: .utf8)
        let line = try XCTUnwrap(makefile.split(separator: "\n").first { $0.hasPrefix("SYSTEM_PACKAGES") })
        let system = Set(line.split(separator: "=", maxSplits: 1).last?.split(separator: " ").map(String.init) ?? [])
        XCTAssertFalse(system.isEmpty, String(line))
        XCTAssertEqual(system.subtracting(build), [], "the build stage lacks what `make deps` installs")

        let readelf = try XCTUnwrap(["/usr/bin/readelf", "/bin/readelf"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                    "readelf (make test-deps installs binutils)")
        let dynamic = try Program.output(readelf, ["-d", ProberBinary.url.path])
        let needed = dynamic.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { entry -> String? in
            guard let open = entry.firstIndex(of: "["), let close = entry.lastIndex(of: "]") else { return nil }
            return String(entry[entry.index(after: open)..<close])
        }
        XCTAssertTrue(needed.contains("libcurl.so.4"), dynamic)
        let swiftRuntime = ["libswift", "libFoundation", "lib_Foundation", "libdispatch", "libBlocksRuntime"]
        let inSlim: Set<String> = ["libc6", "libgcc-s1", "libstdc++6", "zlib1g"]
        var checked = 0
        for library in needed where !swiftRuntime.contains(where: { library.hasPrefix($0) }) {
            let owner = ["/usr/lib/x86_64-linux-gnu/", "/lib/x86_64-linux-gnu/", "/usr/lib/aarch64-linux-gnu/", "/lib/aarch64-linux-gnu/"]
                .lazy.compactMap { try? Program.output("/usr/bin/dpkg", ["-S", $0 + library]) }.first
                .map { String($0.prefix { $0 != ":" }) }
            let package = try XCTUnwrap(owner, "no package holds \(library)")
            XCTAssertTrue(inSlim.contains(package) || runtime.contains(package),
                          "prober needs \(library) (\(package)): the runtime stage installs \(runtime.sorted())")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 5, "\(needed)")
    }

    /// The executable carries jemalloc's options (`Sources/CJemallocOptions/options.c`): one arena, freed pages handed
    /// back after a second. At 60,000 probes jemalloc's defaults (eight arenas on 2 cores, 10 s) held the peak RSS
    /// past 160 MiB. jemalloc prints the options it runs with (`stats_print`) as the process exits; `MALLOC_CONF`
    /// adds to them and overrides what it names.
    func testTheBinaryRunsJemallocWithOneArenaAndFreedPagesHandedBackAfterASecond() throws {
        let result = try ProberBinary.run(["--version"], environment: ["MALLOC_CONF": "stats_print:true"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("opt.narenas: 1\n"), "jemalloc's options: \(result.stderr.prefix(3_000))")
        XCTAssertTrue(result.stderr.contains("opt.dirty_decay_ms: 1000 "), "jemalloc's options: \(result.stderr.prefix(3_000))")
        let overridden = try ProberBinary.run(["--version"], environment: ["MALLOC_CONF": "stats_print:true,narenas:3"])
        XCTAssertTrue(overridden.stderr.contains("opt.narenas: 3\n"), "MALLOC_CONF overrides: \(overridden.stderr.prefix(3_000))")
    }

    func testTheContainerHealthCheckPassesOnARunningProberAndFailsOnceItStops() throws {
        var health = try Self.containerArrays().healthcheck
        let tool = ["/usr/bin/" + health[0], "/bin/" + health[0]].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let tool else { throw XCTSkip("\(health[0]) is not installed here") }
        try dir.write("probes/p.yaml", "probes:\n  - name: closed\n    tcp: { host: 127.0.0.1, port: 1 }\n    interval: 200ms\n    timeout: 100ms\n")
        let daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", dir.path + "/prober.db", "--listen", "127.0.0.1:0"], logIn: dir.url)
        let port = try XCTUnwrap(daemon.listenPort(), daemon.stderr)
        health = health.map { $0.replacingOccurrences(of: "127.0.0.1:9464", with: "127.0.0.1:\(port)") }
        health[0] = tool

        func runHealthCheck() throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: health[0])
            process.arguments = Array(health.dropFirst())
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        XCTAssertEqual(try runHealthCheck(), 0, "healthy while running: \(health)")
        XCTAssertEqual(daemon.terminate(), 0, daemon.stderr)
        XCTAssertNotEqual(try runHealthCheck(), 0, "unhealthy once prober is gone")
    }
}
