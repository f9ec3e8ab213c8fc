// The HTTP import sink: batch upserts POSTed to a running cityroom (or any NGSI-LD broker) on
// one keep-alive connection, with blocking Beast calls (an import is a batch job on its own
// thread; nothing else waits for it).
#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <unordered_map>

#include "ingest/import.h"

namespace cityroom::ingest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using base::ErrorKind;

constexpr auto kRequestTimeout = std::chrono::seconds(120);  // a 1,000-entity batch
constexpr std::size_t kResponseBytesMax = 16 * 1024 * 1024;
constexpr std::string_view kUpsertPath = "/ngsi-ld/v1/entityOperations/upsert";

class HttpSink final : public ImportSink {
 public:
  HttpSink(std::string host, std::string port, std::string prefix, std::string api_key)
      : host_(std::move(host)),
        port_(std::move(port)),
        prefix_(std::move(prefix)),
        api_key_(std::move(api_key)) {}

  base::Result<SinkOutcome> upsert(const ImportMapping& m,
                                   std::vector<json::object> entities) override {
    SinkOutcome total;
    index_of_.clear();
    for (std::size_t i = 0; i < entities.size(); ++i) {
      index_of_.emplace(std::string(entities[i].at("id").get_string()), i);
    }
    // Cut the batch by body size: the server refuses bodies over its limit (1 MiB by default).
    std::string body = "[";
    for (std::size_t i = 0; i < entities.size(); ++i) {
      if (!m.context.is_null()) entities[i]["@context"] = m.context;
      auto text = json::serialize(entities[i]);
      if (body.size() > 1 && body.size() + text.size() + 2 > kImportBatchBytesMax) {
        body += ']';
        if (auto ok = post(m, body, total); !ok) return std::unexpected(ok.error());
        body = "[";
      }
      if (body.size() > 1) body += ',';
      body += text;
    }
    body += ']';
    if (auto ok = post(m, body, total); !ok) return std::unexpected(ok.error());
    return total;
  }

 private:
  base::Result<void> connect() {
    try {
      asio::ip::tcp::resolver resolver(io_);
      stream_.emplace(io_);
      stream_->expires_after(kRequestTimeout);
      stream_->connect(resolver.resolve(host_, port_));
      return {};
    } catch (const boost::system::system_error& e) {
      stream_.reset();
      return base::fail(ErrorKind::kServiceUnavailable,
                        fmt::format("cannot connect to {}:{}: {}", host_, port_,
                                    e.code().message()));
    } catch (const std::exception& e) {
      stream_.reset();
      return base::fail(ErrorKind::kServiceUnavailable,
                        fmt::format("cannot connect to {}:{}: {}", host_, port_, e.what()));
    }
  }

  base::Result<bhttp::response<bhttp::string_body>> exchange(const ImportMapping& m,
                                                             const std::string& body) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::post,
                                           prefix_ + std::string(kUpsertPath) +
                                               (m.upsert == UpsertMode::kUpdate
                                                    ? "?options=update"
                                                    : ""),
                                           11};
    req.set(bhttp::field::host, host_);
    req.set(bhttp::field::content_type,
            m.context.is_null() ? "application/json" : "application/ld+json");
    req.set(bhttp::field::accept, "application/json");
    if (!m.tenant.empty()) req.set("NGSILD-Tenant", m.tenant);
    if (!api_key_.empty()) req.set(bhttp::field::authorization, "Bearer " + api_key_);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    stream_->expires_after(kRequestTimeout);
    bhttp::write(*stream_, req);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(kResponseBytesMax);
    bhttp::read(*stream_, buffer, parser);
    return parser.release();
  }

  base::Result<void> post(const ImportMapping& m, const std::string& body, SinkOutcome& total) {
    std::optional<bhttp::response<bhttp::string_body>> res;
    // One retry on a fresh connection: the server may have closed an idle keep-alive one.
    for (int attempt = 0; attempt < 2 && !res; ++attempt) {
      if (!stream_) {
        if (auto ok = connect(); !ok) return ok;
      }
      try {
        auto r = exchange(m, body);
        if (r) res = std::move(*r);
      } catch (const boost::system::system_error& e) {
        stream_.reset();
        if (attempt == 1) {
          return base::fail(ErrorKind::kServiceUnavailable,
                            fmt::format("POST {} to {}:{} failed: {}", kUpsertPath, host_, port_,
                                        e.code().message()));
        }
      }
    }
    if (!res->keep_alive()) stream_.reset();
    return read_outcome(*res, total);
  }

  base::Result<void> read_outcome(const bhttp::response<bhttp::string_body>& res,
                                  SinkOutcome& total) const {
    const auto status = res.result_int();
    if (status == 204) return {};
    auto doc = json::parse(res.body());
    if (status == 201 && doc && doc->is_array()) {
      total.created += doc->get_array().size();
      return {};
    }
    if (status == 207 && doc && doc->is_object()) {
      const auto* errors = doc->get_object().if_contains("errors");
      if (errors && errors->is_array()) {
        for (const auto& e : errors->get_array()) {
          std::string detail = json::serialize(e);
          std::size_t index = 0;
          if (const auto* o = e.if_object()) {
            if (const auto* id = o->if_contains("entityId"); id && id->is_string()) {
              if (const auto it = index_of_.find(std::string(id->get_string()));
                  it != index_of_.end()) {
                index = it->second;
              }
            }
            if (const auto* err = o->if_contains("error"); err && err->is_object()) {
              if (const auto* d = err->get_object().if_contains("detail"); d && d->is_string()) {
                detail = d->get_string();
              }
            }
          }
          total.failures.push_back({index, detail});
        }
        return {};
      }
    }
    return base::fail(ErrorKind::kServiceUnavailable,
                      fmt::format("the server answered {} to the batch upsert: {}", status,
                                  res.body().substr(0, 500)));
  }

  asio::io_context io_;
  std::optional<beast::tcp_stream> stream_;
  std::string host_, port_, prefix_;
  std::string api_key_;  // never logged
  std::unordered_map<std::string, std::size_t> index_of_;  // ids of the current upsert call
};

}  // namespace

base::Result<std::unique_ptr<ImportSink>> make_http_sink(std::string_view url,
                                                         std::string api_key) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("--url '{}' must start with http:// (e.g. "
                                  "http://127.0.0.1:8080)",
                                  url));
  }
  auto rest = url.substr(kScheme.size());
  const auto slash = std::min(rest.find('/'), rest.size());
  std::string prefix(rest.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const auto authority = rest.substr(0, slash);
  std::string host(authority), port = "80";
  if (const auto colon = authority.rfind(':');
      colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || port.empty()) {
    return base::fail(ErrorKind::kInvalidRequest, fmt::format("--url '{}' has no host", url));
  }
  return std::unique_ptr<ImportSink>(
      std::make_unique<HttpSink>(host, port, prefix, std::move(api_key)));
}

}  // namespace cityroom::ingest
