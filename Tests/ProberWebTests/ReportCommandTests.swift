import Foundation
import ProberCore
import ProberTestSupport
import Testing

/// `prober report` through the built binary: one self-contained file with every chosen probe's charts and the
/// incidents of the range.
@Suite struct ReportCommandTests {
    @Test func writesOneSelfContainedFileWithTheChartsAndIncidents() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        _ = try PageTests().makeStore(probes: 3, dir: dir, now: now)
        let out = dir.path + "/report.html"
        let run = try ProberBinary.run(["report", "--db", dir.path + "/prober.db", "--since", "2h", "--out", out])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("wrote \(out)"))
        let html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(html.components(separatedBy: "data-chart=\"latency\"").count - 1 == 3, "one latency chart per probe")
        #expect(html.components(separatedBy: "data-chart=\"reasons\"").count - 1 == 3)
        #expect(html.contains("<section class=\"incident\" id=\"incident-1\">"))
        #expect(html.contains("latest: looks better &lt;script&gt;alert(&quot;t&quot;)"))
        // Self-contained: style inline, no script, nothing loaded from anywhere.
        #expect(!html.contains("<script"))
        #expect(!html.contains("src="))
        #expect(!html.contains("href=\"http"))
        #expect(!html.contains("href=\"/"), "no link to the daemon's pages")
        #expect(html.contains("<style>"))
        #expect(!html.contains("s3cr3t") && !html.contains("pa55word"))

        let one = try ProberBinary.run(["report", "probe-0002", "--db", dir.path + "/prober.db", "--since", "2h", "--out", out])
        #expect(one.status == 0, "\(one.stderr)")
        let only = try String(contentsOfFile: out, encoding: .utf8)
        #expect(only.components(separatedBy: "data-chart=\"latency\"").count - 1 == 1)
        #expect(only.contains("id=\"probe-probe-0002\""))

        let unknown = try ProberBinary.run(["report", "probe-02", "--db", dir.path + "/prober.db", "--out", out])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no probe named 'probe-02'"))
        let bad = try ProberBinary.run(["report", "--since", "soon", "--db", dir.path + "/prober.db", "--out", out])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--since 'soon'"))
    }
}
