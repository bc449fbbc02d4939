import Foundation
import Logging
import ProberTestSupport
import XCTest
import ProberCore
@testable import ProberEngine

private struct FakeConfigErrors: Error, CustomStringConvertible {
    var description: String {
        "probes/api.yaml:4:12: interval: expected a duration such as 30s, got \"fast\"\nprobes/web.yaml:9:3: unknown key \"expct\""
    }
}

final class ProbeRunLoopTests: XCTestCase {
    func testLogsTheStartLineAndEachHealthChangeButNeverASuccessfulCheck() {
        let failure = Failure(.httpStatus, "expected 200, got 503")
        // "flaky" fails its checks 1-3, then recovers; "steady" always passes.
        let runner = ScriptedRunner { spec, n in spec.name == "flaky" && (1...3).contains(n) ? .fail(failure) : .succeed }
        let sink = CollectingSink()
        let (logger, logs) = CapturingLogHandler.logger()
        let set = ProbeSet(probes: [httpProbe("flaky"), httpProbe("steady")], files: ["probes/a.yaml", "probes/b.yaml"])
        let watchdog = ProbeRunLoop(probes: set, runner: runner, sink: sink, logger: logger,
                                configuration: .init(database: "/tmp/x.db"))
        watchdog.start()
        XCTAssertTrue(waitUntil { (watchdog.stats.probes["flaky"]?.finished ?? 0) >= 6 }, "timed out waiting for flaky to fail and recover")
        watchdog.shutdown()

        XCTAssertEqual(sink.count, watchdog.stats.finished, "every sample reaches the sink")
        let messages = logs.current.map(\.message)
        XCTAssertEqual(messages.first, "prober started: 2 probes from 2 files, database /tmp/x.db")
        XCTAssertEqual(logs.current.first?.metadata["files"], "probes/a.yaml, probes/b.yaml")
        let about = logs.current.filter { $0.metadata["probe.name"] == "flaky" }
        XCTAssertEqual(about.map(\.message), [
            "probe flaky failing: http_status: expected 200, got 503",
            "probe flaky healthy again after 3 failed checks over 0 s",
        ])
        XCTAssertEqual(about.map(\.level), [.warning, .notice])
        XCTAssertEqual(about.first?.metadata["failure.reason"], "http_status")
        XCTAssertTrue(logs.current.filter { $0.metadata["probe.name"] == "steady" }.isEmpty, "\(messages)")
        XCTAssertEqual(messages.last, "stopped")
        XCTAssertEqual(watchdog.states["flaky"], .healthy)
    }

    func testAnInvalidReloadKeepsTheOldSetRunningAndLogsEachDiagnostic() {
        let runner = ScriptedRunner()
        let (logger, logs) = CapturingLogHandler.logger()
        let watchdog = ProbeRunLoop(probes: [httpProbe("api")], runner: runner, sink: CollectingSink(), logger: logger)
        watchdog.start()
        XCTAssertTrue(waitUntil { runner.starts("api").count >= 2 }, "timed out waiting for api to run")

        XCTAssertFalse(watchdog.reload(loading: { throw FakeConfigErrors() }))
        let runsAfterFailedReload = runner.starts("api").count
        XCTAssertTrue(waitUntil { runner.starts("api").count >= runsAfterFailedReload + 3 }, "timed out waiting for api to keep running")
        let errors = logs.current.filter { $0.level == .error }.map(\.message)
        XCTAssertEqual(errors, [
            "reload failed: keeping the current 1 probe",
            "probes/api.yaml:4:12: interval: expected a duration such as 30s, got \"fast\"",
            "probes/web.yaml:9:3: unknown key \"expct\"",
        ])

        // A good reload applies: the new probe starts, the old one keeps going.
        XCTAssertTrue(watchdog.reload { ProbeSet(probes: [httpProbe("api"), httpProbe("web")], files: ["probes/api.yaml"]) })
        XCTAssertTrue(waitUntil { runner.starts("web").count >= 2 }, "timed out waiting for web to run")
        XCTAssertTrue(logs.current.contains { $0.message == "reloaded: 2 probes; added web" })
        // The bare-specs form: remove web again.
        XCTAssertTrue(watchdog.reload(loadingProbes: { [httpProbe("api")] }))
        XCTAssertTrue(logs.current.contains { $0.message == "reloaded: 1 probe; removed web" })
        XCTAssertTrue(watchdog.scheduler.isLive())
        watchdog.shutdown()
        XCTAssertFalse(watchdog.scheduler.isLive(), "a stopped scheduler is not live")
    }

    func testSkippedTicksWarnOncePerPeriodPerProbe() {
        let runner = ScriptedRunner { spec, _ in spec.name == "stuck" ? .never : .succeed }
        let (logger, logs) = CapturingLogHandler.logger()
        let watchdog = ProbeRunLoop(probes: [httpProbe("stuck")], runner: runner, sink: CollectingSink(), logger: logger,
                                configuration: .init(scheduler: .init(drainGrace: .milliseconds(50))))
        watchdog.start()
        XCTAssertTrue(waitUntil { (watchdog.stats.probes["stuck"]?.skippedOverlap ?? 0) >= 5 }, "timed out waiting for five skipped ticks")
        watchdog.shutdown()
        let warnings = logs.current.filter { $0.metadata["skip.reason"] != nil }
        XCTAssertEqual(warnings.map(\.message), [
            "probe stuck: skipped 1 tick because its previous check was still running (interval 100ms, timeout 50ms)",
        ])
        XCTAssertTrue(logs.current.contains { $0.message.hasPrefix("stopped with 1 check still unfinished") })
    }
}
