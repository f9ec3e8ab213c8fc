// Internal: rendering a Response's status line and header block.
#pragma once

#include <string>
#include <string_view>

#include "http/http.h"

namespace cityroom::http::detail {

struct HeadOptions {
  bool keep_alive = true;
  bool http10 = false;     // an HTTP/1.0 client needs "Connection: keep-alive" to keep it
  std::string_view date;   // IMF-fixdate
};

// 1xx, 204 and 304 answers carry no body (RFC 9110 6.4.1).
bool status_has_body(int status);

// Appends "HTTP/1.1 ... \r\n\r\n" for `response` to `out`. Content-Length is the body's
// size; a missing content-type on a non-empty body defaults to application/json; header
// lines from the handler that would break framing (CR/LF, or their own Content-Length,
// Transfer-Encoding, Connection) are dropped. Returns false when the handler asked for
// "connection: close".
bool format_head(std::string& out, const Response& response, const HeadOptions& options);

// Appends the head of a Server-Sent Events response: 200, text/event-stream, no-cache,
// x-accel-buffering: no (so nginx does not hold events back), no Content-Length: the stream
// ends with the connection. Handler headers are added under format_head's rules, minus the
// ones set here.
void format_event_stream_head(std::string& out, const Headers& headers, std::string_view date);

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::string format_http_date(std::time_t t);

}  // namespace cityroom::http::detail
