// Response head rendering, by hand: one string reused per connection and written together
// with the body in one gathered write.
#include "http/wire.h"

#include <ctime>

#include <boost/beast/http/status.hpp>

namespace cityroom::http::detail {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool safe_header_text(std::string_view s) {
  return s.find_first_of("\r\n") == std::string_view::npos;
}

std::string_view reason(int status) {
  namespace bh = boost::beast::http;
  const auto known = bh::int_to_status(static_cast<unsigned>(status));
  if (known == bh::status::unknown) return "Unknown";
  return bh::obsolete_reason(known);
}

void append_number(std::string& out, std::size_t n) {
  char digits[24];
  std::size_t i = sizeof digits;
  do {
    digits[--i] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  out.append(digits + i, sizeof digits - i);
}

}  // namespace

bool status_has_body(int status) {
  return !(status < 200 || status == 204 || status == 304);
}

bool format_head(std::string& out, const Response& response, const HeadOptions& options) {
  bool keep_alive = options.keep_alive;
  bool has_content_type = false;
  out += "HTTP/1.1 ";
  append_number(out, static_cast<std::size_t>(response.status));
  out += ' ';
  out += reason(response.status);
  out += "\r\nServer: cityroom\r\nDate: ";
  out += options.date;
  out += "\r\n";
  for (const auto& [name, value] : response.headers) {
    if (name.empty() || !safe_header_text(name) || !safe_header_text(value)) continue;
    if (iequals(name, "content-length") || iequals(name, "transfer-encoding")) continue;
    if (iequals(name, "connection")) {
      if (iequals(value, "close")) keep_alive = false;
      continue;
    }
    if (iequals(name, "content-type")) has_content_type = true;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!has_content_type && !response.body.empty() && status_has_body(response.status)) {
    out += "Content-Type: application/json\r\n";
  }
  if (status_has_body(response.status)) {
    out += "Content-Length: ";
    append_number(out, response.body.size());
    out += "\r\n";
  }
  if (!keep_alive) {
    out += "Connection: close\r\n";
  } else if (options.http10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  return keep_alive;
}

void format_event_stream_head(std::string& out, const Headers& headers, std::string_view date) {
  out += "HTTP/1.1 200 OK\r\nServer: cityroom\r\nDate: ";
  out += date;
  out += "\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
         "X-Accel-Buffering: no\r\n";
  for (const auto& [name, value] : headers) {
    if (name.empty() || !safe_header_text(name) || !safe_header_text(value)) continue;
    if (iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
        iequals(name, "connection") || iequals(name, "content-type") ||
        iequals(name, "cache-control") || iequals(name, "x-accel-buffering")) {
      continue;
    }
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
}

std::string format_http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[40];
  const std::size_t n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(text, n);
}

}  // namespace cityroom::http::detail
