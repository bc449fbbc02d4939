import ProberWeb
import Testing

/// The HTML builder: text is escaped wherever it is interpolated, markup only where it is written.
@Suite struct HTMLTests {
    static let hostile = #"<script>alert("x")</script> & 'quotes' "double" é 名前 \u{0}"#

    @Test func interpolatedTextIsEscapedInContentAndAttributes() {
        let value = Self.hostile
        let html: HTML = "<p title=\"\(value)\" data-x='\(value)'>\(value)</p>"
        #expect(!html.markup.contains("<script>"))
        #expect(!html.markup.contains("\"double\""))
        #expect(!html.markup.contains("'quotes'"))
        #expect(html.markup.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;"))
        #expect(html.markup.contains("é 名前"), "non-ASCII text is kept as it is (the page is UTF-8)")
        #expect(!html.markup.contains("\u{0}"))
        // The only quotes and angle brackets left are the markup's own.
        #expect(html.markup.filter { $0 == "<" }.count == 2)
        #expect(html.markup.filter { $0 == "\"" }.count == 2)
        #expect(html.markup.filter { $0 == "'" }.count == 2)
    }

    @Test func markupIsExplicit() {
        let inner: HTML = "<b>\("<i>")</b>"
        let outer: HTML = "<p>\(inner)\([inner, HTML.text("<u>")])</p>"
        #expect(outer.markup == "<p><b>&lt;i&gt;</b><b>&lt;i&gt;</b>&lt;u&gt;</p>")
        #expect(HTML(trusted: "<br>").markup == "<br>")
        let missing: String? = nil
        #expect(("<p>\(missing)</p>" as HTML).markup == "<p></p>")
    }

    @Test func numbersHaveNoLocaleOrExponent() {
        #expect(HTML.number(12) == "12")
        #expect(HTML.number(12.25, digits: 1) == "12.3" || HTML.number(12.25, digits: 1) == "12.2")
        #expect(HTML.number(-0.04) == "0")
        #expect(HTML.number(-3.5) == "-3.5")
        #expect(HTML.number(1e12) == "1000000000000")
        #expect(HTML.number(.nan) == "0")
        #expect(HTML.number(.infinity) == "0")
        #expect(HTML.number(0.05, digits: 2) == "0.05")
        #expect(("<x a=\"\(2.0 / 3.0)\">" as HTML).markup == "<x a=\"0.7\">")
    }

    @Test func urlComponentsCannotEndAPathOrCarryAScheme() {
        #expect(URLText.component("a/b?c#d e") == "a%2Fb%3Fc%23d%20e")
        #expect(URLText.component("javascript:alert(1)") == "javascript%3Aalert%281%29")
        #expect(URLText.component("é") == "%C3%A9")
        #expect(URLText.decode("a%2Fb%20c") == "a/b c")
        #expect(URLText.decode("%zz") == nil)
        #expect(URLText.decode("%FF") == nil, "not UTF-8")
        #expect(URLText.query("name=a+b&state=failing&name=second&x=%3Cs%3E") == ["name": "a b", "state": "failing", "x": "<s>"])
        #expect(URLText.queryString([("name", "a b"), ("state", ""), ("page", "2")]) == "?name=a%20b&page=2")
        #expect(URLText.queryString([("name", "")]) == "")
    }
}
