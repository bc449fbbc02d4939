import ProberCore
import ProberDelivery
import ProberProbes

/// The libcurl engine runs the scheduler's checks, each at its due time...
extension CurlEngine: SchedulingCheckRunner {}

extension CurlEngine {
    /// ...and the outbox's calls, on the same multi loop.
    public func deliver(_ request: DeliveryRequest, completion: @escaping @Sendable (DeliveryResponse) -> Void) {
        send(HTTPRequest(url: request.url, method: request.method, headers: request.headers, body: request.body,
                         timeout: request.timeout)) { response in
            completion(DeliveryResponse(status: response.status, body: response.body,
                                        retryAfter: response.header("Retry-After"), error: response.error,
                                        requestSent: response.requestSent))
        }
    }
}
