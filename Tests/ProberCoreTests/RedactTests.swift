import ProberCore
import Testing

/// Issue 13, items 6 and 8: values from the environment are shown as `${NAME}`, however short, and
/// `displayTarget` hides them in the host and path, not only in credentials and the query.
@Suite struct RedactTests {
    let token = Secret(name: "TOKEN", value: "abc123xyz")

    @Test func valuesAreReplacedByTheirNames() {
        #expect(Redact.text("got abc123xyz twice: abc123xyz", hiding: [token]) == "got ${TOKEN} twice: ${TOKEN}")
        #expect(Redact.text("pin is 42", hiding: [Secret(name: "PIN", value: "42")]) == "pin is ${PIN}")
        #expect(Redact.text("a b", hiding: [Secret(name: "E", value: "")]) == "a b")
        // Percent-encoded, as libcurl shows URLs, and cut by an excerpt.
        #expect(Redact.text("/x/a%20b", hiding: [Secret(name: "P", value: "a b")]) == "/x/${P}")
        #expect(Redact.text("got \"abc12…\"", hiding: [token]) == "got \"${TOKEN}…\"")
        // A value holding another is replaced whole.
        let outer = Secret(name: "LONG", value: "abc123xyz-more")
        #expect(Redact.text("abc123xyz-more", hiding: [token, outer]) == "${LONG}")
        #expect("\(token)" == "${TOKEN}")
        // As an excerpt escapes what a target sent: a value with a tab or a non-ASCII letter.
        #expect(Redact.text("got \"pa\\tss\\xc3\\xa9\"", hiding: [Secret(name: "PW", value: "pa\tssé")]) == "got \"${PW}\"")
    }

    @Test func samplesHideSecretsInTheFailureAndAnAddressThatIsOne() {
        let sample = Sample(probe: "a", startedAt: 0, failure: Failure(.dns, "Could not resolve host: abc123xyz"),
                            remoteAddress: "10.0.0.5")
        let hidden = sample.hiding([token, Secret(name: "ADDR", value: "10.0.0.5")])
        #expect(hidden.failure == Failure(.dns, "Could not resolve host: ${TOKEN}"))
        #expect(hidden.remoteAddress == "${ADDR}")
        #expect(sample.hiding([Secret(name: "ONE", value: "1")]).remoteAddress == "10.0.0.5")
    }

    @Test func displayTargetShowsNamesInHostAndPath() {
        var spec = ProbeSpec(name: "a", target: .http(HTTPTarget(url: "https://h0st.example/v1/abc123xyz/x?k=1")))
        #expect(spec.displayTarget == "https://h0st.example/v1/abc123xyz/x")
        spec.secrets = [token, Secret(name: "HOST", value: "h0st.example")]
        #expect(spec.displayTarget == "https://${HOST}/v1/${TOKEN}/x")
        var tcp = ProbeSpec(name: "t", target: .tcp(TCPTarget(host: "db.secret", port: 5432)))
        tcp.secrets = [Secret(name: "DB", value: "db.secret")]
        #expect(tcp.displayTarget == "${DB}:5432")
    }

    @Test func settingsThatWeakenSecurityAreNamed() {
        var http = HTTPTarget(url: "https://a.example/")
        #expect(ProbeSpec(name: "a", target: .http(http)).securityWarnings.isEmpty)
        http.tls.insecure = true
        http.proxy = "http://user:pw@proxy.internal:3128"
        let warnings = ProbeSpec(name: "a", target: .http(http)).securityWarnings
        #expect(warnings.count == 2)
        #expect(warnings[0].contains("tls.insecure"))
        #expect(warnings[1].contains("proxy http://proxy.internal:3128") && !warnings[1].contains("pw"))
    }
}
