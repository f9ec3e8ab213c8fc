// A blocking HTTP(S) GET with one deadline (asynchronous inside, see http_get), for connector pulls (each runs on the connectors
// thread; nothing else waits for it).
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
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
asio::awaitable<HttpAnswer> exchange(Stream& stream, const Url& u) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, u.target, 11};
  req.set(bhttp::field::host, u.host);
  req.set(bhttp::field::accept, "application/json");
  req.set(bhttp::field::user_agent, "cityroom-connector");
  co_await bhttp::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kResponseBytesMax);
  co_await bhttp::async_read(stream, buffer, parser, asio::use_awaitable);
  auto res = parser.release();
  co_return HttpAnswer{static_cast<int>(res.result_int()), std::move(res.body())};
}

asio::awaitable<HttpAnswer> get(asio::io_context& io, Url u) {
  asio::ip::tcp::resolver resolver(io);
  const auto endpoints = co_await resolver.async_resolve(u.host, u.port, asio::use_awaitable);
  if (!u.tls) {
    beast::tcp_stream stream(io);
    co_await stream.async_connect(endpoints, asio::use_awaitable);
    co_return co_await exchange(stream, u);
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_default_verify_paths();
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str());
  stream.set_verify_callback(asio::ssl::host_name_verification(u.host));
  co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  co_return co_await exchange(stream, u);
}

}  // namespace

// Asynchronous operations on a private io_context run for at most `timeout`: Beast's stream
// timeouts apply to asynchronous calls only, and the deadline must cover resolving too.
base::Result<HttpAnswer> http_get(std::string_view url, std::chrono::milliseconds timeout) {
  auto u = parse_url(url);
  if (!u) return std::unexpected(u.error());
  const auto where = fmt::format("{}:{}", u->host, u->port);
  asio::io_context io;
  auto result = asio::co_spawn(io, get(io, *u), asio::use_future);
  io.run_for(timeout);
  if (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    io.stop();
    return base::fail(ErrorKind::kServiceUnavailable,
                      fmt::format("{}: timeout after {} ms", where, timeout.count()));
  }
  try {
    return result.get();
  } catch (const boost::system::system_error& e) {
    return base::fail(ErrorKind::kServiceUnavailable, fmt::format("{}: {}", where, e.code().message()));
  } catch (const std::exception& e) {
    return base::fail(ErrorKind::kServiceUnavailable, fmt::format("{}: {}", where, e.what()));
  }
}

}  // namespace cityroom::connectors
