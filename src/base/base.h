// base: the vocabulary every cityroom module shares.
//
// Errors are values: `Result<T>` is `std::expected<T, Error>`, and an `Error` carries the
// NGSI-LD ProblemDetails kind (which fixes the HTTP status and the `type` URI) plus a human
// `detail` that tells the client exactly what was wrong. Time is UTC, kept as microseconds
// since the Unix epoch, rendered as ISO 8601 with a `Z`. Nothing here has mutable global state;
// every function is thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace cityroom::base {

// The ProblemDetails kinds of NGSI-LD (ETSI GS CIM 009 5.5.2) plus the HTTP-level ones the
// server itself raises. Each maps to one HTTP status and one `type` URI.
enum class ErrorKind {
  kInvalidRequest,         // 400, malformed request (bad JSON, bad parameter syntax)
  kBadRequestData,         // 400, well-formed but semantically wrong content
  kAlreadyExists,          // 409
  kOperationNotSupported,  // 422
  kResourceNotFound,       // 404
  kInternalError,          // 500
  kTooComplexQuery,        // 403
  kTooManyResults,         // 403
  kLdContextNotAvailable,  // 503
  kNonexistentTenant,      // 404
  kNotAcceptable,          // 406
  kUnsupportedMediaType,   // 415
  kLengthRequired,         // 411
  kPayloadTooLarge,        // 413
  kHeaderTooLarge,         // 431
  kServiceUnavailable,     // 503
  kMethodNotAllowed,       // 405
  kRequestTimeout,         // 408
};

struct Error {
  ErrorKind kind = ErrorKind::kInternalError;
  std::string detail;
};

template <class T>
using Result = std::expected<T, Error>;

// Shorthand for `return base::fail(kind, "...")` inside functions returning Result<T>.
inline std::unexpected<Error> fail(ErrorKind kind, std::string detail) {
  return std::unexpected(Error{kind, std::move(detail)});
}

int http_status(ErrorKind kind);
// e.g. "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
std::string_view problem_type(ErrorKind kind);
// e.g. "Bad request data"
std::string_view problem_title(ErrorKind kind);
// RFC 7807 body: {"type":..., "title":..., "status":..., "detail":...}
std::string problem_json(const Error& error);

// ---- time -------------------------------------------------------------------------------
using Micros = std::int64_t;  // microseconds since 1970-01-01T00:00:00Z

Micros now_micros();
// Parses ISO 8601 date-times as NGSI-LD uses them: `2024-01-02T03:04:05Z`,
// fractional seconds up to 9 digits, `+09:00` offsets, and a missing zone taken as UTC.
// With `date_only_ok`, `2024-01-02` is accepted as midnight UTC.
std::optional<Micros> parse_iso8601(std::string_view text, bool date_only_ok = false);
// Renders with millisecond precision like Orion-LD/Stellio: `2024-01-02T03:04:05.123Z`.
std::string format_iso8601(Micros t);

// ---- ids --------------------------------------------------------------------------------
// `bytes` random bytes from the OS as lower-case hex, for generated ids
// (urn:ngsi-ld:Subscription:<hex>, notification ids).
std::string random_hex(std::size_t bytes);

// ---- text --------------------------------------------------------------------------------
bool is_valid_utf8(std::string_view text);
// An NGSI-LD id/IRI: an absolute URI with a scheme (RFC 3986 `scheme:` then no whitespace or
// forbidden characters).
bool is_uri(std::string_view text);

}  // namespace cityroom::base
