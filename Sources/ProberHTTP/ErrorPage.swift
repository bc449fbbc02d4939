/// The body of an error answer in the form the client reads: HTML for a browser (its `Accept` names
/// `text/html`), plain text otherwise. The message is escaped for HTML. (The API's JSON errors are set by
/// whoever composes the router, through `Router.errorPage`: this module encodes no JSON.)
public enum ErrorPage {
    public static func response(_ status: Int, _ message: String, for request: ListenerRequest) -> ListenerResponse {
        if request.header("Accept")?.contains("text/html") == true {
            let title = "\(status) \(ListenerResponse.reason(status))"
            let html = """
                <!doctype html>
                <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
                <title>\(title)</title></head>
                <body><h1>\(title)</h1><p>\(HTMLEscaping.escape(message))</p><p><a href="/">prober</a></p></body></html>

                """
            return ListenerResponse(status: status, contentType: "text/html; charset=utf-8", body: html)
        }
        return ListenerResponse(status: status, body: message + "\n")
    }
}
