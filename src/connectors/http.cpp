// A blocking HTTP(S) GET with one deadline, for connector pulls (each runs on the connectors
// thread; nothing else waits for it).
#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "connectors/connectors.h"

namespace cityroom::connectors {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using base::ErrorKind;

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

base::Result<Url> parse_url(std::string_view url) {
  Url u;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    return base::fail(ErrorKind::kBadRequestData, "the URL must start with http:// or https://");
  }
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.empty()) return base::fail(ErrorKind::kBadRequestData, "the URL has no host");
  return u;
}

template <class Stream>
HttpAnswer exchange(Stream& stream, const Url& u) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, u.target, 11};
  req.set(bhttp::field::host, u.host);
  req.set(bhttp::field::accept, "application/json");
  req.set(bhttp::field::user_agent, "cityroom-connector");
  bhttp::write(stream, req);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kResponseBytesMax);
  bhttp::read(stream, buffer, parser);
  auto res = parser.release();
  return {static_cast<int>(res.result_int()), std::move(res.body())};
}

}  // namespace

base::Result<HttpAnswer> http_get(std::string_view url, std::chrono::milliseconds timeout) {
  auto u = parse_url(url);
  if (!u) return std::unexpected(u.error());
  asio::io_context io;
  const auto where = fmt::format("{}:{}", u->host, u->port);
  try {
    asio::ip::tcp::resolver resolver(io);
    const auto endpoints = resolver.resolve(u->host, u->port);
    if (!u->tls) {
      beast::tcp_stream stream(io);
      stream.expires_after(timeout);
      stream.connect(endpoints);
      return exchange(stream, *u);
    }
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_default_verify_paths();
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    SSL_set_tlsext_host_name(stream.native_handle(), u->host.c_str());
    stream.set_verify_callback(asio::ssl::host_name_verification(u->host));
    beast::get_lowest_layer(stream).expires_after(timeout);
    beast::get_lowest_layer(stream).connect(endpoints);
    stream.handshake(asio::ssl::stream_base::client);
    return exchange(stream, *u);
  } catch (const boost::system::system_error& e) {
    const auto reason = e.code() == beast::error::timeout
                            ? fmt::format("timeout after {} ms", timeout.count())
                            : e.code().message();
    return base::fail(ErrorKind::kServiceUnavailable, fmt::format("{}: {}", where, reason));
  } catch (const std::exception& e) {
    return base::fail(ErrorKind::kServiceUnavailable, fmt::format("{}: {}", where, e.what()));
  }
}

}  // namespace cityroom::connectors
